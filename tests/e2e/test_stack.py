"""The Forail stack on a real cluster: pods, ingress routing, storage, operator."""

from __future__ import annotations

import http.client
import json
import time
import uuid

import pytest
from kubernetes import client

from .conftest import Expect

pytestmark = pytest.mark.usefixtures("stack_installed")

# forail-on-kubernetes, "Ingress and URL routing": path -> (service, port)
ROUTES = {
    "/api": ("forail-web", 8013),
    "/admin": ("forail-web", 8013),
    "/sso": ("forail-web", 8013),
    "/websocket": ("forail-web", 8015),
    "/static/forail": ("forail-frontend", 80),
    "/static": ("forail-web", 8013),
    "/": ("forail-frontend", 80),
}


def test_every_pod_is_running_or_completed(expect: Expect, core: client.CoreV1Api) -> None:
    pods = core.list_namespaced_pod(expect.namespace).items
    assert pods, f"no pods in {expect.namespace}: the stack is not installed"
    bad = []
    for pod in pods:
        if pod.status.phase == "Succeeded":
            continue
        ready = all(cs.ready for cs in pod.status.container_statuses or [])
        if pod.status.phase != "Running" or not ready:
            bad.append(f"{pod.metadata.name}: {pod.status.phase}")
    assert not bad, bad


def test_init_job_of_the_current_revision_completed(expect: Expect, api: client.ApiClient) -> None:
    jobs = [j for j in client.BatchV1Api(api).list_namespaced_job(expect.namespace).items
            if "init" in j.metadata.name]
    assert jobs, "no init Job found"
    newest = max(jobs, key=lambda j: j.metadata.creation_timestamp)
    assert (newest.status.succeeded or 0) >= 1, f"{newest.metadata.name} has not completed"


def _paths(api: client.ApiClient, expect: Expect) -> dict[str, tuple[str, int]]:
    ingresses = client.NetworkingV1Api(api).list_namespaced_ingress(expect.namespace).items
    found: dict[str, tuple[str, int]] = {}
    for ing in ingresses:
        for rule in ing.spec.rules or []:
            if rule.host != expect.hostname:
                continue
            for p in rule.http.paths:
                svc = p.backend.service
                found[p.path] = (svc.name, svc.port.number)
    return found


def test_ingress_routes_each_path_to_the_right_service(expect: Expect, api: client.ApiClient) -> None:
    found = _paths(api, expect)
    assert found, f"no Ingress rule for host {expect.hostname}"
    for path, target in ROUTES.items():
        assert found.get(path) == target, f"{path}: expected {target}, found {found.get(path)}"


def test_ingress_uses_traefik_and_the_tls_secret(expect: Expect, api: client.ApiClient) -> None:
    ingresses = client.NetworkingV1Api(api).list_namespaced_ingress(expect.namespace).items
    mine = [i for i in ingresses if any(r.host == expect.hostname for r in i.spec.rules or [])]
    assert mine
    for ing in mine:
        assert ing.spec.ingress_class_name in ("traefik", None)
        assert any(expect.tls_secret == t.secret_name for t in ing.spec.tls or []), "TLS secret not referenced"


