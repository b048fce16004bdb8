"""The fake API server refuses what kube-apiserver 1.30 refuses, in the real server's words.

Client-boundary tests are only as good as the server they talk to: a fake that takes a stale update, an
immutable-field change or a conflicting server-side apply lets the bug through that a real cluster would stop.
Each behaviour is checked with the official kubernetes client where it has a method for the call (that is how
devcluster talks to a cluster), with raw HTTP where it does not; nothing here imports devcluster, so these tests
describe the fake alone.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from tests.fakeapi import FakeApiServer

NS = "ns"


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[FakeApiServer, client.ApiClient]]]:
    """Start a fake (with the given options) holding namespace `ns`, and a kubernetes client for it."""
    started: list[FakeApiServer] = []

    def start(**options: Any) -> tuple[FakeApiServer, client.ApiClient]:
        server = FakeApiServer(**options).start()
        started.append(server)
        server.put(namespace(NS))
        kubeconfig = server.write_kubeconfig(tmp_path / f"kc{len(started)}")
        return server, config.new_client_from_config(config_file=str(kubeconfig))

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def api(serve: Callable[..., tuple[FakeApiServer, client.ApiClient]]) -> tuple[FakeApiServer, client.ApiClient]:
    return serve()


def raw(server: FakeApiServer, method: str, path: str, body: Any = None, content_type: str = "application/json",
        headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """One request without the kubernetes client: (status, body as JSON or text, content type)."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req) as resp:
            code, payload, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as err:
        code, payload, ctype = err.code, err.read(), err.headers.get("Content-Type", "")
    return code, (json.loads(payload) if "json" in ctype else payload.decode()), ctype


def error(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    return body


def secret(name: str, data: dict[str, str], secret_type: str = "Opaque", rv: str | None = None) -> client.V1Secret:
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name, namespace=NS, resource_version=rv),
                           type=secret_type, data=data)


def deployment(name: str = "d", app: str = "a", image: str = "web:1", replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}}


CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "widgets.example.com"},
       "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                              "schema": {"openAPIV3Schema": {"type": "object",
                                                             "x-kubernetes-preserve-unknown-fields": True}}}]}}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": NS},
          "spec": {"size": 1}}
WIDGETS = f"/apis/example.com/v1/namespaces/{NS}/widgets"


# ---------------------------------------------------------------- 1. optimistic concurrency


