"""The provider interface: how a cluster comes to exist, is reached and goes away."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.config import Config
from devcluster.state import State
from devcluster.steps import Context, Step
from devcluster.waiting import wait_for


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


class Provider(ABC):
    name: str = ""

    def __init__(self, cfg: Config, state: State) -> None:
        self.cfg = cfg
        self.state = state

    @abstractmethod
    def cluster_steps(self) -> list[Step]:
        """Steps that make the cluster exist and reachable, before prerequisites."""

    @abstractmethod
    def down(self, ctx: Context) -> None:
        """Remove the cluster (or, for `existing`, only what devcluster put in it)."""

    @abstractmethod
    def tools(self) -> list[Tool]:
        """What `doctor` checks for this provider."""

    @abstractmethod
    def load_images(self, ctx: Context, images: list[str]) -> list[str]:
        """Put locally built images (from this machine's Docker) into every node's containerd, so pods
        use them without a registry; returns the nodes loaded."""

    def kubeconfig(self) -> Path | None:
        return self.state.kubeconfig

    def context(self) -> str | None:
        return None

    def kubeconfig_reachable(self, ctx: Context) -> bool:
        """The check of a provider's `kubeconfig` step: the file is there and its API server answers."""
        return self.state.kubeconfig.is_file() and ctx.kube().reachable()[0]

    def expected_nodes(self) -> int | None:
        return None

    def bundles_local_path_provisioner(self) -> bool:
        """Whether the provider's clusters already run local-path-provisioner for rancher.io/local-path."""
        return False

    def describe(self) -> dict[str, Any]:
        return {"provider": self.name, "kubeconfig": str(self.kubeconfig() or ""), "context": self.context()}


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
