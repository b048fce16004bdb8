"""What to look at when something is not ready: a short report for errors, a tarball for CI."""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from devcluster.clients.kube import Kube

DEFAULT_NAMESPACES = ("forail", "forail-operator", "traefik", "local-path-storage", "kube-system", "kube-flannel")


def container_state(cs: Any) -> str:
    st = cs.state
    if st is None:
        return "unknown"
    if st.waiting is not None:
        return f"waiting: {st.waiting.reason or ''} {st.waiting.message or ''}".strip()
    if st.terminated is not None:
        return f"terminated: {st.terminated.reason or ''} exit {st.terminated.exit_code}"
    return "running" + ("" if cs.ready else " (not ready)")


def pod_problems(pods: list[Any]) -> list[tuple[str, str, list[str]]]:
    """(pod, phase, [container states]) for pods that are neither Succeeded nor fully ready."""
    out = []
    for pod in pods:
        phase = pod.status.phase if pod.status else "Unknown"
        statuses = list((pod.status.init_container_statuses or []) + (pod.status.container_statuses or [])) \
            if pod.status else []
        if phase == "Succeeded":
            continue
        if phase == "Running" and all(cs.ready for cs in (pod.status.container_statuses or [])):
            continue
        out.append((pod.metadata.name, phase, [f"{cs.name}: {container_state(cs)}" for cs in statuses]))
    return out


def not_ready_report(kube: Kube, namespace: str, events_per_pod: int = 3) -> str:
    try:
        pods = kube.core.list_namespaced_pod(namespace, _request_timeout=15).items
        events = kube.core.list_namespaced_event(namespace, _request_timeout=15).items
    except Exception as exc:
        return f"(could not read pods in {namespace}: {exc})"
    lines = []
    for name, phase, states in pod_problems(pods):
        lines.append(f"  pod {namespace}/{name}: {phase}")
        lines += [f"    {s}" for s in states]
        mine = [e for e in events if e.involved_object and e.involved_object.name == name]
        mine.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        for e in mine[-events_per_pod:]:
            lines.append(f"    event {e.type} {e.reason}: {e.message}")
    return "\n".join(lines) if lines else f"  (every pod in {namespace} is ready or completed)"


def _dump(kube: Kube, obj: Any) -> str:
    return yaml.safe_dump(kube.api_client.sanitize_for_serialization(obj), sort_keys=False)


def collect(kube: Callable[[], Kube], dest_dir: Path, namespaces: tuple[str, ...] = DEFAULT_NAMESPACES,
            helm_releases: list[dict[str, Any]] | None = None, helm_status: Any = None,
            host_logs: Callable[[Path], list[str]] | None = None) -> Path:
    """Write pods' logs, events, object descriptions, helm status, node info and the provider's host-side
    logs (VM consoles) into a tarball. An unreachable cluster is noted, not fatal: the host-side logs are
    what explains a cluster that never came up."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    root = dest_dir / f"devcluster-logs-{stamp}"
    root.mkdir(parents=True, exist_ok=True)
    if host_logs is not None:
        try:
            host_logs(root)
        except Exception as exc:  # best effort: each collector fails alone
            (root / "host-logs-error.txt").write_text(f"{type(exc).__name__}: {exc}\n")
    try:
        _collect_cluster(kube(), root, namespaces, helm_releases, helm_status)
    except Exception as exc:
        (root / "cluster-unreachable.txt").write_text(f"{type(exc).__name__}: {exc}\n")
    tarball = dest_dir / f"{root.name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return tarball


def _collect_cluster(kube: Kube, root: Path, namespaces: tuple[str, ...],
                     helm_releases: list[dict[str, Any]] | None, helm_status: Any) -> None:
    nodes = kube.core.list_node(_request_timeout=30)
    (root / "nodes.yaml").write_text(_dump(kube, nodes))
    existing = {ns.metadata.name for ns in kube.core.list_namespace(_request_timeout=30).items}
    for ns in namespaces:
        if ns not in existing:
            continue
        nsdir = root / ns
        nsdir.mkdir(exist_ok=True)
        pods = kube.core.list_namespaced_pod(ns, _request_timeout=30)
        (nsdir / "pods.yaml").write_text(_dump(kube, pods))
        events = kube.core.list_namespaced_event(ns, _request_timeout=30).items
        events.sort(key=lambda e: str(e.last_timestamp or e.event_time or e.metadata.creation_timestamp))
        (nsdir / "events.txt").write_text("".join(
            f"{e.last_timestamp or e.event_time} {e.type} {e.involved_object.kind}/{e.involved_object.name} "
            f"{e.reason}: {e.message}\n" for e in events))
        for lister, fname in ((kube.apps.list_namespaced_deployment, "deployments.yaml"),
                              (kube.apps.list_namespaced_stateful_set, "statefulsets.yaml"),
                              (kube.batch.list_namespaced_job, "jobs.yaml"),
                              (kube.core.list_namespaced_persistent_volume_claim, "pvcs.yaml"),
                              (kube.core.list_namespaced_service, "services.yaml"),
                              (kube.networking.list_namespaced_ingress, "ingresses.yaml")):
            (nsdir / fname).write_text(_dump(kube, lister(ns, _request_timeout=30)))
        for pod in pods.items:
            containers = [c.name for c in (pod.spec.init_containers or []) + pod.spec.containers]
            for c in containers:
                for previous in (False, True):
                    try:
                        text = kube.core.read_namespaced_pod_log(pod.metadata.name, ns, container=c,
                                                                 previous=previous, tail_lines=5000,
                                                                 _request_timeout=30)
                    except Exception as exc:
                        if previous:
                            continue
                        text = f"(no log: {exc})"
                    suffix = ".previous.log" if previous else ".log"
                    (nsdir / f"{pod.metadata.name}.{c}{suffix}").write_text(text or "")
    if helm_releases is not None:
        (root / "helm-releases.json").write_text(json.dumps(helm_releases, indent=2))
        if helm_status is not None:
            for rel in helm_releases:
                try:
                    st = helm_status(rel["name"], rel["namespace"])
                except Exception as exc:
                    st = {"error": str(exc)}
                if isinstance(st, dict):
                    st.pop("config", None)  # user-supplied values: may hold secrets
                    st.pop("manifest", None)
                (root / f"helm-status-{rel['namespace']}-{rel['name']}.json").write_text(
                    json.dumps(st, indent=2, default=str))