def test_an_update_with_a_stale_resource_version_is_a_conflict_and_one_without_is_unconditional(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_secret(NS, secret("s", {"a": "MQ=="}))
    core.replace_namespaced_secret("s", NS, secret("s", {"a": "Mg=="}))  # no resourceVersion: unconditional
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_secret("s", NS, secret("s", {"a": "Mw=="}, rv=created.metadata.resource_version))
    assert err.value.status == 409
    assert error(err)["reason"] == "Conflict"
    assert error(err)["message"] == ('Operation cannot be fulfilled on secrets "s": the object has been modified; '
                                     "please apply your changes to the latest version and try again")
    current = core.read_namespaced_secret("s", NS)
    core.replace_namespaced_secret("s", NS, secret("s", {"a": "Mw=="}, rv=current.metadata.resource_version))


def test_custom_resources_and_crds_refuse_an_update_without_resource_version(api) -> None:  # type: ignore[no-untyped-def]
    """Their strategies' AllowUnconditionalUpdate is false (apiextensions-apiserver registry)."""
    server, k8s = api
    client.ApiextensionsV1Api(k8s).create_custom_resource_definition(CRD)
    assert raw(server, "POST", WIDGETS, WIDGET)[0] == 201
    code, body, _ = raw(server, "PUT", f"{WIDGETS}/w", {**WIDGET, "spec": {"size": 2}})
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('widgets.example.com "w" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                               "must be specified for an update")
    code, body, _ = raw(server, "PUT", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
                        CRD)
    assert code == 422


# ---------------------------------------------------------------- 2. immutable fields


def test_a_secrets_type_is_immutable_for_put_and_patch(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    core = client.CoreV1Api(k8s)
    core.create_namespaced_secret(NS, secret("s", {"a": "MQ=="}))
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_secret("s", NS, secret("s", {"a": "MQ=="}, "kubernetes.io/tls"))
    assert err.value.status == 422 and error(err)["reason"] == "Invalid"
    assert error(err)["message"] == ('Secret "s" is invalid: type: Invalid value: "kubernetes.io/tls": '
                                     "field is immutable")
    assert error(err)["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "type",
                                                "message": 'Invalid value: "kubernetes.io/tls": field is immutable'}]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_secret("s", NS, {"type": "kubernetes.io/tls"})
    assert err.value.status == 422
    assert core.read_namespaced_secret("s", NS).type == "Opaque"


def test_a_deployments_selector_is_immutable(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment(NS, deployment())
    moved = {"spec": {"selector": {"matchLabels": {"app": "b"}},
                      "template": {"metadata": {"labels": {"app": "b"}}}}}
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("d", NS, moved)
    assert err.value.status == 422
    assert error(err)["message"].startswith('Deployment.apps "d" is invalid: spec.selector: Invalid value: ')
    assert error(err)["message"].endswith("field is immutable")
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("d", NS, {**deployment(), "spec": {**deployment()["spec"], **moved["spec"]}})
    assert err.value.status == 422


def test_a_jobs_template_and_selector_are_immutable(api) -> None:  # type: ignore[no-untyped-def]
    """The Job strategy generates the selector and labels the template with it, so replacing a Job with its own
    manifest changes the template too - as `kubectl replace` finds out on a real cluster."""
    _, k8s = api
    batch = client.BatchV1Api(k8s)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "namespace": NS},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x:1"}]}}}}
    created = batch.create_namespaced_job(NS, job)
    assert created.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": created.metadata.uid}
    with pytest.raises(ApiException) as err:
        batch.replace_namespaced_job("j", NS, job)
    assert err.value.status == 422 and "spec.template: Invalid value" in error(err)["message"]
    with pytest.raises(ApiException) as err:
        batch.patch_namespaced_job("j", NS, {"spec": {"template": {"spec": {"containers": [{"name": "c",
                                                                                            "image": "x:2"}]}}}})
    assert err.value.status == 422 and "field is immutable" in error(err)["message"]
    with pytest.raises(ApiException) as err:
        batch.patch_namespaced_job("j", NS, {"spec": {"selector": {"matchLabels": {"x": "y"}}}})
    assert err.value.status == 422 and "spec.selector" in error(err)["message"]
    with pytest.raises(ApiException) as err:  # a selector of one's own needs manualSelector
        batch.create_namespaced_job(NS, {**job, "metadata": {"name": "j2"},
                                         "spec": {**job["spec"], "selector": {"matchLabels": {"a": "b"}}}})
    assert err.value.status == 422 and "`selector` not auto-generated" in error(err)["message"]


# ---------------------------------------------------------------- 3. server-side apply

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": NS},
              "data": {"key": "theirs"}}


def test_apply_conflicts_with_another_appliers_field_unless_forced(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    dynamic = DynamicClient(k8s)
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    dynamic.server_side_apply(configmaps, body=CONFIG_MAP, namespace=NS, field_manager="kubectl")
    mine = {**CONFIG_MAP, "data": {"key": "mine"}}
    with pytest.raises(ApiException) as err:
        dynamic.server_side_apply(configmaps, body=mine, namespace=NS, field_manager="other", force_conflicts=False)
    assert err.value.status == 409
    assert error(err)["reason"] == "Conflict"
    assert error(err)["message"] == 'Apply failed with 1 conflict: conflict with "kubectl": .data.key'
    assert error(err)["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"',
                                                "field": ".data.key"}]
    dynamic.server_side_apply(configmaps, body=mine, namespace=NS, field_manager="other", force_conflicts=True)
    cm = client.CoreV1Api(k8s).read_namespaced_config_map("cm", NS)
    assert cm.data == {"key": "mine"}
    assert [(m.manager, m.operation, m.fields_v1) for m in cm.metadata.managed_fields] == [
        ("other", "Apply", {"f:data": {"f:key": {}}})]  # kubectl owned nothing else: its entry is gone


def test_an_apply_conflict_names_an_updater_with_its_api_version(api) -> None:  # type: ignore[no-untyped-def]
    """The wording of printManager for an Update manager (what `kubectl apply` without --server-side leaves)."""
    _, k8s = api
    client.CoreV1Api(k8s).create_namespaced_config_map(NS, CONFIG_MAP, field_manager="kubectl-client-side-apply")
    dynamic = DynamicClient(k8s)
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    with pytest.raises(ApiException) as err:
        dynamic.server_side_apply(configmaps, body={**CONFIG_MAP, "data": {"key": "mine", "more": "x"}},
                                  namespace=NS, field_manager="devcluster")
    assert error(err)["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using '
                                     "v1: .data.key")


def test_several_apply_conflicts_are_listed_per_manager(api) -> None:  # type: ignore[no-untyped-def]
    server, _ = api
    apply = "application/apply-patch+yaml"
    path = f"/api/v1/namespaces/{NS}/configmaps/cm"
    raw(server, "PATCH", f"{path}?fieldManager=a", {**CONFIG_MAP, "data": {"x": "1", "y": "1"}}, apply)
    code, body, _ = raw(server, "PATCH", f"{path}?fieldManager=b", {**CONFIG_MAP, "data": {"x": "2", "y": "2"}},
                        apply)
    assert code == 409
    assert body["message"] == 'Apply failed with 2 conflicts: conflicts with "a":\n- .data.x\n- .data.y'


def test_apply_without_a_field_manager_is_invalid(api) -> None:  # type: ignore[no-untyped-def]
    """ValidatePatchOptions: 422 Invalid (not 400), before the object is even looked up."""
    server, _ = api
    code, body, _ = raw(server, "PATCH", f"/api/v1/namespaces/{NS}/configmaps/cm", CONFIG_MAP,
                        "application/apply-patch+yaml")
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required '
                               "for apply patch")
    code, body, _ = raw(server, "PATCH", f"/api/v1/namespaces/{NS}/configmaps/cm?force=true", {"data": {}},
                        "application/merge-patch+json")
    assert code == 422 and body["message"].endswith("force: Forbidden: may not be specified for non-apply patch")


