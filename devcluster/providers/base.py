"""The provider interface: how a cluster comes to exist, is reached and goes away."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from devcluster.clients.access import ClusterAccess
from devcluster.config import Config
from devcluster.engine.steps import Context, Step
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError
from devcluster.local.state import State


@dataclass(frozen=True)
class Tool:
    """A command a provider needs, how to ask its version, and how to get it."""

    name: str
    version_args: tuple[str, ...]
    fix: str


# Every provider installs charts and talks to the API the same way.
HELM_TOOL = Tool("helm", ("version", "--short"),
                 "bash scripts/install-tools.sh (pinned helm v3.17.3), or https://helm.sh/docs/intro/install/")
KUBECTL_TOOL = Tool("kubectl", ("version", "--client"),
                    "bash scripts/install-tools.sh (pinned kubectl v1.30.14), or https://kubernetes.io/docs/tasks/tools/")


@dataclass
class Finding:
    """One line of `devcluster doctor`: what was checked, whether it is fine, and the fix."""

    what: str
    ok: bool
    detail: str
    fix: str = ""
    # "warn": works, but outside what is tested or supported; doctor still exits 0.
    warning: bool = False

    @property
    def level(self) -> Literal["ok", "warn", "fail"]:
        if not self.ok:
            return "fail"
        return "warn" if self.warning else "ok"


@dataclass(frozen=True)
class NodeAccess:
    """How the testinfra node checks reach the nodes: a testinfra backend and its extra pytest arguments."""

    backend: str
    extra_args: tuple[str, ...] = ()
    # The VMs' host-only interface: only Vagrant nodes have one.
    check_eth1: bool = False


class Provider(ABC):
    """Everything the rest of devcluster needs from a cluster's provider; nobody asks which one it is."""

    name: str = ""

    def __init__(self, cfg: Config, state: State) -> None:
        self.cfg = cfg
        self.state = state

    # -- making and removing the cluster

    @abstractmethod
    def cluster_steps(self) -> list[Step]:
        """Steps that make the cluster exist and reachable, before prerequisites."""

    @abstractmethod
    def access_steps(self) -> list[Step]:
        """Steps that only make sure an existing cluster is there and reachable (before `stack install`)."""

    @abstractmethod
    def down(self, ctx: Context) -> None:
        """Remove the cluster (or, for `existing`, only what devcluster put in it)."""

    # -- reaching it

    @abstractmethod
    def access(self) -> ClusterAccess:
        """The kubeconfig and context every client uses for this cluster."""

    @abstractmethod
    def ingress_address(self) -> str:
        """Where the ingress NodePorts are reached from this machine: the hosts entry and the HTTP checks."""

    def expected_nodes(self) -> int | None:
        return None

    def bundled_local_path(self) -> tuple[str, str] | None:
        """(namespace, Deployment) of the local-path-provisioner the provider's clusters already run for
        rancher.io/local-path, or None when devcluster must install it."""
        return None

    # -- its nodes

    @abstractmethod
    def load_images(self, ctx: Context, images: list[str]) -> list[str]:
        """Put locally built images (from this machine's Docker) into every node's containerd, so pods
        use them without a registry; returns the nodes loaded."""

    @abstractmethod
    def node_access(self) -> NodeAccess:
        """How `check nodes` reaches the nodes (or a clear error when it cannot)."""

    def ssh_interactive(self, node: str) -> int:
        raise DevclusterError(f"provider `{self.name}` has no VMs to open a shell on",
                              "`devcluster ssh` works with the vagrant provider; for kind: docker exec -it NODE bash")

    def snapshot(self, action: str, name: str, ctx: Context) -> None:
        raise DevclusterError(f"provider `{self.name}` cannot snapshot its nodes",
                              "snapshots need the vagrant provider (VirtualBox snapshots of every VM)")

    def collect_host_logs(self, dest: Path) -> list[str]:
        """Logs of the nodes kept on this machine (VM consoles), for `logs --collect`; names of the files."""
        return []

    def refuse_unsafe_target(self, assume_yes: bool) -> tuple[str, str] | None:
        """Refuse, before any connection, a cluster devcluster must not touch without --yes; the (context,
        server) checked, or None. Every command that connects calls this first (cli/common.open_context);
        the clusters devcluster makes itself are always local.
        """
        return None

    # -- doctor and status

    @abstractmethod
    def tools(self) -> list[Tool]:
        """What `doctor` checks for this provider."""

    def doctor_checks(self) -> list[Finding]:
        """Host checks beyond the tools (VirtualBox's host-only ranges, memory, ...)."""
        return []

    def describe(self) -> dict[str, Any]:
        access = self.access()
        return {"provider": self.name, "kubeconfig": str(access.kubeconfig or ""), "context": access.context}

    # -- shared by the providers that write a kubeconfig into the state dir

    def state_access(self, context: str) -> ClusterAccess:
        return ClusterAccess(self.state.kubeconfig, context)

    def kubeconfig_reachable(self, ctx: Context) -> bool:
        """The check of a provider's `kubeconfig` step: the file is there and its API server answers."""
        return self.state.kubeconfig.is_file() and ctx.kube().reachable()[0]

    def reachable_step(self) -> Step:
        """For `stack install` on a cluster `up` made: it must be there and answer; nothing is created."""
        def fail(ctx: Context) -> None:
            kubeconfig = self.state.kubeconfig
            detail = ctx.kube().reachable()[1] if kubeconfig.is_file() else f"no kubeconfig at {kubeconfig}"
            raise DevclusterError(f"{self.name} cluster {self.cfg.name!r} is not reachable: {detail}",
                                  f"create it with `devcluster up --provider {self.name}`")

        return Step("reachable", f"the {self.name} cluster {self.cfg.name!r} exists and its API answers", fail,
                    self.kubeconfig_reachable, gate=True)


def nodes_ready_probe(ctx: Context, expected: int | None) -> tuple[bool, str]:
    ready, not_ready = ctx.kube().nodes_summary()
    total = len(ready) + len(not_ready)
    count_ok = expected is None or total >= expected
    detail = f"{len(ready)}/{expected if expected is not None else total} Ready"
    if not_ready:
        detail += f"; not ready: {', '.join(sorted(not_ready))}"
    return bool(ready) and not not_ready and count_ok, detail


def nodes_ready_step(provider: Provider) -> Step:
    """All nodes Ready, counted ourselves: `kind create --wait` only waits for control planes."""
    expected = provider.expected_nodes()

    def check(ctx: Context) -> bool:
        ok, _ = ctx.kube().reachable()
        return ok and nodes_ready_probe(ctx, expected)[0]

    def act(ctx: Context) -> None:
        ctx.reset_kube()
        wait_for(f"{expected or 'all'} nodes to be Ready", lambda: nodes_ready_probe(ctx, expected),
                 timeout=ctx.config.timeouts.nodes_ready, console=ctx.console,
                 hint="kubectl describe nodes; a CNI that is not running keeps nodes NotReady")

    return Step("nodes-ready", f"wait until all {expected or ''} nodes are Ready".replace("  ", " "), act, check)
