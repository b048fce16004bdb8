"""The fake API server refuses what kube-apiserver refuses, so client-boundary tests can catch real bugs.

Behaviour follows the Kubernetes API conventions: optimistic concurrency on update (409), immutable
fields (422 Invalid), server-side apply with field managers (409 on a conflict unless forced). Checked with
the official kubernetes client, as devcluster talks to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from devcluster.clients.access import ClusterAccess
from devcluster.clients.kube import FIELD_MANAGER, Kube
from tests.fakeapi import FakeApiServer


@pytest.fixture
def kube(fake_api: FakeApiServer, tmp_path: Path) -> Kube:
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    return Kube(ClusterAccess(fake_api.write_kubeconfig(tmp_path / "kc")))


def secret(name: str, secret_type: str, data: dict[str, str], rv: str | None = None) -> client.V1Secret:
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name, namespace="ns", resource_version=rv),
                           type=secret_type, data=data)


def test_update_with_a_stale_resource_version_is_a_conflict(kube: Kube) -> None:
    created = kube.core.create_namespaced_secret("ns", secret("s", "Opaque", {"a": "MQ=="}))
    kube.core.replace_namespaced_secret("s", "ns", secret("s", "Opaque", {"a": "Mg=="}))
    with pytest.raises(ApiException) as err:
        kube.core.replace_namespaced_secret("s", "ns", secret("s", "Opaque", {"a": "Mw=="},
                                                              created.metadata.resource_version))
    assert err.value.status == 409


def test_a_secrets_type_is_immutable(kube: Kube) -> None:
    kube.core.create_namespaced_secret("ns", secret("s", "Opaque", {"a": "MQ=="}))
    with pytest.raises(ApiException) as err:
        kube.core.replace_namespaced_secret("s", "ns", secret("s", "kubernetes.io/tls", {"a": "MQ=="}))
    assert err.value.status == 422 and "field is immutable" in err.value.body


def test_a_deployments_selector_is_immutable(kube: Kube) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
           "spec": {"selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": []}}}}
    kube.apps.create_namespaced_deployment("ns", dep)
    with pytest.raises(ApiException) as err:
        kube.apps.patch_namespaced_deployment("d", "ns", {"spec": {"selector": {"matchLabels": {"app": "b"}}}})
    assert err.value.status == 422


def test_upsert_secret_recreates_a_secret_whose_type_changes(kube: Kube) -> None:
    """Against an API that refuses the type change, devcluster must delete and create again."""
    kube.upsert_secret("ns", "tls", "Opaque", {"a": "MQ=="})
    assert kube.upsert_secret("ns", "tls", "kubernetes.io/tls", {"tls.crt": "Yw==", "tls.key": "aw=="}) is True
    assert kube.read("/api/v1/namespaces/ns/secrets/tls")["type"] == "kubernetes.io/tls"


CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"},
              "data": {"key": "theirs"}}


def test_apply_conflicts_with_another_managers_field_unless_forced(kube: Kube) -> None:
    resource = kube.dynamic.resources.get(api_version="v1", kind="ConfigMap")
    kube.dynamic.server_side_apply(resource, body=CONFIG_MAP, namespace="ns", field_manager="kubectl")
    mine = {**CONFIG_MAP, "data": {"key": "mine"}}
    with pytest.raises(ApiException) as err:
        kube.dynamic.server_side_apply(resource, body=mine, namespace="ns", field_manager="other",
                                       force_conflicts=False)
    assert err.value.status == 409
    assert 'conflict with "kubectl": .data.key' in json.loads(err.value.body)["message"]
    kube.dynamic.server_side_apply(resource, body=mine, namespace="ns", field_manager="other", force_conflicts=True)
    managed = kube.read("/api/v1/namespaces/ns/configmaps/cm")["metadata"]["managedFields"]
    assert [m["manager"] for m in managed if "f:data" in m["fieldsV1"]] == ["other"]


def test_apply_without_a_field_manager_is_refused(fake_api: FakeApiServer, kube: Kube) -> None:
    import urllib.request

    req = urllib.request.Request(f"{fake_api.url}/api/v1/namespaces/ns/configmaps/cm", method="PATCH",
                                 data=b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}',
                                 headers={"Content-Type": "application/apply-patch+yaml"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 400


def test_devclusters_apply_takes_fields_over_as_its_own_manager(kube: Kube) -> None:
    """Kube.apply must win over fields another tool set (force) and own them as `devcluster`, so a later
    apply of a changed manifest is not refused."""
    resource = kube.dynamic.resources.get(api_version="v1", kind="ConfigMap")
    kube.dynamic.server_side_apply(resource, body=CONFIG_MAP, namespace="ns", field_manager="kubectl")
    kube.apply({**CONFIG_MAP, "data": {"key": "devcluster's"}})
    cm = kube.read("/api/v1/namespaces/ns/configmaps/cm")
    assert cm["data"]["key"] == "devcluster's"
    assert [m["manager"] for m in cm["metadata"]["managedFields"] if "f:data" in m["fieldsV1"]] == [FIELD_MANAGER]