def test_apply_creates_the_object_and_records_managed_fields_in_the_real_format(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    dynamic = DynamicClient(k8s)
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    manifest = deployment()
    manifest["metadata"]["labels"] = {"x": "1"}
    dynamic.server_side_apply(deployments, body=manifest, namespace=NS, field_manager="devcluster")
    stored = server.get("apps/v1", "deployments", "d", NS)
    assert stored is not None
    [entry] = stored["metadata"]["managedFields"]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "fieldsType")} == {
        "manager": "devcluster", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1"}
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:x": {}}},
        "f:spec": {"f:replicas": {}, "f:selector": {"f:matchLabels": {"f:app": {}}},
                   "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
                       'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}}}}}


def test_applying_the_same_value_shares_a_field_and_dropping_a_field_removes_it(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    dynamic = DynamicClient(k8s)
    configmaps = dynamic.resources.get(api_version="v1", kind="ConfigMap")
    dynamic.server_side_apply(configmaps, body={**CONFIG_MAP, "data": {"key": "v", "mine": "1"}}, namespace=NS,
                              field_manager="a")
    dynamic.server_side_apply(configmaps, body={**CONFIG_MAP, "data": {"key": "v"}}, namespace=NS,
                              field_manager="b")  # same value: no conflict, both own .data.key
    dynamic.server_side_apply(configmaps, body={**CONFIG_MAP, "data": {}}, namespace=NS, field_manager="a")
    cm = client.CoreV1Api(k8s).read_namespaced_config_map("cm", NS)
    assert cm.data == {"key": "v"}  # `mine` was a's alone and a stopped applying it; b still applies `key`
    assert {m.manager: m.fields_v1 for m in cm.metadata.managed_fields}["b"] == {"f:data": {"f:key": {}}}


def test_other_writes_record_their_manager_as_update(api) -> None:  # type: ignore[no-untyped-def]
    """Without fieldManager the manager is the User-Agent's product, as the apiserver's prefixFromUserAgent."""
    server, k8s = api
    raw(server, "POST", f"/api/v1/namespaces/{NS}/configmaps", CONFIG_MAP)
    client.CoreV1Api(k8s).patch_namespaced_config_map("cm", NS, {"data": {"other": "x"}})
    client.CoreV1Api(k8s).patch_namespaced_config_map("cm", NS, {"data": {"third": "y"}}, field_manager="helm")
    stored = server.get("v1", "configmaps", "cm", NS)
    assert stored is not None
    assert [(m["manager"], m["operation"], m["fieldsV1"].get("f:data")) for m in stored["metadata"]["managedFields"]] \
        == [("Python-urllib", "Update", {"f:key": {}}), ("OpenAPI-Generator", "Update", {"f:other": {}}),
            ("helm", "Update", {"f:third": {}})]


# ---------------------------------------------------------------- 4. PATCH content types


def test_a_merge_patch_deletes_with_null_and_replaces_lists(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment(NS, deployment())
    patch = {"metadata": {"labels": {"gone": None, "new": "1"}},
             "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}}}
    patched = apps.patch_namespaced_deployment("d", NS, patch, _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"new": "1"}
    assert [c.name for c in patched.spec.template.spec.containers] == ["side"]


def test_a_strategic_merge_patch_merges_named_lists_by_name(api) -> None:  # type: ignore[no-untyped-def]
    """A typed patch with a mapping body goes out as strategic merge (the client's rest.py picks it)."""
    server, k8s = api
    apps = client.AppsV1Api(k8s)
    dep = deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    dep["spec"]["template"]["spec"]["containers"][0]["args"] = ["--one"]
    apps.create_namespaced_deployment(NS, dep)
    patched = apps.patch_namespaced_deployment("d", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "web:2", "args": ["--two"], "env": [{"name": "B", "value": "3"}, {"name": "C",
                                                                                                 "value": "4"}]},
        {"name": "side", "image": "s:1"}]}}}})
    assert server.requests[-1][2] == "application/strategic-merge-patch+json"
    web, side = patched.spec.template.spec.containers
    assert (web.name, web.image, web.args, side.name) == ("web", "web:2", ["--two"], "side")
    assert [(e.name, e.value) for e in web.env] == [("A", "1"), ("B", "3"), ("C", "4")]
    patched = apps.patch_namespaced_deployment("d", NS, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}}}})
    assert [c.name for c in patched.spec.template.spec.containers] == ["web"]


