"""Cluster prerequisites every provider gets: storage, ingress, namespace, TLS, DNS, hosts.

Each step is a check plus an action; the decisions (Traefik values, which
StorageClass to un-default, how the Corefile changes, the TLS/pull secret
payloads) are pure functions so they are tested without a cluster.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from devcluster.clients import fetch
from devcluster.clients.helm import ChartRef, Release
from devcluster.clients.readiness import default_class_patches, is_default_class
from devcluster.config import Config
from devcluster.engine.steps import Context, Step
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError
from devcluster.local import hosts
from devcluster.stages import releases

if TYPE_CHECKING:
    from devcluster.local.tls import CertPair

# Where upstream's manifest (and kind) run local-path-provisioner; k3s runs its own in kube-system.
LOCAL_PATH_NAMESPACE = "local-path-storage"
LOCAL_PATH_DEPLOYMENT = "local-path-provisioner"
LocalPathLocation = tuple[str, str]  # (namespace, Deployment)
LOCAL_PATH_CLASS = "local-path"


# ---------------------------------------------------------------- pure decisions


def traefik_values(cfg: Config) -> dict[str, Any]:
    """NodePort Service on the configured ports and the default IngressClass `traefik`."""
    return {
        "service": {"type": "NodePort"},
        "ports": {
            "web": {"nodePort": cfg.node_ports.http},
            "websecure": {"nodePort": cfg.node_ports.https},
        },
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": cfg.addons.traefik.ingress_class},
        "providers": {"kubernetesIngress": {"enabled": True}, "kubernetesCRD": {"enabled": True}},
    }


def traefik_release(cfg: Config) -> Release:
    t = cfg.addons.traefik
    return Release(
        name=t.release, namespace=t.namespace,
        chart=ChartRef(t.chart, t.repo, t.version), generated=traefik_values(cfg), values=dict(t.values),
        # no `helm --wait` (it polls every 2 s): the rollout step waits for Traefik with a brisk probe, and the
        # steps in between run while it rolls out
        wait=False, timeout=cfg.timeouts.helm,
    )


def local_path_source(cfg: Config) -> str:
    return cfg.addons.local_path.manifest.replace("{version}", cfg.addons.local_path.version)


def tls_secret_data(pair: CertPair) -> dict[str, str]:
    return {
        "tls.crt": base64.b64encode(pair.cert_pem).decode(),
        "tls.key": base64.b64encode(pair.key_pem).decode(),
    }


def dockerconfigjson(server: str, username: str, password: str, email: str = "") -> dict[str, str]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    entry: dict[str, str] = {"username": username, "password": password, "auth": auth}
    if email:
        entry["email"] = email
    payload = json.dumps({"auths": {server: entry}}, sort_keys=True)
    return {".dockerconfigjson": base64.b64encode(payload.encode()).decode()}


def rewrite_line(hostname: str, target: str) -> str:
    return f"rewrite name exact {hostname} {target}"


def corefile_with_rewrite(corefile: str, hostname: str, target: str) -> str:
    """Add (or fix) the rewrite for ``hostname`` inside the root `.:53` server block."""
    line = rewrite_line(hostname, target)
    existing = re.compile(r"(?m)^([ \t]*)rewrite name exact " + re.escape(hostname) + r" \S+[ \t]*$")
    if existing.search(corefile):
        return existing.sub(lambda m: m.group(1) + line, corefile)
    m = re.search(r"(?m)^\.:53\s*\{[ \t]*\n", corefile)
    if not m:
        raise DevclusterError("the CoreDNS Corefile has no `.:53 {` server block to add a rewrite to")
    indent_m = re.match(r"[ \t]+", corefile[m.end() :])
    indent = indent_m.group(0) if indent_m else "    "
    return corefile[: m.end()] + f"{indent}{line}\n" + corefile[m.end() :]


def traefik_service_fqdn(cfg: Config) -> str:
    t = cfg.addons.traefik
    return f"{t.release}.{t.namespace}.svc.cluster.local"


# ---------------------------------------------------------------- probes: the checks, with what they saw
#
# A step's check is ``probe(ctx)[0]``; `status` shows the same probes (``status_probes``), so the two
# cannot disagree. Each only reads.

Probe = Callable[[Context], tuple[bool, str]]


def default_class_state(ctx: Context, classes: dict[str, dict[str, str]] | None = None) -> tuple[bool, str]:
    """`local-path` is the only default StorageClass; the detail names the defaults there are."""
    classes = ctx.kube().storage_class_annotations() if classes is None else classes
    defaults = [n for n, a in classes.items() if is_default_class(a)]
    return not default_class_patches(classes, LOCAL_PATH_CLASS), ", ".join(defaults) or "none"


def namespace_state(ctx: Context) -> tuple[bool, str]:
    ok = ctx.kube().read(f"/api/v1/namespaces/{ctx.config.namespace}") is not None
    return ok, ctx.config.namespace if ok else "missing"


def tls_state(ctx: Context) -> tuple[bool, str]:
    """The TLS secret holds a certificate for the hostname that is not about to expire."""
    secret = ctx.kube().read(f"/api/v1/namespaces/{ctx.config.namespace}/secrets/{ctx.config.tls_secret}")
    if secret is None:
        return False, "missing"
    if secret.get("type") != "kubernetes.io/tls":
        return False, str(secret.get("type"))
    cert = base64.b64decode((secret.get("data") or {}).get("tls.crt", ""))
    from devcluster.local import tls  # cryptography: loaded only when a certificate is read or made

    problem = tls.cert_problem(cert, ctx.config.hostname)
    return problem is None, problem or "kubernetes.io/tls"


def workload_probe(kind: str, namespace: str, name: str) -> Probe:
    return lambda ctx: ctx.kube().workload_status(kind, namespace, name)


def status_probes(cfg: Config, bundled_local_path: LocalPathLocation | None) -> dict[str, Probe]:
    """What `status` shows of the prerequisites: the probes their steps' checks are made of."""
    traefik, local_path = rollouts(cfg, bundled_local_path or (LOCAL_PATH_NAMESPACE, LOCAL_PATH_DEPLOYMENT))
    return {"traefik": workload_probe(*traefik), "local-path": workload_probe(*local_path),
            "default-storageclass": default_class_state, "namespace": namespace_state, "tls-secret": tls_state}


