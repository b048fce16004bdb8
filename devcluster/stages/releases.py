"""Helm releases as steps: is the desired release installed, and install it when not.

The check compares a digest of the release's *inputs* (chart source, its content for a local chart,
every values layer) with the digest recorded after the last successful install, plus helm's own word
that that revision is deployed. It never clones, generates or writes anything: resolving a git source
(a clone) happens only in the action.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from devcluster.clients.charts import ensure_dependencies
from devcluster.clients.helm import PENDING, ChartRef, Helm, Release
from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError
from devcluster.local import clusterlock

RELEASES_FILE = "releases.json"


def helm_for(ctx: Context) -> Helm:
    """helm pointed at the provider's kubeconfig/context, working in the state dir (values files)."""
    return Helm(ctx.provider.access(), ctx.state.root)


def record(ctx: Context, name: str) -> dict[str, Any]:
    return dict(ctx.state.read_json(RELEASES_FILE).get(name) or {})


def deployed_revision(ctx: Context, name: str, namespace: str) -> int | None:
    """The revision helm last deployed, read from helm's own release records (Secrets labelled
    owner=helm, name=<release>, status=..., version=...): one API read instead of a `helm status` process."""
    secrets = ctx.kube().list(f"/api/v1/namespaces/{namespace}/secrets", f"owner=helm,name={name}")
    labels = [s["metadata"].get("labels") or {} for s in secrets]
    revisions = [(int(lb.get("version", 0)), lb.get("status")) for lb in labels]
    if not revisions:
        return None
    version, status = max(revisions)
    return version if status == "deployed" else None


def release_done(ctx: Context, rel: Release) -> bool:
    """Deployed, at the revision we installed, from the same inputs."""
    rec = record(ctx, rel.name)
    if not rec or rec.get("digest") != rel.digest():
        return False
    return deployed_revision(ctx, rel.name, rel.namespace) == rec.get("revision")


def release_install(ctx: Context, rel: Release, chart: ChartRef | None = None, **extra: Any) -> dict[str, Any]:
    """helm upgrade --install ``rel`` (from ``chart`` when its source had to be resolved first), then record
    the digest of its inputs and the revision helm made; ``extra`` is kept in the record too."""
    helm = helm_for(ctx)
    installed = replace(rel, chart=chart) if chart is not None else rel
    ensure_dependencies(installed.chart, helm.binary)
    recover_crashed(ctx, helm, rel)
    helm.upgrade_install(installed)
    status = helm.status(rel.name, rel.namespace) or {}
    previous = record(ctx, rel.name)
    records = ctx.state.read_json(RELEASES_FILE)
    records[rel.name] = {"digest": rel.digest(), "revision": status.get("version"), "namespace": rel.namespace,
                         **extra}
    ctx.state.write_json(RELEASES_FILE, records)
    return previous


def recover_crashed(ctx: Context, helm: Helm, rel: Release) -> None:
    """A release helm left pending-* blocks every later upgrade. Holding the cluster's lock, this run knows no
    other devcluster run is installing: the pending operation is a dead one's, and is undone. Without the lock
    it may be live, so nothing is touched."""
    status = helm.status(rel.name, rel.namespace)
    state = (status or {}).get("info", {}).get("status")
    if status is None or state not in PENDING:
        return
    if not clusterlock.held(ctx.state.root):
        raise DevclusterError(
            f"release {rel.name} is {state} (revision {status.get('version')}): a helm operation on it is running "
            "or died mid-way",
            "devcluster undoes a crashed one only in a run holding the cluster's lock: `devcluster up`")
    ctx.console.print(f"  [yellow]recovering[/yellow] {helm.recover(rel.name, rel.namespace, status, rel.timeout)}")


def forget(ctx: Context, names: list[str]) -> None:
    records = ctx.state.read_json(RELEASES_FILE)
    for name in names:
        records.pop(name, None)
    ctx.state.write_json(RELEASES_FILE, records)
