"""Installing and verifying the declared stack (by default: Forail, then its operator).

Order matters and is the reference's: the Forail chart with generated
secrets, wait for its init Job and every workload, mint the operator token
inside the running web pod, install the operator with it, then verify
through the ingress and the CRDs.
"""

from __future__ import annotations

import copy
import hashlib
import http.client
from pathlib import Path
from typing import Any

import yaml

from devcluster import charts, forail_values, releases, secrets_store
from devcluster.config import OPERATOR_KINDS, Config, PostInstallConfig, ReleaseConfig
from devcluster.diagnostics import not_ready_report
from devcluster.errors import DevclusterError
from devcluster.helm import ChartRef, Release, deep_merge
from devcluster.kube import job_status, rollout_status
from devcluster.state import write_private
from devcluster.steps import Context, Step
from devcluster.waiting import wait_for


def checkouts_dir(cfg: Config) -> Path | None:
    """Where sibling checkouts are looked for: `stack.checkouts_dir`, else the parent of the config file's
    directory (of the current directory without a config file); None when turned off."""
    if not cfg.stack.use_checkouts:
        return None
    if cfg.stack.checkouts_dir:
        return Path(cfg.stack.checkouts_dir).expanduser()
    base = Path(cfg.source).resolve().parent if cfg.source else Path.cwd()
    return base.parent


def checkout_for(cfg: Config, rel: ReleaseConfig) -> Path | None:
    return charts.sibling_checkout(rel, checkouts_dir(cfg))


def _user_layers(cfg: Config, rel: ReleaseConfig) -> dict[str, Any]:
    """The user's inline values, with what devcluster must keep on top of every layer:
    allowedHosts extended (never replaced) by the user's hosts, and `--image-tag`."""
    values = copy.deepcopy(rel.values)
    if rel.kind != "forail":
        return values
    user_hosts: list[str] = []
    for layer in [*(_read_values_file(f) for f in rel.values_files), rel.values]:
        user_hosts += forail_values.split_hosts(((layer.get("forail") or {}) if isinstance(layer, dict) else {})
                                                .get("allowedHosts"))
    if user_hosts:
        values.setdefault("forail", {})["allowedHosts"] = forail_values.allowed_hosts(cfg, user_hosts)
    return deep_merge(values, forail_values.image_tag_values(cfg.stack.image_tag))


def _read_values_file(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).expanduser().read_text())
    except (OSError, yaml.YAMLError):
        return {}  # helm reports an unreadable values file itself, naming it
    return data if isinstance(data, dict) else {}


def desired_release(ctx: Context, rel: ReleaseConfig) -> Release | None:
    """The release as it should be installed, read-only: None while an input is not there yet (the
    generated secrets, the operator token). Git sources are named, not cloned (see install_release)."""
    cfg = ctx.config
    generated: dict[str, Any] = {}
    if rel.kind == "forail":
        secrets = secrets_store.stored(ctx.state)
        if secrets is None:
            return None
        generated = forail_values.forail_values(cfg, secrets)
    elif rel.kind == "forail-operator":
        token = secrets_store.stored_token(ctx.state, cfg.stack.token_env)
        if not token:
            return None
        forail = forail_release(cfg)
        generated = forail_values.operator_values(cfg, token, forail.namespace if forail else cfg.namespace)
    checkout = checkout_for(cfg, rel)
    placeholder = ChartRef(str(checkout)) if checkout else ChartRef(rel.chart or rel.git, rel.repo, rel.version)
    return Release(rel.name, rel.namespace, placeholder, _user_layers(cfg, rel), list(rel.values_files), rel.wait,
                   rel.timeout, generated=generated, source_id=charts.source_id(rel, checkout))


def release_done(ctx: Context, rel: ReleaseConfig) -> bool:
    desired = desired_release(ctx, rel)
    return desired is not None and releases.release_done(ctx, desired)


def install_release(ctx: Context, rel: ReleaseConfig) -> None:
    if rel.kind == "forail":
        secrets_store.load_or_create(ctx.state)
        if ctx.config.stack.job_execution == "podman":
            ctx.console.print(f"  [yellow]warning:[/yellow] {forail_values.PODMAN_WARNING}")
    desired = desired_release(ctx, rel)
    if desired is None:
        raise DevclusterError(f"release {rel.name}: the operator token is not there yet",
                              "run the operator-token step first (devcluster up --from operator-token)")
    checkout = checkout_for(ctx.config, rel)
    if checkout is not None:
        ctx.console.print(f"  chart from the local checkout {checkout}")
    chart = charts.resolve(rel, ctx.state.path("cache"), checkout)
    token_digest = _token_digest(desired) if rel.kind == "forail-operator" else ""
    previous = releases.release_install(ctx, desired, chart, token=token_digest)
    if rel.kind == "forail-operator" and previous.get("token") and previous.get("token") != token_digest:
        # The chart only changes the credentials Secret; the operator reads the token at start.
        restarted = ctx.kube().restart_deployments(rel.namespace, f"app.kubernetes.io/instance={rel.name}")
        ctx.console.print(f"  new token: restarted {', '.join(restarted) or 'no Deployment'}")


