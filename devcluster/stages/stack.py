"""Installing and verifying the declared stack (by default: Forail, then its operator).

Order matters and is the reference's: the Forail chart with generated
secrets, wait for its init Job and every workload, mint the operator token
inside the running web pod, install the operator with it, then verify
through the ingress and the CRDs.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml

from devcluster.clients import charts
from devcluster.clients.diagnostics import not_ready_report
from devcluster.clients.helm import ChartRef, Release, deep_merge
from devcluster.clients.readiness import job_status, rollout_status
from devcluster.config import Config, PostInstallConfig, ReleaseConfig
from devcluster.engine.steps import Context, Step
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError
from devcluster.local import pushed_images
from devcluster.local import secrets as secrets_store
from devcluster.local.state import write_private
from devcluster.stages import forail_values, job_check, operator_token, releases, verify


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


def job_execution(cfg: Config, rel: ReleaseConfig,
                  checkout: Path | Literal["look up"] | None = "look up") -> forail_values.JobExecution:
    """How the Forail release ``rel`` will run jobs: from the config, or the version of the chart it installs
    (``checkout``: its sibling checkout, or None for none, when the caller has already looked)."""
    found = checkout_for(cfg, rel) if checkout == "look up" else checkout
    version, read_from = charts.chart_version(rel, found if isinstance(found, Path) else None)
    return forail_values.job_execution(cfg, version, read_from)


def _user_layers(cfg: Config, rel: ReleaseConfig, pushed: dict[str, str]) -> dict[str, Any]:
    """The user's inline values, with what devcluster must keep on top of every layer:
    allowedHosts extended (never replaced) by the user's hosts, and `--image-tag` (from the local registry
    when `image load` pushed that tag there: ``pushed``)."""
    values = copy.deepcopy(rel.values)
    if rel.kind != "forail":
        return values
    user_hosts: list[str] = []
    repositories: dict[str, str] = {}
    for layer in [*(_read_values_file(f) for f in rel.values_files), rel.values]:
        layer = layer if isinstance(layer, dict) else {}
        user_hosts += forail_values.split_hosts((layer.get("forail") or {}).get("allowedHosts"))
        images = layer.get("images") if isinstance(layer.get("images"), dict) else {}
        repositories |= {k: str(v["repository"]) for k, v in images.items()
                         if isinstance(v, dict) and v.get("repository")}
    if user_hosts:
        values.setdefault("forail", {})["allowedHosts"] = forail_values.allowed_hosts(cfg, user_hosts)
    tags = forail_values.image_tags(cfg)
    local = forail_values.pushed_repositories(cfg, tags, repositories, pushed)
    return deep_merge(values, forail_values.image_tag_values(tags, local))


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
    checkout = checkout_for(cfg, rel)
    generated: dict[str, Any] = {}
    if rel.kind == "forail":
        secrets = secrets_store.in_use(ctx.state, cfg.stack.admin_password_env)
        if secrets is None:
            return None
        generated = forail_values.forail_values(cfg, secrets, job_execution(cfg, rel, checkout))
    elif rel.kind == "forail-operator":
        token = secrets_store.stored_token(ctx.state, cfg.stack.token_env)
        if not token:
            return None
        forail = cfg.stack.release_of_kind("forail")
        generated = forail_values.operator_values(cfg, token, forail.namespace if forail else cfg.namespace)
    placeholder = ChartRef(str(checkout)) if checkout else ChartRef(rel.chart or rel.git, rel.repo, rel.version)
    # helm does not --wait (it polls every 2 s): the ready-<release> step waits for the same workloads, briskly
    layers = _user_layers(cfg, rel, pushed_images.pushed(ctx.state))
    return Release(rel.name, rel.namespace, placeholder, layers, list(rel.values_files), False,
                   rel.timeout, generated=generated, source_id=charts.source_id(rel, checkout))


def release_done(ctx: Context, rel: ReleaseConfig) -> bool:
    desired = desired_release(ctx, rel)
    return desired is not None and releases.release_done(ctx, desired)


def install_release(ctx: Context, rel: ReleaseConfig) -> None:
    checkout = checkout_for(ctx.config, rel)
    if rel.kind == "forail":
        secrets_store.load_or_create(ctx.state)
        execution = job_execution(ctx.config, rel, checkout)
        ctx.console.print(f"  jobs run as {execution.label}: {execution.reason}")
        if execution.podman:
            ctx.console.print(f"  [yellow]warning:[/yellow] {forail_values.PODMAN_WARNING}")
    desired = desired_release(ctx, rel)
    if desired is None:
        raise DevclusterError(f"release {rel.name}: the operator token is not there yet",
                              "run the operator-token step first (devcluster up --from operator-token)")
    if checkout is not None:
        ctx.console.print(f"  chart from the local checkout {checkout}")
    for image, spec in ((desired.values.get("images") or {}) if rel.kind == "forail" else {}).items():
        if str(spec.get("repository", "")).startswith("localhost:"):
            ctx.console.print(f"  {image} from the local registry: {spec['repository']}:{spec.get('tag', '')} "
                              "(pushed by `devcluster image load`)")
    chart = charts.resolve(rel, ctx.state.path("cache"), checkout, say=lambda line: ctx.console.print(f"  {line}"))
    token_digest = _token_digest(desired) if rel.kind == "forail-operator" else ""
    previous = releases.release_install(ctx, desired, chart, token=token_digest)
    if rel.kind == "forail-operator" and previous.get("token") and previous.get("token") != token_digest:
        # The chart only changes the credentials Secret; the operator reads the token at start.
        restarted = ctx.kube().restart_deployments(rel.namespace, f"app.kubernetes.io/instance={rel.name}")
        ctx.console.print(f"  new token: restarted {', '.join(restarted) or 'no Deployment'}")


def _token_digest(desired: Release) -> str:
    token = str((desired.generated.get("forail") or {}).get("token", ""))
    return hashlib.sha256(token.encode()).hexdigest()[:16]


# ----------------------------------------------------------------- waiting for a release


def release_workloads_probe(ctx: Context, rel: ReleaseConfig) -> tuple[bool, str]:
    """The release's Jobs of the current revision complete and all its Deployments/StatefulSets ready."""
    kube = ctx.kube()
    ns = rel.namespace
    revision = releases.record(ctx, rel.name).get("revision")
    pending: list[str] = []
    workloads = [("Deployment", obj) for obj in kube.list(f"/apis/apps/v1/namespaces/{ns}/deployments")]
    workloads += [("StatefulSet", obj) for obj in kube.list(f"/apis/apps/v1/namespaces/{ns}/statefulsets")]
    if not workloads:
        return False, f"no Deployments or StatefulSets in {ns} yet"
    for kind, obj in workloads:
        ok, detail = rollout_status(obj)
        if not ok:
            pending.append(f"{kind} {obj['metadata']['name']}: {detail}")
    for job in kube.list(f"/apis/batch/v1/namespaces/{ns}/jobs"):
        labels = job["metadata"].get("labels") or {}
        name = job["metadata"]["name"]
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
        pinned = f"{rel.git}@{rel.ref}" if rel.git else f"{rel.chart} {rel.version}".strip()
        return f"local checkout {checkout}, not {pinned}"
    if rel.git:
        return f"{rel.git}@{rel.ref}" + (f"/{rel.subdir}" if rel.subdir else "") + \
            (f", chart {rel.version}" if rel.version else "")
    return f"{rel.chart} {rel.version}".strip()