# ---------------------------------------------------------------- step bodies


def _local_path_done(ctx: Context) -> bool:
    kube = ctx.kube()
    if kube.read(f"/apis/apps/v1/namespaces/{LOCAL_PATH_NAMESPACE}/deployments/{LOCAL_PATH_DEPLOYMENT}") is None:
        return False
    classes = kube.storage_class_annotations()
    return LOCAL_PATH_CLASS in classes and default_class_state(ctx, classes)[0]


LOCAL_PATH_PROVISIONER = "rancher.io/local-path"


def local_path_class() -> dict[str, Any]:
    """The `local-path` StorageClass as upstream's manifest defines it, for a provisioner that is already there."""
    return {
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": LOCAL_PATH_CLASS, "labels": {"app.kubernetes.io/managed-by": "devcluster"}},
        "provisioner": LOCAL_PATH_PROVISIONER, "volumeBindingMode": "WaitForFirstConsumer",
        "reclaimPolicy": "Delete",
    }


def _bundled_local_path_done(ctx: Context) -> bool:
    kube = ctx.kube()
    sc = kube.read(f"/apis/storage.k8s.io/v1/storageclasses/{LOCAL_PATH_CLASS}")
    if sc is None or sc.get("provisioner") != LOCAL_PATH_PROVISIONER:
        return False
    return default_class_state(ctx)[0]


def _bundled_local_path_apply(ctx: Context) -> None:
    """kind already runs local-path-provisioner for `rancher.io/local-path` (behind its `standard` class):
    applying upstream's manifest over it would swap its image for ones pulled from Docker Hub."""
    kube = ctx.kube()
    kube.apply(local_path_class())
    _only_default_local_path(ctx)


