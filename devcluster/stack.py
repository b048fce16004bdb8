"""Installing and verifying the declared stack (by default: Forail, then its operator).

Order matters and is the reference's: the Forail chart with generated
secrets, wait for its init Job and every workload, mint the operator token
inside the running web pod, install the operator with it, then verify
through the ingress and the CRDs.
"""

from __future__ import annotations

import http.client
from typing import Any

from devcluster import charts, secrets_store
from devcluster.config import Config, PostInstallConfig, ReleaseConfig
from devcluster.diagnostics import not_ready_report
from devcluster.errors import DevclusterError
from devcluster.helm import Release
from devcluster.kube import job_status, rollout_status
from devcluster.prereqs import helm_for, helm_release_done, helm_release_install
from devcluster.state import write_private
from devcluster.steps import Context, Step
from devcluster.waiting import wait_for


def forail_values(cfg: Config, generated: dict[str, str]) -> dict[str, Any]:
    """Values derived from the cluster config plus the generated secrets (reference: values table)."""
    values: dict[str, Any] = {
        "forail": {"admin": {"user": cfg.stack.admin_user}},
        "secrets": dict(generated),
        "ingress": {"host": cfg.hostname, "className": "traefik",
                    "tls": {"enabled": True, "secretName": cfg.tls_secret}},
    }
    if cfg.pull_secret.name:
        values["imagePullSecrets"] = [{"name": cfg.pull_secret.name}]
    return values


def operator_values(cfg: Config, token: str) -> dict[str, Any]:
    return {"forail": {"token": token, "url": cfg.stack.operator_url}}


def release_for(ctx: Context, rel: ReleaseConfig) -> Release:
    """The helm release with generated values first and the user's values on top."""
    cfg = ctx.config
    values: dict[str, Any] = {}
    if rel.kind == "forail":
        values = forail_values(cfg, secrets_store.load_or_create(ctx.state))
    elif rel.kind == "forail-operator":
        token = secrets_store.stored_token(ctx.state, cfg.stack.token_env)
        if not token:
            raise DevclusterError("no operator token yet", "run the operator-token step first")
        values = operator_values(cfg, token)
    chart = charts.resolve(rel, ctx.state.path("cache"))
    return Release(rel.name, rel.namespace, chart, dict(rel.values), list(rel.values_files), rel.wait, rel.timeout,
                   generated=values)


def forail_release(cfg: Config) -> ReleaseConfig | None:
    return next((r for r in cfg.stack.releases if r.kind == "forail"), None)


# ----------------------------------------------------------------- waiting for a release


def release_workloads_probe(ctx: Context, rel: ReleaseConfig) -> tuple[bool, str]:
    """The release's Jobs of the current revision complete and all its Deployments/StatefulSets ready."""
    kube = ctx.kube()
    ns = rel.namespace
    record = ctx.state.read_json("releases.json").get(rel.name, {})
    revision = record.get("revision")
    pending: list[str] = []
    deps = kube.apps.list_namespaced_deployment(ns, _request_timeout=15).items
    sts = kube.apps.list_namespaced_stateful_set(ns, _request_timeout=15).items
    if not deps and not sts:
        return False, f"no Deployments or StatefulSets in {ns} yet"
    for obj in [*deps, *sts]:
        ok, detail = rollout_status(obj)
        if not ok:
            pending.append(f"{obj.kind or 'workload'} {obj.metadata.name}: {detail}")
    jobs = kube.batch.list_namespaced_job(ns, _request_timeout=15).items
    for job in jobs:
        labels = job.metadata.labels or {}
        name = job.metadata.name
        mine = labels.get("app.kubernetes.io/instance") == rel.name or name.startswith(f"{rel.name}-init")
        current = revision is None or name.endswith(f"-{revision}") or not name.startswith(f"{rel.name}-init")
        if not (mine and current):
            continue
        done, detail = job_status(job)
        if done is False:
            raise DevclusterError(f"Job {ns}/{name} {detail}", f"kubectl -n {ns} logs job/{name}")
        if done is None:
            pending.append(f"Job {name}: {detail}")
    return not pending, "; ".join(pending) or "all ready"


