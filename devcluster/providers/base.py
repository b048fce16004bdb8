"""The provider interface: how a cluster comes to exist, is reached and goes away."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devcluster.clients.access import ClusterAccess, NodeAccess
from devcluster.clients.registry import Hosting, RegistryContainer, containers, hosting
from devcluster.config import Config
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import State
from devcluster.providers.doctor import Finding, Tool

if TYPE_CHECKING:
    from devcluster.providers.lifecycle import Lifecycle


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

    def registry_containers(self) -> list[RegistryContainer]:
        """The local registry and the caches this provider runs on this machine for its nodes (none: the
        cluster's nodes could not reach them, e.g. an existing cluster; `registry.host` is advertised instead)."""
        return containers(self.cfg.registry)

    # -- its nodes

    @abstractmethod
    def load_images(self, ctx: Context, images: list[str]) -> list[str]:
        """Put locally built images (from this machine's Docker) into every node's containerd, so pods
        use them without a registry; returns the nodes loaded."""

    @abstractmethod
    def node_access(self) -> NodeAccess:
        """How `check nodes` reaches the nodes (or a clear error when it cannot)."""

    def lifecycle(self) -> Lifecycle:
        """How `stop` and `start` pause and bring back this cluster; by default a clear refusal."""
        from devcluster.providers.lifecycle import Refusal

        return Refusal(self.name)

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

    def registry_hosting(self) -> Hosting | None:
        """What the cluster is told of its registry (KEP-1755): `registry.host`, or the local one when this
        provider runs it, named as its pods reach it."""
        runs_local = any(not c.upstream for c in self.registry_containers())
        return hosting(self.cfg.registry, runs_local=runs_local,
                       from_cluster_network=self.registry_from_cluster_network())

    def registry_from_cluster_network(self) -> str:
        """host:port at which pods reach the local registry (KEP-1755's hostFromClusterNetwork); '': by the
        container's name on the `kind` network."""
        return ""

    def describe(self) -> dict[str, Any]:
        access = self.access()
        return {"provider": self.name, "kubeconfig": str(access.kubeconfig or ""), "context": access.context}

    # -- shared by the providers that write a kubeconfig into the state dir (their check: steps.kubeconfig_reachable)

    def state_access(self, context: str) -> ClusterAccess:
        return ClusterAccess(self.state.kubeconfig, context)