def test_a_json_patch_adds_removes_replaces_and_tests(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(NS, {**CONFIG_MAP, "data": {"a": "1", "b": "2"}})
    patched = core.patch_namespaced_config_map("cm", NS, [
        {"op": "test", "path": "/data/a", "value": "1"},
        {"op": "add", "path": "/data/c", "value": "3"},
        {"op": "remove", "path": "/data/b"},
        {"op": "replace", "path": "/data/a", "value": "one"},
        {"op": "add", "path": "/metadata/annotations", "value": {"example.com/note": "n"}},
        {"op": "move", "from": "/metadata/annotations/example.com~1note", "path": "/data/note"}])
    assert patched.data == {"a": "one", "c": "3", "note": "n"}
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("cm", NS, [{"op": "test", "path": "/data/a", "value": "1"}])
    assert err.value.status == 422
    assert error(err)["details"]["causes"][0]["message"] == "testing value /data/a failed: test failed"
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_config_map("cm", NS, [{"op": "remove", "path": "/data/nope"}])
    assert err.value.status == 422


def test_an_unknown_patch_content_type_is_415_and_custom_resources_have_no_strategic_merge(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    client.CoreV1Api(k8s).create_namespaced_config_map(NS, CONFIG_MAP)
    code, body, _ = raw(server, "PATCH", f"/api/v1/namespaces/{NS}/configmaps/cm", {"data": {}}, "application/json")
    assert (code, body["reason"]) == (415, "UnsupportedMediaType")
    assert body["message"] == ("the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/strategic-merge-patch+json, application/apply-patch+yaml")
    client.ApiextensionsV1Api(k8s).create_custom_resource_definition(CRD)
    raw(server, "POST", WIDGETS, WIDGET)
    code, body, _ = raw(server, "PATCH", f"{WIDGETS}/w", {"spec": {"size": 3}},
                        "application/strategic-merge-patch+json")
    assert code == 415 and "strategic" not in body["message"]
    assert raw(server, "PATCH", f"{WIDGETS}/w", {"spec": {"size": 3}}, "application/merge-patch+json")[0] == 200


# ---------------------------------------------------------------- 5. subresources


def test_status_is_a_subresource(serve) -> None:  # type: ignore[no-untyped-def]
    """/status writes change only the status; writes to the Deployment itself never change it."""
    _, k8s = serve(auto_ready=False)
    apps = client.AppsV1Api(k8s)
    created = apps.create_namespaced_deployment(NS, {**deployment(), "status": {"replicas": 7}})
    assert created.status is None or not created.status.replicas  # a client's status on create is dropped
    body = k8s.sanitize_for_serialization(apps.read_namespaced_deployment("d", NS))  # the JSON, with its rv
    body["status"] = {"replicas": 1, "readyReplicas": 1}
    body["spec"]["replicas"] = 5  # ignored by /status
    updated = apps.replace_namespaced_deployment_status("d", NS, body)
    assert (updated.status.ready_replicas, updated.spec.replicas, updated.metadata.generation) == (1, 1, 1)
    patched = apps.patch_namespaced_deployment("d", NS, {"spec": {"replicas": 3}, "status": {"readyReplicas": 0}})
    assert (patched.spec.replicas, patched.status.ready_replicas, patched.metadata.generation) == (3, 1, 2)
    patched = apps.patch_namespaced_deployment_status("d", NS, {"status": {"readyReplicas": 3}})
    assert (patched.status.ready_replicas, patched.spec.replicas) == (3, 3)


def test_a_crd_declaring_the_status_subresource_gets_one(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    client.ApiextensionsV1Api(k8s).create_custom_resource_definition(CRD)
    crd = client.ApiextensionsV1Api(k8s).read_custom_resource_definition("widgets.example.com")
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    code, created, _ = raw(server, "POST", WIDGETS, {**WIDGET, "status": {"ok": True}})
    assert code == 201 and "status" not in created
    code, updated, _ = raw(server, "PATCH", f"{WIDGETS}/w/status", {"status": {"ok": True}, "spec": {"size": 9}},
                           "application/merge-patch+json")
    assert code == 200 and (updated["status"], updated["spec"]) == ({"ok": True}, {"size": 1})
    code, updated, _ = raw(server, "PATCH", f"{WIDGETS}/w", {"status": {"ok": False}, "spec": {"size": 2}},
                           "application/merge-patch+json")
    assert (updated["status"], updated["spec"]) == ({"ok": True}, {"size": 2})
    assert raw(server, "GET", f"/api/v1/namespaces/{NS}/configmaps/cm/status")[0] == 404  # ConfigMaps have none


def test_pod_logs_are_plain_text(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS},
                                    "spec": {"containers": [{"name": "c", "image": "x:1"}]}})
    server.pod_logs[(NS, "p")] = "one\ntwo\n"
    assert core.read_namespaced_pod_log("p", NS) == "one\ntwo\n"
    assert core.read_namespaced_pod_log("p", NS, container="c", tail_lines=1) == "two\n"
    code, text, ctype = raw(server, "GET", f"/api/v1/namespaces/{NS}/pods/p/log")
    assert (code, text, ctype) == (200, "one\ntwo\n", "text/plain")
    with pytest.raises(ApiException) as err:  # never restarted: no previous log
        core.read_namespaced_pod_log("p", NS, container="c", previous=True)
    assert err.value.status == 400
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "two", "namespace": NS},
                                    "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}})
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("two", NS)
    assert error(err)["message"] == "a container name must be specified for pod two, choose one of: [a b]"
    assert core.read_namespaced_pod_log("two", NS, container="b") == ""