def wait_release(ctx: Context, rel: ReleaseConfig) -> None:
    try:
        wait_for(f"release {rel.name} in {rel.namespace}", lambda: release_workloads_probe(ctx, rel),
                 timeout=rel.timeout, console=ctx.console)
    except DevclusterError as exc:
        report = not_ready_report(ctx.kube(), rel.namespace)
        raise DevclusterError(exc.message + "\n" + report, exc.hint or "devcluster logs --collect ./logs") from exc


# ----------------------------------------------------------------- operator token


def mint_token(ctx: Context) -> str:
    cfg = ctx.config
    rel = forail_release(cfg)
    ns = rel.namespace if rel else cfg.namespace
    pod = ctx.kube().running_pod_for(ns, cfg.stack.web_deployment)
    command = [part.replace("{admin_user}", cfg.stack.admin_user) for part in cfg.stack.token_command]
    output = ctx.kube().exec_in_pod(ns, pod, command)
    try:
        return secrets_store.parse_token_output(output)
    except ValueError as exc:
        raise DevclusterError(f"could not read a token from `{' '.join(command)}` in {ns}/{pod}: {exc}",
                              f"set ${cfg.stack.token_env} to a token made by hand") from exc


def _token_step(cfg: Config) -> Step:
    def done(ctx: Context) -> bool:
        return secrets_store.stored_token(ctx.state, cfg.stack.token_env) is not None

    def act(ctx: Context) -> None:
        secrets_store.save_token(ctx.state, mint_token(ctx))

    return Step("operator-token",
                f"mint an OAuth2 token for {cfg.stack.admin_user!r} inside deploy/{cfg.stack.web_deployment} "
                f"(exec API), keep it 0600; ${cfg.stack.token_env} overrides", act, done)


# ----------------------------------------------------------------- verification


def http_get(host: str, port: int, path: str, host_header: str, timeout: float = 10) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host_header, "Accept": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ping_through_ingress(cfg: Config) -> tuple[bool, str]:
    """GET http://<hostname>:<http nodeport><verify_path>, connecting to the ingress address directly
    so the check does not depend on /etc/hosts."""
    try:
        code, body = http_get(cfg.ingress_ip(), cfg.node_ports.http, cfg.stack.verify_path, cfg.hostname)
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


def crds_in_group(ctx: Context, group: str) -> list[Any]:
    return [c for c in ctx.kube().apiext.list_custom_resource_definition(_request_timeout=15).items
            if c.spec.group == group]


def sample_inventory(ctx: Context, namespace: str) -> tuple[str, dict[str, Any]] | None:
    """The Inventory CRD's plural and a minimal Inventory at the version the installed CRD serves."""
    for crd in crds_in_group(ctx, ctx.config.stack.crd_group):
        if crd.spec.names.kind == "Inventory":
            version = next((v.name for v in crd.spec.versions if v.storage), crd.spec.versions[0].name)
            return crd.spec.names.plural, {
                "apiVersion": f"{crd.spec.group}/{version}", "kind": "Inventory",
                "metadata": {"name": "devcluster-smoke", "namespace": namespace,
                             "labels": {"app.kubernetes.io/managed-by": "devcluster"}},
                "spec": {"name": "devcluster-smoke", "organization": "Default",
                         "description": "created by devcluster verify"},
            }
    return None


def verify(ctx: Context) -> None:
    cfg = ctx.config
    rel = forail_release(cfg)
    ok, detail = ping_through_ingress(cfg)
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
    crds = crds_in_group(ctx, cfg.stack.crd_group)
    if not crds:
        raise DevclusterError(f"no CRDs in group {cfg.stack.crd_group}", "helm status forail-operator -n ...")
    ctx.console.print(f"  {len(crds)} CRD(s) in {cfg.stack.crd_group}: "
                      + ", ".join(sorted(c.spec.names.kind for c in crds)))
    if cfg.stack.sample_cr:
        sample = sample_inventory(ctx, rel.namespace if rel else cfg.namespace)
        if sample is None:
            raise DevclusterError(f"no Inventory CRD in {cfg.stack.crd_group}")
        plural, cr = sample
        ctx.kube().apply(cr)
        group, version = cr["apiVersion"].split("/")

        def reconciled() -> tuple[bool, str]:
            obj = ctx.kube().custom.get_namespaced_custom_object(
                group, version, cr["metadata"]["namespace"], plural, cr["metadata"]["name"])
            fid = (obj.get("status") or {}).get("forailId")
            return fid is not None, f"status: {obj.get('status') or {}}"

        detail = wait_for("the sample Inventory to be reconciled (status.forailId)", reconciled, timeout=180,
                          console=ctx.console, hint="kubectl -n forail-operator logs deploy/forail-operator")
        ctx.console.print(f"  sample Inventory reconciled: {detail}")


