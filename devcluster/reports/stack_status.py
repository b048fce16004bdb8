"""`devcluster stack status`: each stack release as helm and its workloads report it, read-only."""

from __future__ import annotations

from typing import Any

from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError
from devcluster.stages.releases import helm_for
from devcluster.stages.stack import release_workloads_probe


def _chart(status: dict[str, Any]) -> str:
    meta = (status.get("chart") or {}).get("metadata", {})
    return f"{meta.get('name', '')}-{meta.get('version', '')}".strip("-")


def gather(ctx: Context) -> list[dict[str, Any]]:
    """One row per release: helm's status, revision and chart, and whether its workloads are ready."""
    helm = helm_for(ctx)
    rows = []
    for rel in ctx.config.stack.releases:
        st = helm.status(rel.name, rel.namespace)
        row: dict[str, Any] = {"release": rel.name, "namespace": rel.namespace,
                               "status": (st or {}).get("info", {}).get("status", "not installed"),
                               "revision": (st or {}).get("version"), "chart": _chart(st or {})}
        if st is not None:
            try:
                ready, detail = release_workloads_probe(ctx, rel)
            except DevclusterError as exc:
                ready, detail = False, exc.message
            row.update(ready=ready, detail=detail)
        else:
            row.update(ready=False, detail="")
        rows.append(row)
    return rows


def healthy(rows: list[dict[str, Any]]) -> bool:
    return all(r["status"] == "deployed" and r["ready"] for r in rows)