def _only_default_local_path(ctx: Context) -> None:
    kube = ctx.kube()
    for name, patch in default_class_patches(kube.storage_class_annotations(), LOCAL_PATH_CLASS).items():
        kube.storage.patch_storage_class(name, patch)
        ctx.console.print(f"  StorageClass {name}: default -> {name == LOCAL_PATH_CLASS}")


def _local_path_apply(ctx: Context) -> None:
    data = fetch.fetch(local_path_source(ctx.config), ctx.state.path("cache"), ctx.config.addons.local_path.sha256)
    kube = ctx.kube()
    for obj in fetch.load_manifest(data):
        kube.apply(obj)
    _only_default_local_path(ctx)


def _namespace_done(ctx: Context) -> bool:
    return namespace_state(ctx)[0]


def _tls_pair(ctx: Context) -> CertPair:
    from devcluster.local import tls  # cryptography: loaded only when a certificate is read or made

    return tls.load_or_create(ctx.state.root, ctx.config.hostname)


def _tls_done(ctx: Context) -> bool:
    return tls_state(ctx)[0]


def _tls_apply(ctx: Context) -> None:
    ctx.kube().upsert_secret(ctx.config.namespace, ctx.config.tls_secret, "kubernetes.io/tls",
                             tls_secret_data(_tls_pair(ctx)))


def _pull_secret_data(cfg: Config) -> dict[str, str]:
    ps = cfg.pull_secret
    password = os.environ.get(ps.password_env, "")
    if not password:
        raise DevclusterError(
            f"pull_secret.name is set but ${ps.password_env} is empty",
            f"export {ps.password_env}=<registry password or token>",
        )
    return dockerconfigjson(ps.server, ps.username, password, ps.email)


def _pull_secret_done(ctx: Context) -> bool:
    kube = ctx.kube()
    secret = kube.read(f"/api/v1/namespaces/{ctx.config.namespace}/secrets/{ctx.config.pull_secret.name}")
    return secret is not None and (secret.get("data") or {}) == _pull_secret_data(ctx.config)


def _pull_secret_apply(ctx: Context) -> None:
    ctx.kube().upsert_secret(ctx.config.namespace, ctx.config.pull_secret.name,
                             "kubernetes.io/dockerconfigjson", _pull_secret_data(ctx.config))


def _corefile(ctx: Context) -> tuple[Any, str]:
    kube = ctx.kube()
    cm = kube.read("/api/v1/namespaces/kube-system/configmaps/coredns")
    if cm is None:
        raise DevclusterError("ConfigMap kube-system/coredns not found", "set addons.coredns_rewrite: false")
    return cm, (cm.get("data") or {}).get("Corefile", "")


def _coredns_done(ctx: Context) -> bool:
    _, corefile = _corefile(ctx)
    return rewrite_line(ctx.config.hostname, traefik_service_fqdn(ctx.config)) in corefile


def _coredns_apply(ctx: Context) -> None:
    _, corefile = _corefile(ctx)
    new = corefile_with_rewrite(corefile, ctx.config.hostname, traefik_service_fqdn(ctx.config))
    ctx.kube().core.patch_namespaced_config_map("coredns", "kube-system", {"data": {"Corefile": new}})


def rollouts(cfg: Config, local_path: LocalPathLocation) -> list[tuple[str, str, str]]:
    return [
        ("Deployment", cfg.addons.traefik.namespace, cfg.addons.traefik.release),
        ("Deployment", *local_path),
    ]


def rollout_step(cfg: Config, local_path: LocalPathLocation) -> Step:
    workloads = rollouts(cfg, local_path)

    def done(ctx: Context) -> bool:
        return all(workload_probe(*w)(ctx)[0] for w in workloads)

    def wait(ctx: Context) -> None:
        def probe() -> tuple[bool, str]:
            states = [(f"{ns}/{name}", ctx.kube().workload_status(kind, ns, name)) for kind, ns, name in workloads]
            return all(ok for _, (ok, _) in states), "; ".join(f"{n}: {d}" for n, (_, d) in states)

        wait_for("Traefik and local-path-provisioner to roll out", probe, timeout=ctx.config.timeouts.rollout,
                 console=ctx.console, hint="kubectl get pods -A; then devcluster logs --collect DIR")

    return Step("rollout", "wait until Traefik and local-path-provisioner "
                f"({local_path[0]}/{local_path[1]}) are rolled out", wait, done)