# ----------------------------------------------------------------- post-install actions

POST_INSTALL_FILE = "post-install.json"


def post_install_step(rel: ReleaseConfig, action: PostInstallConfig) -> Step:
    """Exec ``action.command`` in a ready pod of the deployment once; its output is kept (0600), not printed."""
    key = f"{rel.namespace}/{rel.name}/{action.name}"

    def done(ctx: Context) -> bool:
        return key in ctx.state.read_json(POST_INSTALL_FILE)

    def act(ctx: Context) -> None:
        kube = ctx.kube()
        pod = kube.running_pod_for(rel.namespace, action.deployment)
        output = kube.exec_in_pod(rel.namespace, pod, action.command, container=action.container or None,
                                  timeout=action.timeout)
        records = ctx.state.read_json(POST_INSTALL_FILE)
        records[key] = {"pod": pod, "command": action.command}
        ctx.state.write_json(POST_INSTALL_FILE, records)
        write_private(ctx.state.path(f"post-install-{rel.name}-{action.name}.log"), output)

    return Step(f"post-{rel.name}-{action.name}",
                f"once: `{' '.join(action.command)}` in deploy/{action.deployment} ({rel.namespace})", act, done,
                hint=f"kubectl -n {rel.namespace} logs deploy/{action.deployment}")


# ----------------------------------------------------------------- steps


def release_steps(cfg: Config, rel: ReleaseConfig) -> list[Step]:
    def done(ctx: Context) -> bool:
        return helm_release_done(ctx, release_for(ctx, rel))

    def act(ctx: Context) -> None:
        helm_release_install(ctx, release_for(ctx, rel))

    source = rel.chart or f"{rel.git}@{rel.ref}" + (f"/{rel.subdir}" if rel.subdir else "")
    steps = [Step(f"release-{rel.name}", f"helm upgrade --install {rel.name} ({source}) in {rel.namespace}"
                  + (" --wait" if rel.wait else ""), act, done,
                  hint=f"helm status {rel.name} -n {rel.namespace}; devcluster logs --collect ./logs")]
    steps.append(Step(f"ready-{rel.name}",
                      f"wait for {rel.name}'s Jobs of this revision and all workloads in {rel.namespace}",
                      lambda ctx: wait_release(ctx, rel),
                      lambda ctx: release_workloads_probe(ctx, rel)[0]))
    steps += [post_install_step(rel, action) for action in rel.post_install]
    return steps


def stack_steps(cfg: Config) -> list[Step]:
    steps = [Step("stack-secrets", "generate the stack secrets once (64 hex each), stored 0600 and reused",
                  lambda ctx: secrets_store.load_or_create(ctx.state),
                  lambda ctx: secrets_store.exists(ctx.state))]
    for rel in cfg.stack.releases:
        if rel.kind == "forail-operator":
            steps.append(_token_step(cfg))
        steps += release_steps(cfg, rel)
    if forail_release(cfg) is not None:
        steps.append(Step("verify", f"GET {cfg.stack.verify_path} through the ingress (port-forward fallback), "
                          "operator CRDs present, sample Inventory reconciled", verify))
    return steps


def uninstall(ctx: Context) -> list[str]:
    removed = []
    helm = helm_for(ctx)
    for rel in reversed(ctx.config.stack.releases):
        if helm.uninstall(rel.name, rel.namespace):
            removed.append(rel.name)
    records = ctx.state.read_json("releases.json")
    for name in removed:
        records.pop(name, None)
    ctx.state.write_json("releases.json", records)
    return removed
