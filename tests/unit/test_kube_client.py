"""devcluster's Kubernetes client against a fake API that refuses what kube-apiserver refuses.

tests/fakeapi.py rejects changes to immutable fields (422) and server-side apply conflicts between field
managers (409 unless forced); these check that devcluster's own writes cope with both, as on a cluster.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.clients.access import ClusterAccess
from devcluster.clients.kube import FIELD_MANAGER, Kube
from tests.fakeapi import FakeApiServer

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"},
              "data": {"key": "theirs"}}


@pytest.fixture
def kube(fake_api: FakeApiServer, tmp_path: Path) -> Kube:
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    return Kube(ClusterAccess(fake_api.write_kubeconfig(tmp_path / "kc")))


def test_upsert_secret_recreates_a_secret_whose_type_changes(kube: Kube) -> None:
    """The API refuses the type change (immutable): devcluster must delete and create again."""
    kube.upsert_secret("ns", "tls", "Opaque", {"a": "MQ=="})
    assert kube.upsert_secret("ns", "tls", "kubernetes.io/tls", {"tls.crt": "Yw==", "tls.key": "aw=="}) is True
    secret = kube.read("/api/v1/namespaces/ns/secrets/tls")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"


def test_devclusters_apply_takes_fields_over_as_its_own_manager(kube: Kube) -> None:
    """Kube.apply must win over fields another tool set (force) and own them as `devcluster`, so a later
    apply of a changed manifest is not refused."""
    resource = kube.dynamic.resources.get(api_version="v1", kind="ConfigMap")
    kube.dynamic.server_side_apply(resource, body=CONFIG_MAP, namespace="ns", field_manager="kubectl")
    kube.apply({**CONFIG_MAP, "data": {"key": "devcluster's"}})
    cm = kube.read("/api/v1/namespaces/ns/configmaps/cm")
    assert cm is not None and cm["data"]["key"] == "devcluster's"
    data_owners = [m["manager"] for m in cm["metadata"]["managedFields"] if "f:data" in m["fieldsV1"]]
    assert data_owners == [FIELD_MANAGER]


def _pod(name: str, ready: bool, terminating: bool = False) -> dict:  # type: ignore[type-arg]
    meta: dict = {"name": name, "namespace": "ns", "labels": {"app": "web"}}  # type: ignore[type-arg]
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "status": {"phase": "Running", "containerStatuses": [{"name": "web", "ready": ready}]}}


def test_running_pod_for_reads_json_and_picks_the_ready_pod_that_is_not_going_away(kube: Kube,
                                                                                   fake_api: FakeApiServer) -> None:
    fake_api.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}}}})
    for pod in (_pod("a-starting", ready=False), _pod("b-leaving", ready=True, terminating=True),
                _pod("c-serving", ready=True)):
        fake_api.put(pod)
    assert kube.running_pod_for("ns", "web") == "c-serving"
    with pytest.raises(Exception, match="Deployment ns/missing not found"):
        kube.running_pod_for("ns", "missing")


def test_an_unchanged_secret_and_an_existing_namespace_are_only_read(kube: Kube, fake_api: FakeApiServer) -> None:
    kube.upsert_secret("ns", "s", "Opaque", {"a": "MQ=="})
    before = len(fake_api.requests)
    assert kube.upsert_secret("ns", "s", "Opaque", {"a": "MQ=="}) is False
    assert kube.ensure_namespace("ns") is False
    assert [r[0] for r in fake_api.requests[before:]] == ["GET", "GET"]


def test_restart_deployments_stamps_each_matching_deployment(kube: Kube, fake_api: FakeApiServer) -> None:
    for name, labels in (("web", {"app.kubernetes.io/instance": "forail"}), ("other", {})):
        fake_api.put({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": name, "namespace": "ns", "labels": labels},
                      "spec": {"selector": {"matchLabels": {"app": name}},
                               "template": {"metadata": {"labels": {"app": name}},
                                            "spec": {"containers": [{"name": name, "image": "web:1"}]}}}})
    assert kube.restart_deployments("ns", "app.kubernetes.io/instance=forail") == ["web"]
    web = fake_api.get("apps/v1", "deployments", "web", "ns")
    assert web is not None and "kubectl.kubernetes.io/restartedAt" in web["spec"]["template"]["metadata"]["annotations"]
    other = fake_api.get("apps/v1", "deployments", "other", "ns")
    assert other is not None and not (other["spec"]["template"]["metadata"].get("annotations"))