def desired_hosts_entries(ctx: Context) -> list[hosts.Entry]:
    return [hosts.validate_entry(ctx.provider.ingress_address(), [ctx.config.hostname])]


def _hosts_done(ctx: Context) -> bool:
    hf = hosts.hosts_file_for(ctx.config, ctx.state.root)
    return hf.show(ctx.config.name) == desired_hosts_entries(ctx)


def _hosts_apply(ctx: Context) -> None:
    hf = hosts.hosts_file_for(ctx.config, ctx.state.root)
    hf.add(ctx.config.name, desired_hosts_entries(ctx))
    for msg in hf.messages:
        ctx.console.print(f"  {escape(msg)}")


def local_path_step(cfg: Config, bundled: LocalPathLocation | None) -> Step:
    if bundled is not None:
        return Step("local-path-storage",
                    "add the `local-path` StorageClass for the cluster's own local-path-provisioner "
                    f"({LOCAL_PATH_PROVISIONER}, no new images) and make it the only default StorageClass",
                    _bundled_local_path_apply, _bundled_local_path_done)
    return Step("local-path-storage",
                f"apply local-path-provisioner {cfg.addons.local_path.version} and make `local-path` the only "
                "default StorageClass",
                _local_path_apply, _local_path_done,
                hint="offline? set addons.local_path.manifest to a local copy")


def prerequisite_steps(cfg: Config, ingress_address: str,
                       bundled_local_path: LocalPathLocation | None = None) -> list[Step]:
    """``ingress_address``: where the provider's NodePorts are reached from this machine (the hosts entry);
    ``bundled_local_path``: where the provider's clusters already run local-path-provisioner (kind, k3s)."""
    rel = traefik_release(cfg)
    steps = [
        local_path_step(cfg, bundled_local_path),
        Step("traefik",
             f"helm upgrade --install Traefik chart {rel.chart.version} in {rel.namespace}: NodePort "
             f"{cfg.node_ports.http}/{cfg.node_ports.https}, default IngressClass traefik",
             lambda ctx: releases.release_install(ctx, rel), lambda ctx: releases.release_done(ctx, rel),
             hint=f"helm status {rel.name} -n {rel.namespace}; offline? point addons.traefik.chart at a local "
                  "chart and set addons.traefik.repo to ''"),
        Step("namespace", f"create namespace {cfg.namespace}",
             lambda ctx: ctx.kube().ensure_namespace(ctx.config.namespace), _namespace_done),
        Step("tls-secret",
             f"secret {cfg.namespace}/{cfg.tls_secret} (kubernetes.io/tls) for {cfg.hostname} and "
             f"*.{cfg.hostname}, reused across runs", _tls_apply, _tls_done),
    ]
    if cfg.pull_secret.name:
        steps.append(Step("pull-secret",
                          f"docker-registry secret {cfg.namespace}/{cfg.pull_secret.name} for "
                          f"{cfg.pull_secret.server}", _pull_secret_apply, _pull_secret_done))
    if cfg.addons.coredns_rewrite:
        steps.append(Step("coredns-rewrite",
                          f"CoreDNS: resolve {cfg.hostname} to {traefik_service_fqdn(cfg)} inside the cluster",
                          _coredns_apply, _coredns_done))
    steps.append(rollout_step(cfg, bundled_local_path or (LOCAL_PATH_NAMESPACE, LOCAL_PATH_DEPLOYMENT)))
    if cfg.hosts.manage:
        steps.append(Step("hosts", f"managed block in {cfg.hosts.file}: {ingress_address} {cfg.hostname}",
                          _hosts_apply, _hosts_done,
                          hint="set hosts.manage: false to skip, or `devcluster hosts add` by hand"))
    return steps
