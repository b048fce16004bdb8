"""A cluster you already have, named by kubeconfig and context.

devcluster only installs into it, so the one risk is pointing at the wrong
cluster: anything that is not obviously a local/dev cluster needs --yes.
"""

from __future__ import annotations

from pathlib import Path

from devcluster.errors import ConfigError, DevclusterError
from devcluster.kube import is_local_server, kubeconfig_server
from devcluster.providers.base import HELM_TOOL, KUBECTL_TOOL, Provider, Tool, nodes_ready_step
from devcluster.steps import Context, Step

DEV_CONTEXT_PREFIXES = ("kind-", "devcluster-", "k3d-", "minikube", "docker-desktop", "rancher-desktop")


def context_is_safe(context_name: str, server: str) -> bool:
    return is_local_server(server) or context_name.startswith(DEV_CONTEXT_PREFIXES)


class ExistingProvider(Provider):
    name = "existing"

    def kubeconfig(self) -> Path | None:
        kc = self.cfg.existing.kubeconfig
        return Path(kc).expanduser() if kc else None

    def context(self) -> str | None:
        return self.cfg.existing.context or None

    def _check_target(self, ctx: Context) -> None:
        kc = self.kubeconfig()
        if kc is not None and not kc.is_file():
            raise ConfigError(f"kubeconfig {kc} does not exist")
        name, server = kubeconfig_server(kc, self.context())
        if not context_is_safe(name, server) and not ctx.assume_yes:
            raise DevclusterError(
                f"context {name!r} points at {server}, which is not a local or private address",
                "devcluster installs charts and edits CoreDNS there; pass --yes if this really is a "
                "throw-away cluster",
            )
        ok, detail = ctx.kube().reachable()
        if not ok:
            raise DevclusterError(f"the API server of context {name!r} ({server}) is not reachable: {detail}")
        ctx.console.print(f"  target: context {name} at {server} (Kubernetes {detail})")

    def cluster_steps(self) -> list[Step]:
        return [
            Step("target", "check the kubeconfig/context exists, is reachable and is safe to install into",
                 self._check_target),
            nodes_ready_step(self),
        ]

    def down(self, ctx: Context) -> None:
        ctx.console.print("provider `existing`: the cluster is yours and stays; use `devcluster stack uninstall` "
                          "to remove the stack")

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