def forail_summary(cfg: Config, rel: ReleaseConfig) -> str:
    """What `plan` says of a Forail release beyond its source: how jobs will run and why, and image tags."""
    execution = job_execution(cfg, rel)
    text = f"; jobs as {execution.label}: {execution.reason}"
    tags = forail_values.image_tags(cfg)
    if tags:
        text += "; images at " + ", ".join(f"{image} {tag}" for image, tag in tags.items())
    return text


def release_steps(cfg: Config, rel: ReleaseConfig) -> list[Step]:
    extra = forail_summary(cfg, rel) if rel.kind == "forail" else ""
    steps = [Step(f"release-{rel.name}", f"helm upgrade --install {rel.name} ({describe_source(cfg, rel)}) in "
                  f"{rel.namespace}" + extra,
                  lambda ctx: install_release(ctx, rel), lambda ctx: release_done(ctx, rel),
                  hint=f"helm status {rel.name} -n {rel.namespace}; devcluster logs --collect ./logs")]
    if rel.wait:
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
            steps.append(operator_token.token_step(cfg))
        steps += release_steps(cfg, rel)
    forail = cfg.stack.release_of_kind("forail")
    if forail is not None:
        steps.append(verify.verify_step(cfg))
        if cfg.stack.verify_job_template:
            if not any(s.name == "operator-token" for s in steps):
                steps.append(operator_token.token_step(cfg))
            execution = job_execution(cfg, forail)
            steps.append(job_check.job_step(cfg, f"this install runs jobs as {execution.label} "
                                                 f"({execution.reason}); see stack.job_execution"))
    return steps


