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
