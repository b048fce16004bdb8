"""The stack: generated secrets, chart values (rendered by a real helm), token bootstrap, install flow.

Chart rendering uses the real helm binary (scripts/test-setup.sh puts it in .tools/bin) on test
charts under tests/fixtures/charts that share forail-helm's values interface. The install flow
runs against tests/fakeapi.py with a fake `helm` that renders with the real one and applies the
objects; a loopback HTTP server stands in for Traefik on the NodePort.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from devcluster import config, secrets_store, stack
from devcluster.cli import app
from devcluster.diagnostics import not_ready_report
from devcluster.errors import DevclusterError
from devcluster.helm import ChartRef, Helm, Release, deep_merge
from devcluster.kube import Kube
from devcluster.state import State
from tests.fakeapi import FakeApiServer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
CHARTS = FIXTURES / "charts"
HELM = os.environ.get("DEVCLUSTER_HELM") or shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm")
needs_helm = pytest.mark.skipif(not os.access(HELM, os.X_OK), reason="no helm binary (run scripts/test-setup.sh)")


# ----------------------------------------------------------------- secrets and token


def record_exec(monkeypatch: pytest.MonkeyPatch, output: str) -> list[tuple[str, str, list[str]]]:
    """Replace Kube.exec_in_pod in-process (the exec API needs a real cluster) and record its calls."""
    calls: list[tuple[str, str, list[str]]] = []

    def fake_exec(self: Kube, namespace: str, pod: str, command: list[str], container: str | None = None,
                  timeout: int = 120) -> str:
        calls.append((namespace, pod, command))
        return output

    monkeypatch.setattr(Kube, "exec_in_pod", fake_exec)
    return calls



def test_secrets_are_generated_once_private_and_reused(tmp_path: Path) -> None:
    state = State(tmp_path / "s")
    first = secrets_store.load_or_create(state)
    assert set(first) == set(secrets_store.SECRET_KEYS)
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in first.values())
    assert len(set(first.values())) == 4
    assert (tmp_path / "s" / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "s").stat().st_mode & 0o777 == 0o700
    assert secrets_store.load_or_create(state) == first


def test_token_from_environment_wins_over_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = State(tmp_path / "s")
    assert secrets_store.stored_token(state, "DC_TOKEN") is None
    secrets_store.save_token(state, "stored-token-0123456789")
    assert (tmp_path / "s" / "operator-token").stat().st_mode & 0o777 == 0o600
    assert secrets_store.stored_token(state, "DC_TOKEN") == "stored-token-0123456789"
    monkeypatch.setenv("DC_TOKEN", "env-token-abcdefghijkl")
    assert secrets_store.stored_token(state, "DC_TOKEN") == "env-token-abcdefghijkl"


@pytest.mark.parametrize("output,token", [
    ("Using default settings\nToken created\nAbCdEf0123456789xyzXYZ\n", "AbCdEf0123456789xyzXYZ"),
    ("warning: something\r\n\r\nq1w2e3r4t5y6u7i8o9p0\r\n\n", "q1w2e3r4t5y6u7i8o9p0"),
])
def test_token_is_the_last_non_empty_line(output: str, token: str) -> None:
    assert secrets_store.parse_token_output(output) == token


@pytest.mark.parametrize("output", ["", "\n\n", "Error: user admin does not exist\n", "short\n"])
def test_token_output_without_a_token_is_rejected(output: str) -> None:
    with pytest.raises(ValueError):
        secrets_store.parse_token_output(output)


def test_mint_token_execs_the_reference_command_in_the_running_web_pod(
        tmp_path: Path, fake_api: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exec API itself needs a real cluster (tests/e2e); here Kube.exec_in_pod is replaced in-process."""
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "forail"}})
    fake_api.put({"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "forail-web", "namespace": "forail"},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"component": "web"}},
                           "template": {"metadata": {"labels": {"component": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "x"}]}}}})
    kc = fake_api.write_kubeconfig(tmp_path / "kc")
    calls = record_exec(monkeypatch, "Created token for admin\nT0k3nT0k3nT0k3nT0k3n\n")
    cfg = config.load(None, {"provider": "existing", "existing.kubeconfig": str(kc)})
    from devcluster.providers.existing import ExistingProvider
    from devcluster.steps import Context

    state = State(tmp_path / "st")
    ctx = Context(cfg, state, Console(quiet=True), ExistingProvider(cfg, state))
    assert stack.mint_token(ctx) == "T0k3nT0k3nT0k3nT0k3n"
    assert calls == [("forail", "forail-web-fake0", ["forail-manage", "create_oauth2_token", "--user", "admin"])]