# ----------------------------------------------------------------- uninstall


def operator_resources(ctx: Context, all_crs: bool) -> list[tuple[str, dict[str, Any]]]:
    """The operator's custom resources in the stack's namespaces: devcluster's own (labelled managed-by
    devcluster), or with ``all_crs`` every one of the operator's group. (API path, object) pairs."""
    cfg = ctx.config
    namespaces = dict.fromkeys([cfg.namespace, *(r.namespace for r in cfg.stack.releases)])
    selector = "" if all_crs else "app.kubernetes.io/managed-by=devcluster"
    found = []
    kube = ctx.kube()
    for crd in verify.crds_in_group(ctx, cfg.stack.crd_group):
        spec = crd["spec"]
        version = verify.storage_version(crd)
        for ns in namespaces:
            base = f"/apis/{spec['group']}/{version}/namespaces/{ns}/{spec['names']['plural']}"
            found += [(f"{base}/{obj['metadata']['name']}", obj) for obj in kube.list(base, selector)]
    return found


def delete_operator_resources(ctx: Context, all_crs: bool, timeout: float) -> list[str]:
    """Delete the operator's CRs while the operator still runs, and wait until its finalizers let them go. A CR
    still held after ``timeout`` is an error naming it and its finalizers: stripping them would leave the
    objects in Forail behind, so that is the user's call, never done silently."""
    operator = ctx.config.stack.release_of_kind("forail-operator")
    targets = operator_resources(ctx, all_crs)
    if not targets or operator is None:
        return []
    kube = ctx.kube()
    names = [f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}" for _, obj in targets]
    for path, _ in targets:
        kube.delete(path)

    def gone() -> tuple[bool, str]:
        left = [(path, obj) for path, obj in ((p, kube.read(p)) for p, _ in targets) if obj is not None]
        return not left, f"{len(left)} left: " + ", ".join(
            f"{o['kind']} {o['metadata']['name']} (finalizers: {', '.join(o['metadata'].get('finalizers') or [])})"
            for _, o in left)

    try:
        wait_for("the operator to finalize its resources", gone, timeout=timeout, console=ctx.console)
    except DevclusterError as exc:
        raise DevclusterError(
            f"custom resources still held by their finalizers after {int(timeout)}s; the operator was left "
            f"installed so it can finish: {gone()[1]}",
            f"kubectl logs -n {operator.namespace} -l app.kubernetes.io/instance={operator.name}; if the operator "
            "cannot finish, remove a finalizer yourself: kubectl patch <kind> <name> -n <ns> --type merge "
            "-p '{\"metadata\":{\"finalizers\":null}}'") from exc
    return names


def uninstall(ctx: Context, all_crs: bool = False) -> tuple[list[str], list[str]]:
    """The operator's CRs first (their finalizers need the running operator), then every release, last
    first. Returns (CRs deleted, releases removed)."""
    deleted: list[str] = []
    if ctx.config.stack.release_of_kind("forail-operator") is not None:
        deleted = delete_operator_resources(ctx, all_crs, ctx.config.timeouts.rollout)
    removed = []
    helm = releases.helm_for(ctx)
    for rel in reversed(ctx.config.stack.releases):
        if helm.uninstall(rel.name, rel.namespace):
            removed.append(rel.name)
    releases.forget(ctx, removed)
    return deleted, removed
