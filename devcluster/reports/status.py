"""`devcluster status`: what exists right now, gathered read-only."""

from __future__ import annotations

from typing import Any

from devcluster.clients.kube import default_class_patches, is_default_class, node_is_ready
from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError
from devcluster.local import hosts
from devcluster.providers.lifecycle import lifecycle_for
from devcluster.stages import prerequisites as prereqs


def gather(ctx: Context) -> dict[str, Any]:
    cfg = ctx.config
    out: dict[str, Any] = {"cluster": cfg.name, **ctx.provider.describe()}
    hf = hosts.hosts_file_for(cfg, ctx.state.root)
    out["hosts"] = {"file": str(hf.path), "entries": [{"ip": e.ip, "hostnames": list(e.hostnames)}
                                                      for e in hf.show(cfg.name)]}
    try:
        out["state"] = lifecycle_for(ctx.provider).power_state()
    except DevclusterError as exc:  # kind/docker/vagrant missing or failing: the API may still tell
        out["state"], out["state_error"] = "unknown", exc.message
    if out["state"] in ("stopped", "partly stopped"):
        out["reachable"] = False
        out["detail"] = f"{out['state']}: `devcluster start` (or `devcluster up`) brings it back"
        return out
    kc = ctx.provider.access().kubeconfig
    if kc is not None and not kc.exists():
        out["reachable"] = False
        out["detail"] = f"no kubeconfig at {kc}: run `devcluster up`"
        return out
    try:
        kube = ctx.kube()
        ok, detail = kube.reachable()
    except Exception as exc:
        ok, detail = False, str(exc)
    out["reachable"] = ok
    out["detail"] = detail
    if not ok:
        return out
    nodes = []
    for n in kube.list("/api/v1/nodes"):
        status = n.get("status") or {}
        addrs = {a["type"]: a["address"] for a in status.get("addresses") or []}
        roles = sorted(k.split("/", 1)[1] for k in (n["metadata"].get("labels") or {})
                       if k.startswith("node-role.kubernetes.io/"))
        nodes.append({"name": n["metadata"]["name"], "ready": node_is_ready(n), "roles": roles or ["worker"],
                      "internal_ip": addrs.get("InternalIP", ""),
                      "version": (status.get("nodeInfo") or {}).get("kubeletVersion", "")})
    out["nodes"] = nodes
    checks: dict[str, Any] = {}
    traefik = cfg.addons.traefik
    checks["traefik"] = kube.workload_status("Deployment", traefik.namespace, traefik.release)
    local_path = ctx.provider.bundled_local_path() or (prereqs.LOCAL_PATH_NAMESPACE, prereqs.LOCAL_PATH_DEPLOYMENT)
    checks["local-path"] = kube.workload_status("Deployment", *local_path)
    classes = kube.storage_class_annotations()
    defaults = [n for n, a in classes.items() if is_default_class(a)]
    checks["default-storageclass"] = (not default_class_patches(classes, prereqs.LOCAL_PATH_CLASS),
                                      ", ".join(defaults) or "none")
    ns_ok = kube.read(f"/api/v1/namespaces/{cfg.namespace}") is not None
    checks["namespace"] = (ns_ok, cfg.namespace if ns_ok else "missing")
    secret = kube.read(f"/api/v1/namespaces/{cfg.namespace}/secrets/{cfg.tls_secret}") if ns_ok else None
    checks["tls-secret"] = (secret is not None and secret.get("type") == "kubernetes.io/tls",
                            secret.get("type") if secret is not None else "missing")
    out["prerequisites"] = {k: {"ok": bool(v[0]), "detail": v[1]} for k, v in checks.items()}
    return out