# ----------------------------------------------------------------- values, rendered by a real helm


def forail_rel(tmp_path: Path, cfg: config.Config, values: dict[str, Any]) -> Release:
    return Release("forail", "forail", ChartRef(str(CHARTS / "forail-test")), values)


@needs_helm
def test_generated_values_render_as_intended_with_real_helm(tmp_path: Path) -> None:
    cfg = config.load(None)
    generated = secrets_store.load_or_create(State(tmp_path / "st"))
    values = deep_merge(stack.forail_values(cfg, generated), {"images": {"backend": {"tag": "2026.11.0"}}})
    helm = Helm(None, None, tmp_path, binary=HELM)
    docs = [d for d in yaml.safe_load_all(helm.template(forail_rel(tmp_path, cfg, values))) if d]
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    secret = by_kind[("Secret", "forail-secrets")]["data"]
    assert base64.b64decode(secret["postgres-password"]).decode() == generated["postgresPassword"]
    assert base64.b64decode(secret["admin-password"]).decode() == generated["forailAdminPassword"]
    assert base64.b64decode(secret["admin-user"]).decode() == "admin"
    ingress = by_kind[("Ingress", "forail")]["spec"]
    assert ingress["ingressClassName"] == "traefik"
    assert ingress["tls"] == [{"hosts": ["forail.lan"], "secretName": "forail-tls"}]
    paths = {p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
             for p in ingress["rules"][0]["http"]["paths"]}
    assert paths["/websocket"] == ("forail-web", 8015) and paths["/static/forail"] == ("forail-frontend", 80)
    assert ("Job", "forail-init-1") in by_kind
    web = by_kind[("Deployment", "forail-web")]["spec"]["template"]["spec"]["containers"][0]
    assert web["image"].endswith(":2026.11.0"), "user values override generated ones"


@needs_helm
def test_values_precedence_is_generated_then_files_then_inline_with_real_helm(tmp_path: Path) -> None:
    """Helm applies --values left to right: a user's values file must beat the generated values, and the
    user's inline values must beat both (rendered by the real helm, whose merge is deep)."""
    cfg = config.load(None)
    generated = stack.forail_values(cfg, secrets_store.load_or_create(State(tmp_path / "st")))
    generated["images"] = {"backend": {"tag": "from-generated"}, "frontend": {"tag": "from-generated"}}
    user_file = tmp_path / "mine.yaml"
    user_file.write_text("images:\n  backend:\n    tag: from-file\n  frontend:\n    tag: from-file\n")
    rel = Release("forail", "forail", ChartRef(str(CHARTS / "forail-test")),
                  values={"images": {"frontend": {"tag": "from-inline"}}}, values_files=[str(user_file)],
                  generated=generated)
    docs = [d for d in yaml.safe_load_all(Helm(None, None, tmp_path, binary=HELM).template(rel)) if d]
    images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
              for d in docs if d["kind"] == "Deployment"}
    assert images["forail-web"].endswith(":from-file"), images
    assert images["forail-frontend"].endswith(":from-inline"), images
    # the generated secrets are still there underneath the user's layers
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "forail-secrets")
    assert base64.b64decode(secret["data"]["admin-password"]).decode() == generated["secrets"]["forailAdminPassword"]


@needs_helm
def test_lint_passes_with_generated_values_and_render_fails_without(tmp_path: Path) -> None:
    from devcluster import runner

    cfg = config.load(None)
    values = stack.forail_values(cfg, secrets_store.load_or_create(State(tmp_path / "st")))
    vf = tmp_path / "v.yaml"
    vf.write_text(yaml.safe_dump(values))
    lint = runner.run([HELM, "lint", "--strict", str(CHARTS / "forail-test"), "--values", str(vf)], check=False)
    assert lint.ok and "Fail:" not in lint.stdout, lint.stdout
    bare = runner.run([HELM, "template", "forail", str(CHARTS / "forail-test")], check=False)
    assert not bare.ok and "required" in bare.stderr, "the test chart must refuse missing secrets"


@needs_helm
def test_operator_values_render_with_real_helm(tmp_path: Path) -> None:
    cfg = config.load(None)
    rel = Release("forail-operator", "forail-operator", ChartRef(str(CHARTS / "forail-operator-test")),
                  stack.operator_values(cfg, "tok-0123456789abcdef"))
    docs = [d for d in yaml.safe_load_all(Helm(None, None, tmp_path, binary=HELM).template(rel)) if d]
    env = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "FORAIL_URL", "value": "http://forail-web.forail.svc.cluster.local:8013"} in env
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["token"]).decode() == "tok-0123456789abcdef"


