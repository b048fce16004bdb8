"""KEP-1755: the cluster says where its registry is, so Tilt, Skaffold and ctlptl find it.

`kube-public/local-registry-hosting`, key `localRegistryHosting.v1`: the local registry when this
provider runs it, or `registry.host` (a registry you run, e.g. next to an existing cluster).
"""

from __future__ import annotations

from devcluster.clients.registry import KEP_CONFIGMAP, KEP_KEY, KEP_NAMESPACE, Hosting
from devcluster.engine.steps import Context, Step

PATH = f"/api/v1/namespaces/{KEP_NAMESPACE}/configmaps/{KEP_CONFIGMAP}"


def advertise_step(hosting: Hosting | None) -> list[Step]:
    if hosting is None:
        return []
    wanted = hosting.configmap()["data"]

    def done(ctx: Context) -> bool:
        cm = ctx.kube().read(PATH)
        return cm is not None and (cm.get("data") or {}).get(KEP_KEY) == wanted[KEP_KEY]  # type: ignore[index]

    def act(ctx: Context) -> None:
        ctx.kube().ensure_namespace(KEP_NAMESPACE)  # kubeadm, k3s and kind make it; a bare API server may not
        ctx.kube().apply(hosting.configmap())

    return [Step("registry-hosting", f"advertise {hosting.host} in {KEP_NAMESPACE}/{KEP_CONFIGMAP} (KEP-1755)",
                 act, done)]
