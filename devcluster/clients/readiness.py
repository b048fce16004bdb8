"""When an API object is ready: pure functions of the JSON the server sends.

Shared by the `up` steps, `status` and the E2E suite, and tested without a cluster. They read plain
dicts (Kube.read / Kube.list), not the client's typed models, which cost a second or more to import
(docs/performance.md).
"""

from __future__ import annotations

from typing import Any

DEFAULT_SC_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def node_is_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def rollout_status(obj: dict[str, Any]) -> tuple[bool, str]:
    """Deployment/StatefulSet readiness as `kubectl rollout status` judges it."""
    spec = obj.get("spec") or {}
    spec_replicas = spec.get("replicas") if spec.get("replicas") is not None else 1
    st = obj.get("status")
    if not st:
        return False, "no status yet"
    if (st.get("observedGeneration") or 0) < ((obj.get("metadata") or {}).get("generation") or 0):
        return False, "spec change not yet observed"
    updated = st.get("updatedReplicas") or 0
    ready = st.get("readyReplicas") or 0
    # StatefulSets report availableReplicas too since 1.22; older objects may lack it.
    available = st.get("availableReplicas", ready) or 0
    ok = updated >= spec_replicas and ready >= spec_replicas and available >= spec_replicas
    return ok, f"{ready}/{spec_replicas} ready, {updated} updated"


def job_status(job: dict[str, Any]) -> tuple[bool | None, str]:
    """(True done, False failed, None running) for a Job."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Complete" and cond.get("status") == "True":
            return True, "complete"
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return False, f"failed: {cond.get('reason') or ''} {cond.get('message') or ''}".strip()
    return None, f"{status.get('active') or 0} active"


def is_default_class(annotations: dict[str, str]) -> bool:
    return any(annotations.get(k) == "true" for k in DEFAULT_SC_ANNOTATIONS)


def default_class_patches(classes: dict[str, dict[str, str]], desired: str) -> dict[str, dict[str, Any]]:
    """Annotation patches that leave ``desired`` the only default StorageClass.

    ``classes`` maps class name to its annotations. kind ships ``standard`` as
    a default; two defaults make PVC binding depend on admission order.
    """
    patches: dict[str, dict[str, Any]] = {}
    for name, annots in classes.items():
        want = "true" if name == desired else "false"
        current = {k: annots.get(k) for k in DEFAULT_SC_ANNOTATIONS}
        if name == desired and current[DEFAULT_SC_ANNOTATIONS[0]] != "true":
            patches[name] = {"metadata": {"annotations": {DEFAULT_SC_ANNOTATIONS[0]: want}}}
        elif name != desired and is_default_class(annots):
            patches[name] = {"metadata": {"annotations": dict.fromkeys(
                [k for k, v in current.items() if v is not None], "false")}}
    return patches

