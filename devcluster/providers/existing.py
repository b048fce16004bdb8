"""A cluster you already have, named by kubeconfig and context.

devcluster only installs into it, so the one risk is pointing at the wrong
cluster: anything that is not obviously a local/dev cluster needs --yes.
"""

from __future__ import annotations

from pathlib import Path

from devcluster.clients.access import ClusterAccess, NodeAccess
from devcluster.clients.kubeconfigs import kubeconfig_location, kubeconfig_server
from devcluster.clients.local_server import is_local_server
from devcluster.clients.registry import RegistryContainer
from devcluster.engine.steps import Context, Step
from devcluster.errors import ConfigError, DevclusterError
from devcluster.providers.base import Provider
from devcluster.providers.doctor import HELM_TOOL, KUBECTL_TOOL, Tool
from devcluster.providers.steps import nodes_ready_step

DEV_CONTEXT_PREFIXES = ("kind-", "devcluster-", "k3d-", "minikube", "docker-desktop", "rancher-desktop")


def context_is_safe(context_name: str, server: str) -> bool:
    return is_local_server(server) or context_name.startswith(DEV_CONTEXT_PREFIXES)


class ExistingProvider(Provider):
    name = "existing"

    def access(self) -> ClusterAccess:
        kc = self.cfg.existing.kubeconfig
        return ClusterAccess(Path(kc).expanduser() if kc else None, self.cfg.existing.context or None)

    def ingress_address(self) -> str:
        return self.cfg.existing.ingress_ip

    def node_access(self) -> NodeAccess:
        raise ConfigError("check nodes needs --provider kind or vagrant: the nodes of an existing cluster are not "
                          "devcluster's to reach")

    def refuse_unsafe_target(self, assume_yes: bool) -> tuple[str, str] | None:
        """(context, server) from the kubeconfig alone; refused unless local/dev or --yes. None: no file to read
        (the command then reports that itself, with nothing to connect to)."""
        if not kubeconfig_location(self.access().kubeconfig).is_file():
            return None
        name, server = kubeconfig_server(self.access())
        if not context_is_safe(name, server) and not assume_yes:
            raise DevclusterError(
                f"context {name!r} points at {server}, which is not a local or private address",
                "devcluster reads, installs charts, creates test objects and edits CoreDNS there; pass --yes if "
                "this really is a throw-away cluster",
            )
        return name, server

    def _check_target(self, ctx: Context) -> None:
        kc = self.access().kubeconfig
        if kc is not None and not kc.is_file():
            raise ConfigError(f"kubeconfig {kc} does not exist")
        target = self.refuse_unsafe_target(ctx.assume_yes)
        name, server = target if target is not None else kubeconfig_server(self.access())
        ok, detail = ctx.kube().reachable()
        if not ok:
            raise DevclusterError(f"the API server of context {name!r} ({server}) is not reachable: {detail}")
        ctx.console.print(f"  target: context {name} at {server} (Kubernetes {detail})")

    def _target_step(self) -> Step:
        return Step("target", "check the kubeconfig/context exists, is reachable and is safe to install into",
                    self._check_target, gate=True)

    def cluster_steps(self) -> list[Step]:
        return [self._target_step(), nodes_ready_step(self)]

    def access_steps(self) -> list[Step]:
        return [self._target_step()]

    def down(self, ctx: Context) -> None:
        ctx.console.print("provider `existing`: the cluster is yours and stays; use `devcluster stack uninstall` "
                          "to remove the stack")

    def registry_containers(self) -> list[RegistryContainer]:
        return []  # its nodes are not ours: they reach `registry.host`, a registry you run

    def load_images(self, ctx: Context, images: list[str]) -> list[str]:
        raise DevclusterError(
            "provider `existing`: devcluster cannot reach the nodes of a cluster it did not make, so it cannot "
            "load images into them",
            "push the image to a registry the cluster pulls from (pull_secret for a private one), or use the "
            "kind or vagrant provider",
        )

    def tools(self) -> list[Tool]:
        return [
            HELM_TOOL,
            KUBECTL_TOOL,
        ]
