"""What tests/fakeapi.py serves so the real helm runs against it, as kube-apiserver 1.30 does (issue 16.2)."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

from tests import fakeproto
from tests.fakeapi import FakeApiServer


def get(api: FakeApiServer, path: str) -> Any:
    with urllib.request.urlopen(api.url + path, timeout=10) as resp:
        return json.loads(resp.read())


def test_openapi_v3_tells_clients_the_server_validates_fields(fake_api: FakeApiServer) -> None:
    """Without it helm and kubectl fall back to /openapi/v2 schema validation and fail to download it."""
    root = get(fake_api, "/openapi/v3")
    doc = get(fake_api, root["paths"]["apis/apps/v1"]["serverRelativeURL"])
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][2].items()
    assert "api/v1" in root["paths"]


def proto_secret(name: str, labels: dict[str, str], data: dict[str, bytes]) -> bytes:
    f = fakeproto.encode_field
    meta = f(1, name.encode()) + b"".join(f(11, f(1, k.encode()) + f(2, v.encode())) for k, v in labels.items())
    entries = b"".join(f(2, f(1, k.encode()) + f(2, v)) for k, v in data.items())
    body = f(1, meta) + entries + f(3, b"helm.sh/release.v1")
    return fakeproto.MAGIC + f(1, f(1, b"v1") + f(2, b"Secret")) + f(2, body)


def test_a_protobuf_secret_is_stored_like_its_json(fake_api: FakeApiServer) -> None:
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    raw = proto_secret("sh.helm.release.v1.rel.v1", {"owner": "helm", "status": "deployed"}, {"release": b"\xe5\x00"})
    req = urllib.request.Request(fake_api.url + "/api/v1/namespaces/ns/secrets", data=raw, method="POST",
                                 headers={"Content-Type": "application/vnd.kubernetes.protobuf"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
    stored = fake_api.get("v1", "secrets", "sh.helm.release.v1.rel.v1", "ns")
    assert stored is not None and stored["metadata"]["labels"] == {"owner": "helm", "status": "deployed"}
    assert base64.b64decode(stored["data"]["release"]) == b"\xe5\x00" and stored["type"] == "helm.sh/release.v1"


def test_a_deployment_gets_a_replica_set_it_controls(fake_api: FakeApiServer) -> None:
    """helm --wait reads a Deployment's new ReplicaSet: the one it controls with the same pod template."""
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "x"}]}}
    dep = fake_api.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
                        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": template}})
    listed = get(fake_api, "/apis/apps/v1/namespaces/ns/replicasets?labelSelector=app%3Dweb")["items"]
    assert len(listed) == 1
    rs = listed[0]
    assert rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]
    assert rs["status"]["readyReplicas"] == 2
    labels = rs["spec"]["template"]["metadata"]["labels"]
    assert labels.pop("pod-template-hash") and rs["spec"]["template"] == template