def test_unknown_subresources_are_404_and_exec_needs_an_upgrade(api) -> None:  # type: ignore[no-untyped-def]
    server, _ = api
    server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS},
                "spec": {"containers": [{"name": "c", "image": "x"}]}})
    code, body, _ = raw(server, "GET", f"/api/v1/namespaces/{NS}/pods/p/nonsense")
    assert (code, body["reason"], body["message"]) == (404, "NotFound",
                                                       "the server could not find the requested resource")
    assert raw(server, "GET", f"/api/v1/namespaces/{NS}/pods/p/exec?command=ls")[0] == 400


# ---------------------------------------------------------------- 6. generation / observedGeneration


def test_rollout_delay_makes_observed_generation_lag_the_generation(serve) -> None:  # type: ignore[no-untyped-def]
    server, k8s = serve(rollout_delay=2)
    apps = client.AppsV1Api(k8s)

    def observed() -> tuple[int | None, int]:
        dep = apps.read_namespaced_deployment("d", NS)
        return (dep.status.observed_generation if dep.status else None), dep.metadata.generation

    apps.create_namespaced_deployment(NS, deployment())
    assert [observed(), observed(), observed()] == [(None, 1), (None, 1), (1, 1)]
    apps.patch_namespaced_deployment("d", NS, {"spec": {"replicas": 2}})
    assert [observed(), observed(), observed()] == [(1, 2), (1, 2), (2, 2)]
    apps.patch_namespaced_deployment("d", NS, {"metadata": {"labels": {"x": "y"}}})  # no spec change: no lag
    assert observed() == (2, 2)
    assert server.get("v1", "pods", "d-fake0", NS) is not None


