"""Is the platform really up: Forail answers through the ingress, the operator's CRDs are there, and the
operator reconciles a sample Inventory into Forail (status.forailId)."""

from __future__ import annotations

from typing import Any

from devcluster.clients.http import http_get
from devcluster.config import OPERATOR_KINDS, Config
from devcluster.engine.steps import Context, Step
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError


def ping_through_ingress(cfg: Config, ingress_address: str) -> tuple[bool, str]:
    """GET http://<hostname>:<http nodeport><verify_path>, connecting to the ingress address directly
    so the check does not depend on /etc/hosts."""
    try:
        code, body = http_get(ingress_address, cfg.node_ports.http, cfg.stack.verify_path, cfg.hostname)
    except OSError as exc:
        return False, f"{type(exc).__name__}: {exc}"
    return code == 200, f"HTTP {code} {body[:120]!r}"


def ping_through_port_forward(ctx: Context, namespace: str, service_port: int = 8013) -> tuple[bool, str]:
    """Fallback when the ingress is not reachable from here: the web pod through the port-forward API."""
    from kubernetes.stream import portforward

    kube = ctx.kube()
    pod = kube.running_pod_for(namespace, ctx.config.stack.web_deployment)
    pf = portforward(kube.core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(service_port))
    sock = pf.socket(service_port)
    sock.settimeout(15)
    try:
        request = (f"GET {ctx.config.stack.verify_path} HTTP/1.0\r\nHost: {ctx.config.hostname}\r\n"
                   "Accept: application/json\r\n\r\n")
        sock.sendall(request.encode())
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
        pf.close()
    raw = b"".join(chunks)
    status_line = raw.split(b"\r\n", 1)[0].decode(errors="replace")
    return " 200 " in status_line + " ", status_line


def crds_in_group(ctx: Context, group: str) -> list[dict[str, Any]]:
    return [c for c in ctx.kube().list("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
            if c["spec"]["group"] == group]


def storage_version(crd: dict[str, Any]) -> str:
    """The version a CRD stores its objects at (the one devcluster reads and writes them with)."""
    versions = crd["spec"]["versions"]
    return next((v["name"] for v in versions if v.get("storage")), versions[0]["name"])


def sample_inventory(ctx: Context, namespace: str) -> tuple[str, dict[str, Any]] | None:
    """The Inventory CRD's plural and a minimal Inventory at the version the installed CRD serves."""
    for crd in crds_in_group(ctx, ctx.config.stack.crd_group):
        spec = crd["spec"]
        if spec["names"]["kind"] == "Inventory":
            version = storage_version(crd)
            return spec["names"]["plural"], {
                "apiVersion": f"{spec['group']}/{version}", "kind": "Inventory",
                "metadata": {"name": "devcluster-smoke", "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "devcluster"}},
                "spec": {"name": "devcluster-smoke", "organization": ctx.config.stack.sample_organization,
                         "description": "created by devcluster verify"},
            }
    return None


def verify(ctx: Context) -> None:
    cfg = ctx.config
    rel = cfg.stack.release_of_kind("forail")
    ok, detail = ping_through_ingress(cfg, ctx.provider.ingress_address())
    where = f"http://{cfg.hostname}:{cfg.node_ports.http}{cfg.stack.verify_path}"
    if not ok and rel is not None:
        ctx.console.print(f"  {where} through the ingress: {detail}; trying a port-forward")
        ok, detail = ping_through_port_forward(ctx, rel.namespace)
        where = f"port-forward to {cfg.stack.web_deployment}"
    if not ok:
        raise DevclusterError(f"{cfg.stack.verify_path} did not answer 200 ({where}): {detail}",
                              "devcluster logs --collect ./logs")
    ctx.console.print(f"  ping {where}: {detail}")
    has_operator = any(r.kind == "forail-operator" for r in cfg.stack.releases)
    if not has_operator:
        return
    operator = next(r for r in cfg.stack.releases if r.kind == "forail-operator")
    logs_hint = f"kubectl -n {operator.namespace} logs -l app.kubernetes.io/instance={operator.name}"
    found = sorted(c["spec"]["names"]["kind"] for c in crds_in_group(ctx, cfg.stack.crd_group))
    missing = [k for k in OPERATOR_KINDS if k not in found]
    ctx.console.print(f"  CRDs in {cfg.stack.crd_group}: {len(set(found) & set(OPERATOR_KINDS))}/"
                      f"{len(OPERATOR_KINDS)} expected kinds" + (f" ({', '.join(found)})" if found else ""))
    if missing:
        raise DevclusterError(f"CRDs in {cfg.stack.crd_group}: {len(OPERATOR_KINDS) - len(missing)} of the "
                              f"{len(OPERATOR_KINDS)} operator kinds; missing: {', '.join(missing)}",
                              f"helm status {operator.name} -n {operator.namespace}; is stack.crd_group right?")
    if cfg.stack.sample_cr:
        sample = sample_inventory(ctx, rel.namespace if rel else cfg.namespace)
        if sample is None:
            raise DevclusterError(f"no Inventory CRD in {cfg.stack.crd_group}")
        plural, cr = sample
        group, version = cr["apiVersion"].split("/")
        kube = ctx.kube()
        path = f"/apis/{group}/{version}/namespaces/{cr['metadata']['namespace']}/{plural}/{cr['metadata']['name']}"
        existing = kube.read(path)
        if existing is None or existing.get("spec") != cr["spec"]:
            kube.apply(cr)  # a re-run on a verified cluster only reads

        def reconciled() -> tuple[bool, str]:
            obj = ctx.kube().read(path) or {}
            fid = (obj.get("status") or {}).get("forailId")
            return bool(fid), f"status.forailId={fid}" if fid else f"status: {obj.get('status') or {}}"

        detail = wait_for("the sample Inventory to be reconciled (status.forailId)", reconciled,
                          timeout=cfg.stack.verify_timeout,
                          console=ctx.console, hint=logs_hint)
        ctx.console.print(f"  sample Inventory reconciled: {detail}")


def verify_step(cfg: Config) -> Step:
    return Step("verify", f"GET {cfg.stack.verify_path} through the ingress (port-forward fallback), the "
                f"operator's {len(OPERATOR_KINDS)} CRDs present, sample Inventory reconciled", verify)