# ----------------------------------------------------------------- the install flow


class Traefik(BaseHTTPRequestHandler):
    """Stand-in for Traefik on the HTTP NodePort: routes forail.lan/api/v2/ping/ like the Ingress would."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        ok = self.headers.get("Host") == "forail.lan" and self.path == "/api/v2/ping/"
        body = json.dumps({"version": "test", "ha": False}).encode() if ok else b"404 page not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def node_port_server() -> ThreadingHTTPServer:
    for port in range(31900, 32700):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Traefik)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    raise RuntimeError("no free NodePort-range port on loopback")


@pytest.fixture
def stack_env(tmp_path: Path, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    if not os.access(HELM, os.X_OK):
        pytest.skip("no helm binary (run scripts/test-setup.sh)")
    from tests.unit.test_prereqs_api import kind_like_cluster

    kind_like_cluster(fake_api)
    # play the operator: reconcile Inventories by giving them a Forail id
    fake_api.controllers.append(
        lambda res, obj: obj.setdefault("status", {}).update(forailId=7) if res.kind == "Inventory" else None)
    monkeypatch.setenv("FAKE_HELM_STATE", str(tmp_path / "helm-state.json"))
    monkeypatch.setenv("REAL_HELM", HELM)
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "")
    fake_tools.add("helm", (FIXTURES / "fake_helm.py").read_text())
    server = node_port_server()
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig", "kind-test")
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "test", "node_ports": {"http": server.server_address[1], "https": 30443},
        "hosts": {"file": str(hosts)},
        "addons": {"local_path": {"manifest": str(FIXTURES / "local-path-storage.yaml")}},
        "stack": {"releases": [
            {"name": "forail", "chart": str(CHARTS / "forail-test"), "namespace": "forail", "kind": "forail",
             "timeout": 20},
            {"name": "forail-operator", "chart": str(CHARTS / "forail-operator-test"),
             "namespace": "forail-operator", "kind": "forail-operator", "timeout": 20},
        ]},
    }))
    yield kubeconfig, cfg
    server.shutdown()
    server.server_close()


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_up_installs_the_stack_then_does_nothing_and_keeps_secrets(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")  # exec needs a real cluster
    first = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert first.exit_code == 0, first.output + repr(first.exception)
    state = config.load(cfg).state_path
    generated = json.loads((state / "secrets.json").read_text())

    upgrades = [c["argv"] for c in fake_tools.calls("helm") if "upgrade" in c["argv"]]
    assert [a[a.index("--install") + 1] for a in upgrades] == ["traefik", "forail", "forail-operator"]
    every_argv = " ".join(" ".join(c["argv"]) for c in fake_tools.calls())
    for secret in [*generated.values(), "env-token-0123456789abcdef"]:
        assert secret not in every_argv, "a secret reached a command line"
        assert secret not in first.output, "a secret was printed"

    helm_state = json.loads((kubeconfig.parent / "helm-state.json").read_text())
    assert helm_state["forail/forail"]["values"]["secrets"] == generated
    assert helm_state["forail-operator/forail-operator"]["values"]["forail"] == {
        "token": "env-token-0123456789abcdef", "url": "http://forail-web.forail.svc.cluster.local:8013"}
    assert fake_api.get("batch/v1", "jobs", "forail-init-1", "forail")
    assert "ping http://forail.lan:" in first.output and "HTTP 200" in first.output
    assert "1 CRD(s) in forail-platform.io: Inventory" in first.output
    assert fake_api.get("forail-platform.io/v1alpha1", "inventories", "devcluster-smoke", "forail")

    second = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert second.exit_code == 0, second.output
    assert len([c for c in fake_tools.calls("helm") if "upgrade" in c["argv"]]) == 3, "no release re-installed"
    assert json.loads((state / "secrets.json").read_text()) == generated

    status = cli("stack", "status", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "-o", "json")
    rows = json.loads(status.output)
    assert status.exit_code == 0
    assert [(r["release"], r["status"], r["ready"]) for r in rows] == [
        ("forail", "deployed", True), ("forail-operator", "deployed", True)]


def test_logs_collect_writes_a_tarball_without_secrets(stack_env, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    out = tmp_path / "artifacts"
    result = cli("logs", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--collect", str(out))
    assert result.exit_code == 0, result.output
    tarballs = list(out.glob("devcluster-logs-*.tar.gz"))
    assert len(tarballs) == 1
    with tarfile.open(tarballs[0]) as tar:
        names = tar.getnames()
        texts = {n: tar.extractfile(n).read().decode() for n in names if tar.getmember(n).isfile()}  # type: ignore[union-attr]
    assert any(n.endswith("forail/pods.yaml") for n in names)
    assert any(n.endswith("forail/events.txt") for n in names)
    assert any("forail-web-fake0.web.log" in n for n in names)
    assert any(n.endswith("helm-status-forail-forail.json") for n in names)
    assert any(n.endswith("nodes.yaml") for n in names)
    generated = json.loads((config.load(cfg).state_path / "secrets.json").read_text())
    for name, text in texts.items():
        for secret in generated.values():
            assert secret not in text, f"{name} leaks a generated secret"


def test_init_job_failure_is_reported_with_its_name(stack_env, fake_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = stack_env

    def fail_jobs(res: Any, obj: dict[str, Any]) -> None:
        if res.kind == "Job":
            obj["status"] = {"failed": 1, "conditions": [
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "too many"}]}

    fake_api.controllers.append(fail_jobs)
    result = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    err = result.exception
    assert isinstance(err, DevclusterError)
    assert "step 'ready-forail' failed" in err.message and "Job forail/forail-init-1 failed: BackoffLimitExceeded" \
        in err.message
    assert "kubectl -n forail logs job/forail-init-1" in (err.hint or "")


def test_not_ready_report_names_pods_states_and_events(fake_api: FakeApiServer, tmp_path: Path) -> None:
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "forail"}})
    fake_api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "forail-web-1", "namespace": "forail"},
                  "spec": {"containers": [{"name": "web", "image": "x"}]},
                  "status": {"phase": "Running", "containerStatuses": [
                      {"name": "web", "ready": False, "restartCount": 5, "image": "x", "imageID": "",
                       "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}}}]}})
    fake_api.put({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "forail-init-1-abc", "namespace": "forail"},
                  "spec": {"containers": [{"name": "init", "image": "x"}]}, "status": {"phase": "Succeeded"}})
    fake_api.put({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "forail"},
                  "involvedObject": {"kind": "Pod", "name": "forail-web-1"}, "type": "Warning",
                  "reason": "BackOff", "message": "Back-off restarting failed container web",
                  "lastTimestamp": "2026-01-01T00:00:00Z"})
    report = not_ready_report(Kube(fake_api.write_kubeconfig(tmp_path / "kc")), "forail")
    assert "pod forail/forail-web-1: Running" in report
    assert "web: waiting: CrashLoopBackOff back-off 5m0s" in report
    assert "event Warning BackOff: Back-off restarting failed container web" in report
    assert "forail-init-1-abc" not in report


def test_deep_merge_keeps_generated_keys_and_lets_user_values_win() -> None:
    merged = deep_merge({"secrets": {"a": "1", "b": "2"}, "ingress": {"host": "forail.lan"}},
                              {"secrets": {"b": "user"}, "extra": [1]})
    assert merged == {"secrets": {"a": "1", "b": "user"}, "ingress": {"host": "forail.lan"}, "extra": [1]}


def test_secrets_command_prints_only_when_asked(tmp_path: Path) -> None:
    result = cli("secrets")
    assert result.exit_code != 0 and "no secrets generated yet" in str(result.exception)
    state = State(config.load(None).state_path)
    generated = secrets_store.load_or_create(state)
    shown = cli("secrets", "-o", "json")
    assert json.loads(shown.output)["postgresPassword"] == generated["postgresPassword"]


def test_post_install_action_runs_once_and_keeps_its_output_private(
        stack_env, fake_api: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exec API needs a real cluster; Kube.exec_in_pod is replaced in-process, the rest is the real flow."""
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    doc = yaml.safe_load(cfg.read_text())
    doc["stack"]["releases"][0]["post_install"] = [
        {"name": "seed", "deployment": "forail-web", "command": ["forail-manage", "loaddata", "demo"]}]
    cfg.write_text(yaml.safe_dump(doc))
    calls = record_exec(monkeypatch, "Installed 12 object(s)\n")
    for _ in range(2):
        result = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
        assert result.exit_code == 0, result.output
    assert calls == [("forail", "forail-web-fake0", ["forail-manage", "loaddata", "demo"])]
    log = config.load(cfg).state_path / "post-install-forail-seed.log"
    assert log.read_text() == "Installed 12 object(s)\n" and log.stat().st_mode & 0o777 == 0o600