def test_without_rollout_delay_auto_ready_is_immediate(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment(NS, deployment(replicas=2))
    dep = apps.read_namespaced_deployment("d", NS)
    assert (dep.status.observed_generation, dep.status.ready_replicas) == (1, 2)


# ---------------------------------------------------------------- 7. selectors


def _pods(server: FakeApiServer) -> None:
    server.put(namespace("other"))
    for name, labels, ns in (("pa", {"app": "a", "tier": "web"}, NS), ("pb", {"app": "b", "tier": "db"}, NS),
                             ("pc", {"app": "c"}, NS), ("pd", {"app": "b", "version": "3"}, NS),
                             ("po", {"app": "a"}, "other")):
        server.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "x"}]}})


def test_label_selectors_have_the_real_grammar(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    _pods(server)
    core = client.CoreV1Api(k8s)

    def names(selector: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(NS, label_selector=selector).items]

    assert names("app in (a,b),tier!=db") == ["pa", "pd"]
    assert names("app=a") == names("app==a") == ["pa"]
    assert names("tier") == ["pa", "pb"]
    assert names("!tier") == ["pc", "pd"]
    assert names("app notin (a, b)") == ["pc"]
    assert names("version>2,app=b") == ["pd"]
    assert names("") == ["pa", "pb", "pc", "pd"]
    with pytest.raises(ApiException) as err:
        names("app in ()")
    assert err.value.status == 400 and error(err)["reason"] == "BadRequest"
    with pytest.raises(ApiException) as err:
        names("app=a b")
    assert err.value.status == 400


def test_field_selectors_on_name_and_namespace(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    _pods(server)
    core = client.CoreV1Api(k8s)
    everywhere = core.list_pod_for_all_namespaces
    assert [p.metadata.name for p in everywhere(field_selector="metadata.name=pa").items] == ["pa"]
    assert [p.metadata.name for p in everywhere(field_selector="metadata.namespace=other").items] == ["po"]
    assert [p.metadata.name for p in core.list_namespaced_pod(NS, field_selector="metadata.name!=pa").items] == [
        "pb", "pc", "pd"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_config_map(NS, field_selector="data.key=x")
    assert err.value.status == 400


def test_list_items_carry_no_kind_like_the_real_server(api) -> None:  # type: ignore[no-untyped-def]
    server, _ = api
    _pods(server)
    _, body, _ = raw(server, "GET", f"/api/v1/namespaces/{NS}/pods")
    assert body["kind"] == "PodList" and all("kind" not in item for item in body["items"])


# ---------------------------------------------------------------- 8. DELETE


def test_delete_answers_with_a_status_or_the_object(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_config_map(NS, CONFIG_MAP)
    status = core.delete_namespaced_config_map("cm", NS)  # this client returns deletes as plain JSON
    assert (status["kind"], status["status"], status["details"]) == (
        "Status", "Success", {"name": "cm", "kind": "configmaps", "uid": created.metadata.uid})
    core.create_namespaced_pod(NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": NS},
                                    "spec": {"containers": [{"name": "c", "image": "x"}]}})
    pod = core.delete_namespaced_pod("p", NS)  # pods' registry returns the deleted object (a V1Pod here)
    assert (pod.kind, pod.metadata.name) == ("Pod", "p")
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_config_map("cm", NS)
    assert err.value.status == 404 and error(err)["message"] == 'configmaps "cm" not found'


def test_delete_in_a_missing_namespace_is_404(api) -> None:  # type: ignore[no-untyped-def]
    _, k8s = api
    with pytest.raises(ApiException) as err:
        client.AppsV1Api(k8s).delete_namespaced_deployment("d", "nowhere")
    assert err.value.status == 404
    assert (error(err)["reason"], error(err)["message"]) == ("NotFound", 'deployments.apps "d" not found')
    assert error(err)["details"] == {"name": "d", "group": "apps", "kind": "deployments"}


def test_deleting_a_namespace_deletes_its_contents_and_finalizers_hold_a_deletion(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    core = client.CoreV1Api(k8s)
    core.create_namespaced_config_map(NS, {**CONFIG_MAP, "metadata": {"name": "held", "finalizers": ["x/y"]}})
    held = core.delete_namespaced_config_map("held", NS)
    assert held["kind"] == "ConfigMap" and core.read_namespaced_config_map("held", NS).metadata.deletion_timestamp
    core.patch_namespaced_config_map("held", NS, {"metadata": {"finalizers": None}})
    assert server.get("v1", "configmaps", "held", NS) is None  # last finalizer gone: deleted
    core.create_namespaced_config_map(NS, CONFIG_MAP)
    gone = core.delete_namespace(NS)
    assert gone["status"]["phase"] == "Terminating"
    assert server.get("v1", "configmaps", "cm", NS) is None and server.get("v1", "namespaces", NS) is None


# ---------------------------------------------------------------- what the apiserver refuses on create


def test_creates_are_checked_like_the_real_server(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    core, apps = client.CoreV1Api(k8s), client.AppsV1Api(k8s)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("nowhere", {**CONFIG_MAP, "metadata": {"name": "cm"}})
    assert (err.value.status, error(err)["message"]) == (404, 'namespaces "nowhere" not found')
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, {**CONFIG_MAP, "metadata": {"name": "cm", "resourceVersion": "5"}})
    assert (err.value.status, error(err)["message"]) == (400, "resourceVersion can not be set for Create requests")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, {**CONFIG_MAP, "metadata": {"name": "Bad_Name"}})
    assert err.value.status == 422
    assert error(err)["message"].startswith('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: '
                                            '"Bad_Name": a lowercase RFC 1123 subdomain must consist of')
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, {**CONFIG_MAP, "metadata": {"name": "cm", "labels": {"a": "b c"}}})
    assert err.value.status == 422 and "metadata.labels: Invalid value: \"b c\"" in error(err)["message"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_secret(NS, secret("s", {"a": "not base64!"}))
    assert err.value.status == 400 and "illegal base64 data" in error(err)["message"]
    code, body, _ = raw(server, "POST", f"/api/v1/namespaces/{NS}/configmaps", {**CONFIG_MAP, "data": {"n": 1}})
    assert code == 400 and "cannot unmarshal number into Go struct field ConfigMap.data of type string" in \
        body["message"]
    mismatched = deployment()
    mismatched["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(NS, mismatched)
    assert err.value.status == 422 and "`selector` does not match template `labels`" in error(err)["message"]
    core.create_namespaced_config_map(NS, CONFIG_MAP)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, CONFIG_MAP)
    assert (err.value.status, error(err)["reason"]) == (409, "AlreadyExists")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, {**CONFIG_MAP, "metadata": {"name": "x", "namespace": "other"}})
    assert err.value.status == 400
    assert raw(server, "POST", f"/api/v1/namespaces/{NS}/configmaps", b"a=b",
               "application/x-www-form-urlencoded")[0] == 415


def test_a_dry_run_is_checked_and_kept_nowhere(api) -> None:  # type: ignore[no-untyped-def]
    server, k8s = api
    core = client.CoreV1Api(k8s)
    made = core.create_namespaced_config_map(NS, CONFIG_MAP, dry_run="All")
    assert made.metadata.name == "cm" and server.get("v1", "configmaps", "cm", NS) is None
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map(NS, {**CONFIG_MAP, "metadata": {"name": "Bad"}}, dry_run="All")
    assert err.value.status == 422