def _token_digest(desired: Release) -> str:
    token = str((desired.generated.get("forail") or {}).get("token", ""))
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def forail_release(cfg: Config) -> ReleaseConfig | None:
    return next((r for r in cfg.stack.releases if r.kind == "forail"), None)


# ----------------------------------------------------------------- waiting for a release


def release_workloads_probe(ctx: Context, rel: ReleaseConfig) -> tuple[bool, str]:
    """The release's Jobs of the current revision complete and all its Deployments/StatefulSets ready."""
    kube = ctx.kube()
    ns = rel.namespace
    revision = releases.record(ctx, rel.name).get("revision")
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


def token_accepted(cfg: Config, token: str) -> bool | None:
    """Whether Forail accepts ``token``: an authenticated GET through the ingress (read-only).
    None when Forail cannot be asked from here (not installed yet, ingress not reachable)."""
    try:
        code, _ = http_get(cfg.ingress_ip(), cfg.node_ports.http, cfg.stack.token_check_path, cfg.hostname,
                           timeout=5, token=token)
    except OSError:
        return None
    if code in (401, 403):
        return False
    return True if code == 200 else None


def _token_step(cfg: Config) -> Step:
    def done(ctx: Context) -> bool:
        if secrets_store.env_token(cfg.stack.token_env):
            return True  # the user's own token: theirs to keep valid
        token = secrets_store.minted_token(ctx.state)
        return token is not None and token_accepted(cfg, token) is not False

    def act(ctx: Context) -> None:
        if secrets_store.minted_token(ctx.state) is not None:
            ctx.console.print("  the stored token was rejected by Forail: minting a new one")
        secrets_store.save_token(ctx.state, mint_token(ctx))

    return Step("operator-token",
                f"mint an OAuth2 token for {cfg.stack.admin_user!r} inside deploy/{cfg.stack.web_deployment} "
                f"(exec API), keep it 0600; a stored one is reused while Forail accepts it "
                f"(GET {cfg.stack.token_check_path}); ${cfg.stack.token_env} overrides", act, done)


# ----------------------------------------------------------------- verification


def http_get(host: str, port: int, path: str, host_header: str, timeout: float = 10,
             token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Host": host_header, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("GET", path, headers=headers)
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
                "spec": {"name": "devcluster-smoke", "organization": ctx.config.stack.sample_organization,
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
    operator = next(r for r in cfg.stack.releases if r.kind == "forail-operator")
    logs_hint = f"kubectl -n {operator.namespace} logs -l app.kubernetes.io/instance={operator.name}"
    found = sorted(c.spec.names.kind for c in crds_in_group(ctx, cfg.stack.crd_group))
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
        ctx.kube().apply(cr)
        group, version = cr["apiVersion"].split("/")

        def reconciled() -> tuple[bool, str]:
            obj = ctx.kube().custom.get_namespaced_custom_object(
                group, version, cr["metadata"]["namespace"], plural, cr["metadata"]["name"])
            fid = (obj.get("status") or {}).get("forailId")
            return bool(fid), f"status.forailId={fid}" if fid else f"status: {obj.get('status') or {}}"

        detail = wait_for("the sample Inventory to be reconciled (status.forailId)", reconciled, timeout=180,
                          console=ctx.console, hint=logs_hint)
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


def describe_source(cfg: Config, rel: ReleaseConfig) -> str:
    checkout = checkout_for(cfg, rel)
    if checkout is not None:
        return f"local checkout {checkout}, not {rel.git}@{rel.ref}"
    return rel.chart or f"{rel.git}@{rel.ref}" + (f"/{rel.subdir}" if rel.subdir else "")


def release_steps(cfg: Config, rel: ReleaseConfig) -> list[Step]:
    extra = ""
    if rel.kind == "forail":
        podman = cfg.stack.job_execution == "podman"
        extra = f"; jobs as {'podman in a privileged task pod (dev only)' if podman else 'pods'}"
        if cfg.stack.image_tag:
            extra += f"; images at {cfg.stack.image_tag}"
    steps = [Step(f"release-{rel.name}", f"helm upgrade --install {rel.name} ({describe_source(cfg, rel)}) in "
                  f"{rel.namespace}" + (" --wait" if rel.wait else "") + extra,
                  lambda ctx: install_release(ctx, rel), lambda ctx: release_done(ctx, rel),
                  hint=f"helm status {rel.name} -n {rel.namespace}; devcluster logs --collect ./logs")]
    steps.append(Step(f"ready-{rel.name}",
                      f"wait for {rel.name}'s Jobs of this revision and all workloads in {rel.namespace}",
                      lambda ctx: wait_release(ctx, rel),
                      lambda ctx: release_workloads_probe(ctx, rel)[0]))
    steps += [post_install_step(rel, action) for action in rel.post_install]
    return steps


def stack_steps(cfg: Config) -> list[Step]:
    steps = [Step("stack-secrets", "generate the admin password and the secrets the database keeps once "
                  "(64 hex each), stored 0600 and reused",
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
    helm = releases.helm_for(ctx)
    for rel in reversed(ctx.config.stack.releases):
        if helm.uninstall(rel.name, rel.namespace):
            removed.append(rel.name)
    releases.forget(ctx, removed)
    return removed