def test_post_install_needs_deployment_and_command(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("stack:\n  releases:\n    - name: x\n      chart: ./c\n      post_install:\n"
                        "        - name: seed\n")
    with pytest.raises(DevclusterError, match=r"stack.releases\[0\].post_install\[0\]: deployment and command"):
        config.load(path)


def run_e2e_suite(kubeconfig: Path, cfg: Path, tmp_path: Path) -> dict[str, str]:
    """The packaged E2E suite, as `devcluster e2e` would run it, against the fake API; outcome per test."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    from devcluster.cli_stack import e2e_env

    conf = config.load(cfg, {"provider": "existing", "existing.kubeconfig": str(kubeconfig)})
    env = dict(os.environ, **e2e_env(kubeconfig, None, conf), DEVCLUSTER_E2E_REQUIRE_CLUSTER="1")
    junit = tmp_path / "e2e.xml"
    subprocess.run([sys.executable, "-m", "pytest", str(REPO / "tests" / "e2e"), "-p", "no:cacheprovider", "-q",
                    f"--junitxml={junit}"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        outcome[case.get("name") or ""] = "failed" if failed else \
            "skipped" if case.find("skipped") is not None else "passed"
    return outcome


STACK_CHECKS = [
    "test_every_pod_is_running_or_completed", "test_init_job_of_the_current_revision_completed",
    "test_ingress_routes_each_path_to_the_right_service", "test_ingress_uses_traefik_and_the_tls_secret",
    "test_ping_through_the_ingress", "test_frontend_paths_answer_through_the_ingress[/]",
    "test_operator_crds_present", "test_sample_inventory_is_reconciled",
]


def test_e2e_suite_fails_on_a_cluster_without_the_stack(stack_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Not vacuous: against a bare cluster the stack checks fail (they do not skip or pass)."""
    kubeconfig, cfg = stack_env
    outcome = run_e2e_suite(kubeconfig, cfg, tmp_path)
    assert outcome["test_all_nodes_ready"] == "passed"
    for name in STACK_CHECKS:
        assert outcome[name] == "failed", (name, outcome[name])


def test_e2e_suite_passes_its_stack_checks_after_up(stack_env, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The E2E suite's API usage checked against the fake API after a full `devcluster up` (fake helm renders the
    test charts; a loopback server plays Traefik). The PVC check needs a real cluster (the test charts have none).
    """
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    outcome = run_e2e_suite(kubeconfig, cfg, tmp_path)
    prerequisites = ["test_all_nodes_ready", "test_local_path_is_the_only_default_storage_class",
                     "test_namespace_and_tls_secret_for_the_hostname", "test_traefik_is_the_default_ingress_class",
                     "test_traefik_answers_on_the_http_node_port", "test_traefik_rolled_out_behind_the_node_ports"]
    for name in [*STACK_CHECKS, *prerequisites]:
        assert outcome[name] == "passed", (name, outcome)


@needs_helm
def test_local_chart_dependencies_are_built_before_install(tmp_path: Path) -> None:
    from devcluster.charts import ensure_dependencies, missing_dependencies

    chart_dir = tmp_path / "charts"
    shutil.copytree(CHARTS, chart_dir)
    umbrella = chart_dir / "umbrella-test"
    assert missing_dependencies(umbrella) == ["forail-operator-test"]
    ref = ChartRef(str(umbrella))
    ensure_dependencies(ref, HELM)
    assert missing_dependencies(umbrella) == []
    docs = [d for d in yaml.safe_load_all(Helm(None, None, tmp_path, binary=HELM).template(
        Release("u", "default", ref))) if d]
    assert {d["kind"] for d in docs} >= {"ConfigMap", "Deployment", "Secret"}


def test_stack_install_is_idempotent_and_uninstall_goes_last_first(stack_env, fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    again = cli("stack", "install", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert again.exit_code == 0, again.output
    assert "→ release-" not in again.output and "release-forail (already done)" in again.output
    gone = cli("stack", "uninstall", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert gone.exit_code == 0 and "uninstalled: forail-operator, forail" in gone.output
    uninstalls = [c["argv"] for c in fake_tools.calls("helm") if "uninstall" in c["argv"]]
    assert [a[a.index("uninstall") + 1] for a in uninstalls] == ["forail-operator", "forail"]
    helm_state = json.loads((kubeconfig.parent / "helm-state.json").read_text())
    assert set(helm_state) == {"traefik/traefik"}
    status = cli("stack", "status", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "-o", "json")
    assert status.exit_code == 1 and {r["status"] for r in json.loads(status.output)} == {"not installed"}