def _get(expect: Expect, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(expect.ingress_address, expect.http_port, timeout=15)
    try:
        conn.request("GET", path, headers={"Host": expect.hostname})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_ping_through_the_ingress(expect: Expect) -> None:
    status, body = _get(expect, "/api/v2/ping/")
    assert status == 200, body[:200]
    json.loads(body)


def test_frontend_answers_the_root_through_the_ingress(expect: Expect) -> None:
    """`/` is routed to forail-frontend, which serves the single-page app: 200 and HTML, not an error page."""
    conn = http.client.HTTPConnection(expect.ingress_address, expect.http_port, timeout=15)
    try:
        conn.request("GET", "/", headers={"Host": expect.hostname})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, f"/ -> {resp.status} {body[:200]!r}"
        assert "text/html" in (resp.getheader("Content-Type") or ""), resp.getheader("Content-Type")
    finally:
        conn.close()


def test_pvcs_are_bound_on_local_path(expect: Expect, core: client.CoreV1Api) -> None:
    pvcs = core.list_namespaced_persistent_volume_claim(expect.namespace).items
    assert pvcs, "no PVCs in the namespace"
    for pvc in pvcs:
        assert pvc.status.phase == "Bound", f"{pvc.metadata.name}: {pvc.status.phase}"
        assert pvc.spec.storage_class_name == "local-path", f"{pvc.metadata.name}: {pvc.spec.storage_class_name}"


def _crds(api: client.ApiClient, expect: Expect) -> list[client.V1CustomResourceDefinition]:
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    return [c for c in crds if c.spec.group == expect.crd_group]


# forail-operator v2026.06.0, helm/crds/: one CRD per kind in api/v1alpha1.
OPERATOR_KINDS = {"Credential", "ForailInstance", "Inventory", "JobTemplate", "Organization", "Project", "Schedule",
                  "Team", "Workflow"}


def test_operator_crds_present(expect: Expect, api: client.ApiClient) -> None:
    if not expect.operator_namespace:
        pytest.skip("no operator release in the stack")
    kinds = {c.spec.names.kind for c in _crds(api, expect)}
    assert kinds >= OPERATOR_KINDS, f"missing in {expect.crd_group}: {sorted(OPERATOR_KINDS - kinds)}"


def test_operator_runs_with_the_minted_token(expect: Expect, api: client.ApiClient, core: client.CoreV1Api) -> None:
    """Found by the release's labels (the chart names it <release>-forail-operator), ready, and reading its
    token from the credentials Secret the chart makes from forail.token."""
    if not expect.operator_namespace:
        pytest.skip("no operator release in the stack")
    deps = client.AppsV1Api(api).list_namespaced_deployment(
        expect.operator_namespace, label_selector=f"app.kubernetes.io/instance={expect.operator_release}").items
    assert deps, f"no Deployment labelled app.kubernetes.io/instance={expect.operator_release}"
    for dep in deps:
        assert (dep.status.ready_replicas or 0) >= (dep.spec.replicas or 1), f"{dep.metadata.name} not ready"
    secret = core.read_namespaced_secret("forail-operator-credentials", expect.operator_namespace)
    assert (secret.data or {}).get("token"), "forail-operator-credentials has no token"


def test_sample_inventory_is_reconciled(expect: Expect, api: client.ApiClient) -> None:
    if not expect.operator_namespace:
        pytest.skip("no operator release in the stack")
    crd = next(c for c in _crds(api, expect) if c.spec.names.kind == "Inventory")
    version = next(v.name for v in crd.spec.versions if v.storage)
    custom = client.CustomObjectsApi(api)
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": f"{crd.spec.group}/{version}", "kind": "Inventory",
            "metadata": {"name": name, "namespace": expect.namespace},
            "spec": {"name": name, "organization": expect.sample_organization, "description": "devcluster e2e"}}
    custom.create_namespaced_custom_object(crd.spec.group, version, expect.namespace, crd.spec.names.plural, body)
    try:
        deadline = time.monotonic() + 180
        status: dict = {}
        while time.monotonic() < deadline:
            obj = custom.get_namespaced_custom_object(crd.spec.group, version, expect.namespace,
                                                      crd.spec.names.plural, name)
            status = obj.get("status") or {}
            if status.get("forailId"):
                break
            time.sleep(3)
        assert status.get("forailId"), f"not reconciled within 180s: {status}"
    finally:
        custom.delete_namespaced_custom_object(crd.spec.group, version, expect.namespace, crd.spec.names.plural,
                                               name)


def _api(expect: Expect, method: str, path: str, token: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection(expect.ingress_address, expect.http_port, timeout=15)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None,
                     headers={"Host": expect.hostname, "Accept": "application/json",
                              "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw) if raw else {}
        except ValueError:
            return resp.status, {"raw": raw[:300].decode(errors="replace")}
    finally:
        conn.close()


def test_a_job_launched_through_the_api_succeeds(expect: Expect) -> None:
    """What Forail exists for: the demo job template, launched with the operator's token through the
    ingress, ends `successful` (a job left pending means no instance can run it: see stack.job_execution)."""
    if not expect.job_template:
        pytest.skip("stack.verify_job_template is empty: no verify job configured")
    token = expect.token()
    assert token, "no Forail token: run `devcluster up` (it mints one) or set the token variable"
    from urllib.parse import quote

    code, found = _api(expect, "GET", f"/api/v2/job_templates/?name={quote(expect.job_template)}", token)
    assert code == 200, (code, found)
    templates = [t for t in found.get("results") or [] if t.get("name") == expect.job_template]
    assert templates, f"no job template named {expect.job_template!r}"
    code, launched = _api(expect, "POST", f"/api/v2/job_templates/{templates[0]['id']}/launch/", token)
    assert code in (200, 201), (code, launched)
    job_id = launched.get("job") or launched.get("id")
    deadline, pause, job = time.monotonic() + expect.job_timeout, 0.25, {}
    while time.monotonic() < deadline:
        code, job = _api(expect, "GET", f"/api/v2/jobs/{job_id}/", token)
        if job.get("status") in ("successful", "failed", "error", "canceled"):
            break
        time.sleep(pause)
        pause = min(pause * 1.5, 2.0)
    if job.get("status") != "successful":
        conn = http.client.HTTPConnection(expect.ingress_address, expect.http_port, timeout=15)
        conn.request("GET", f"/api/v2/jobs/{job_id}/stdout/?format=txt",
                     headers={"Host": expect.hostname, "Authorization": f"Bearer {token}"})
        tail = conn.getresponse().read().decode(errors="replace").splitlines()[-20:]
        conn.close()
        pytest.fail(f"job {job_id} is {job.get('status')} ({job.get('job_explanation', '')}):\n" + "\n".join(tail),
                    pytrace=False)
