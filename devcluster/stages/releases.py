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
from devcluster.clients.helm import ChartRef, Helm, Release
from devcluster.engine.steps import Context

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
    helm.upgrade_install(installed)
    status = helm.status(rel.name, rel.namespace) or {}
    previous = record(ctx, rel.name)
    records = ctx.state.read_json(RELEASES_FILE)
    records[rel.name] = {"digest": rel.digest(), "revision": status.get("version"), "namespace": rel.namespace,
                         **extra}
    ctx.state.write_json(RELEASES_FILE, records)
    return previous


def forget(ctx: Context, names: list[str]) -> None:
    records = ctx.state.read_json(RELEASES_FILE)
    for name in names:
        records.pop(name, None)
    ctx.state.write_json(RELEASES_FILE, records)
