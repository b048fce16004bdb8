"""`devcluster status`: what exists right now, gathered read-only.

The prerequisites are judged by their steps' own checks (stages/prerequisites.py ``status_probes``), so
status and `up` cannot disagree.
"""

from __future__ import annotations

from typing import Any

from devcluster.clients import registry_usage
from devcluster.clients.readiness import node_is_ready
from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError, expected_errors
from devcluster.local import hosts
from devcluster.stages import prerequisites as prereqs


def registry_section(ctx: Context) -> dict[str, Any]:
    """The local registry and caches (shared by every cluster on this machine, so shown even when this one is
    stopped or gone), and what the cluster is told to push to (KEP-1755)."""
    out: dict[str, Any] = {}
    wanted = ctx.provider.registry_containers()
    if wanted:
        try:
            out["containers"] = registry_usage.usage(wanted)
        except DevclusterError as exc:  # docker missing or not running: say so, the cluster may still answer
            out["error"] = exc.message
    advertised = ctx.provider.registry_hosting()
    if advertised is not None:
        out["advertised"] = advertised.host
    return out


def gather(ctx: Context) -> dict[str, Any]:
    cfg = ctx.config
    out: dict[str, Any] = {"cluster": cfg.name, **ctx.provider.describe()}
    hf = hosts.hosts_file_for(cfg, ctx.state.root)
    out["hosts"] = {"file": str(hf.path), "entries": [{"ip": e.ip, "hostnames": list(e.hostnames)}
                                                      for e in hf.show(cfg.name)]}
    registry = registry_section(ctx)
    if registry:
        out["registry"] = registry
    try:
        out["state"] = ctx.provider.lifecycle().power_state()
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
    except expected_errors() as exc:  # a kubeconfig that does not load is an answer too: not reachable
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
    # The prerequisite steps' own probes (read-only by design): status says "ok" exactly when `up` would
    # leave the step alone.
    probes = prereqs.status_probes(cfg, ctx.provider.bundled_local_path())
    out["prerequisites"] = {name: dict(zip(("ok", "detail"), probe(ctx), strict=True))
                            for name, probe in probes.items()}
    return out
