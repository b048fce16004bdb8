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
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from devcluster import config
from devcluster.cli import app
from devcluster.clients.access import ClusterAccess
from devcluster.clients.diagnostics import not_ready_report
from devcluster.clients.helm import ChartRef, Helm, Release, deep_merge
from devcluster.clients.kube import Kube
from devcluster.errors import DevclusterError
from devcluster.local import secrets as secrets_store
from devcluster.local.state import State
from devcluster.stages import forail_values, operator_token, stack
from tests.fakeapi import FakeApiServer
from tests.forail_standin import ForailStandIn, start_standin

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
    from devcluster.engine.steps import Context
    from devcluster.providers.existing import ExistingProvider

    state = State(tmp_path / "st")
    ctx = Context(cfg, state, Console(quiet=True), ExistingProvider(cfg, state))
    assert operator_token.mint_token(ctx) == "T0k3nT0k3nT0k3nT0k3n"
    assert calls == [("forail", "forail-web-fake0", ["forail-manage", "create_oauth2_token", "--user", "admin"])]


# ----------------------------------------------------------------- values, rendered by a real helm


def render(tmp_path: Path, chart: str, generated: dict[str, Any], values: dict[str, Any] | None = None,
           values_files: list[str] | None = None, name: str = "forail") -> dict[tuple[str, str], Any]:
    rel = Release(name, name, ChartRef(str(CHARTS / chart)), values or {}, values_files or [], generated=generated)
    docs = [d for d in yaml.safe_load_all(Helm(ClusterAccess(), tmp_path, binary=HELM).template(rel)) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def values_for(cfg: config.Config, tmp_path: Path) -> dict[str, Any]:
    """The generated layer of the config's Forail release, with the job execution devcluster chooses for it."""
    rel = cfg.stack.release_of_kind("forail")
    assert rel is not None
    return forail_values.forail_values(cfg, secrets_store.load_or_create(State(tmp_path / "st")),
                                       stack.job_execution(cfg, rel))


def b64(data: dict[str, str], key: str) -> str:
    return base64.b64decode(data[key]).decode()


@needs_helm
def test_derived_values_render_for_any_hostname_and_node_ports_with_real_helm(tmp_path: Path) -> None:
    """hostname forail-dev.lan with NodePorts 31080/31443: allowedHosts keeps loopback (probes), the CSRF
    origins follow the ports, the Ingress takes the host, class and TLS secret."""
    cfg = config.load(None, {"hostname": "forail-dev.lan", "node_ports.http": 31080, "node_ports.https": 31443})
    values = values_for(cfg, tmp_path)
    generated = values["secrets"]
    objs = render(tmp_path, "forail-test", values)
    settings = objs[("ConfigMap", "forail-settings")]["data"]
    assert settings["FORAIL_ALLOWED_HOSTS"].startswith("forail-dev.lan,127.0.0.1,localhost,forail-web,")
    assert settings["FORAIL_CSRF_TRUSTED_ORIGINS"] == \
        "http://forail-dev.lan:31080,https://forail-dev.lan:31443,https://forail-dev.lan"
    assert settings["FORAIL_NODE_TYPE"] == "hybrid", "the pinned chart 2026.7.1 runs jobs only as hybrid"
    secret = objs[("Secret", "forail-secrets")]["data"]
    assert b64(secret, "forailAdminPassword") == generated["forailAdminPassword"]
    assert b64(secret, "postgresPassword") == generated["postgresPassword"]
    assert b64(secret, "admin-user") == "admin"
    assert len(b64(secret, "redisPassword")) == 48, "left to the chart's own generation"
    ingress = objs[("Ingress", "forail")]["spec"]
    assert ingress["ingressClassName"] == "traefik"
    assert ingress["tls"] == [{"hosts": ["forail-dev.lan"], "secretName": "forail-tls"}]
    assert ingress["rules"][0]["host"] == "forail-dev.lan"
    paths = {p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
             for p in ingress["rules"][0]["http"]["paths"]}
    assert paths["/websocket"] == ("forail-web", 8015) and paths["/static/forail"] == ("forail-frontend", 80)
    assert ("Job", "forail-init-1") in objs


def test_user_allowed_hosts_are_added_to_the_derived_ones_not_replacing_them(tmp_path: Path) -> None:
    cfg = config.load(None, {"hostname": "forail-dev.lan"})
    extra = tmp_path / "extra.yaml"
    extra.write_text("forail:\n  allowedHosts: forail.example.test\n")
    cfg.stack.releases[0].values = {"forail": {"allowedHosts": ["10.0.0.7", "localhost"]}}
    cfg.stack.releases[0].values_files = [str(extra)]
    layers = stack._user_layers(cfg, cfg.stack.releases[0], {})
    assert layers["forail"]["allowedHosts"] == "forail-dev.lan,127.0.0.1,localhost,forail.example.test,10.0.0.7"


@needs_helm
def test_podman_jobs_render_privileged_task_and_hybrid_without_privileges_is_refused(tmp_path: Path) -> None:
    from devcluster.clients import runner

    cfg = config.load(None, {"stack.job_execution": "podman"})
    objs = render(tmp_path, "forail-test", values_for(cfg, tmp_path))
    assert objs[("ConfigMap", "forail-settings")]["data"]["FORAIL_NODE_TYPE"] == "hybrid"
    task = objs[("Deployment", "forail-task")]["spec"]["template"]["spec"]["containers"][0]
    assert task["securityContext"] == {"privileged": True}
    bare = runner.run([HELM, "template", "forail", str(CHARTS / "forail-test"), "--set",
                       "secrets.forailAdminPassword=x", "--set", "forail.node.type=hybrid"], check=False)
    assert not bare.ok and "task.privileged=true" in bare.stderr, "the fixture must refuse hybrid like the chart"


@needs_helm
def test_image_tag_sets_both_images_on_top_of_every_layer_with_real_helm(tmp_path: Path) -> None:
    cfg = config.load(None, {"stack.image_tag": "dev"})
    rel = cfg.stack.releases[0]
    rel.values = {"images": {"backend": {"tag": "pinned"}}}
    objs = render(tmp_path, "forail-test", values_for(cfg, tmp_path), stack._user_layers(cfg, rel, {}))
    for name in ("forail-web", "forail-task", "forail-frontend"):
        container = objs[("Deployment", name)]["spec"]["template"]["spec"]["containers"][0]
        assert container["image"].endswith(":dev") and container["imagePullPolicy"] == "IfNotPresent", container


@needs_helm
def test_values_precedence_is_generated_then_files_then_inline_with_real_helm(tmp_path: Path) -> None:
    """Helm applies --values left to right: a user's values file must beat the generated values, and the
    user's inline values must beat both (rendered by the real helm, whose merge is deep)."""
    cfg = config.load(None)
    generated = values_for(cfg, tmp_path)
    generated["images"] = {"backend": {"tag": "from-generated"}, "frontend": {"tag": "from-generated"}}
    user_file = tmp_path / "mine.yaml"
    user_file.write_text("images:\n  backend:\n    tag: from-file\n  frontend:\n    tag: from-file\n")
    objs = render(tmp_path, "forail-test", generated, {"images": {"frontend": {"tag": "from-inline"}}},
                  [str(user_file)])
    images = {name: d["spec"]["template"]["spec"]["containers"][0]["image"] for (kind, name), d in objs.items()
              if kind == "Deployment"}
    assert images["forail-web"].endswith(":from-file"), images
    assert images["forail-frontend"].endswith(":from-inline"), images
    # the generated secrets are still there underneath the user's layers
    secret = objs[("Secret", "forail-secrets")]["data"]
    assert b64(secret, "forailAdminPassword") == generated["secrets"]["forailAdminPassword"]


@needs_helm
def test_lint_passes_with_generated_values_and_render_fails_without_the_admin_password(tmp_path: Path) -> None:
    from devcluster.clients import runner

    cfg = config.load(None)
    values = values_for(cfg, tmp_path)
    vf = tmp_path / "v.yaml"
    vf.write_text(yaml.safe_dump(values))
    lint = runner.run([HELM, "lint", "--strict", str(CHARTS / "forail-test"), "--values", str(vf)], check=False)
    assert lint.ok and "Fail:" not in lint.stdout, lint.stdout
    bare = runner.run([HELM, "template", "forail", str(CHARTS / "forail-test")], check=False)
    assert not bare.ok and "secrets.forailAdminPassword is required" in bare.stderr


@needs_helm
def test_operator_values_render_with_real_helm(tmp_path: Path) -> None:
    cfg = config.load(None)
    objs = render(tmp_path, "forail-operator-test", forail_values.operator_values(cfg, "tok-0123456789abcdef", "dev"),
                  name="forail-operator")
    dep = objs[("Deployment", "forail-operator-forail-operator")]
    assert dep["metadata"]["labels"]["app.kubernetes.io/instance"] == "forail-operator"
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "FORAIL_URL", "value": "http://forail-web.dev.svc.cluster.local:8013"} in env
    token_ref = next(e for e in env if e["name"] == "FORAIL_TOKEN")["valueFrom"]["secretKeyRef"]
    assert token_ref == {"name": "forail-operator-credentials", "key": "token"}
    assert objs[("Secret", "forail-operator-credentials")]["stringData"]["token"] == "tok-0123456789abcdef"


def test_default_releases_follow_the_published_charts() -> None:
    cfg = config.load(None)
    forail, operator = cfg.stack.releases
    assert (forail.chart, forail.version, forail.git, forail.kind) == (
        "oci://ghcr.io/forail-platform/forail-helm", "2026.7.1", "", "forail")
    assert (operator.git, operator.ref, operator.version, operator.subdir) == (
        "https://github.com/forail-platform/forail-operator.git", "v2026.07.1", "2026.7.1", "helm")
    assert cfg.stack.crd_group == "forail.forail-platform.io"
    assert cfg.stack.job_execution == "auto"
    execution = stack.job_execution(cfg, forail)
    assert execution.podman and "2026.7.1 (from the OCI pin)" in execution.reason


# ----------------------------------------------------------------- the install flow


Traefik = ForailStandIn  # Traefik routing to Forail: the stand-in answers for the Ingress host only

ENV_TOKEN = "env-token-0123456789abcdef"


def node_port_server() -> ThreadingHTTPServer:
    return start_standin(Traefik)


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
    Traefik.reset()
    Traefik.accepted_tokens.add(ENV_TOKEN)
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
    assert "CRDs in forail.forail-platform.io: 9/9 expected kinds" in " ".join(first.output.split())
    inventory = fake_api.get("forail.forail-platform.io/v1alpha1", "inventories", "devcluster-smoke", "forail")
    assert inventory and inventory["spec"]["organization"] == "Default"
    credentials = fake_api.get("v1", "secrets", "forail-operator-credentials", "forail-operator")
    assert credentials and base64.b64decode(credentials["data"]["token"]).decode() == "env-token-0123456789abcdef"

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
    report = not_ready_report(Kube(ClusterAccess(fake_api.write_kubeconfig(tmp_path / "kc"))), "forail")
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

    from devcluster.engine.steps import Context
    from devcluster.providers.existing import ExistingProvider
    from devcluster.reports.e2e import e2e_env

    conf = config.load(cfg, {"provider": "existing", "existing.kubeconfig": str(kubeconfig)})
    state = State(conf.state_path)
    ctx = Context(conf, state, Console(quiet=True), ExistingProvider(conf, state))
    env = dict(os.environ, **e2e_env(ctx), DEVCLUSTER_E2E_REQUIRE_CLUSTER="1")
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
    "test_ping_through_the_ingress", "test_frontend_answers_the_root_through_the_ingress",
    "test_operator_crds_present", "test_operator_runs_with_the_minted_token",
    "test_sample_inventory_is_reconciled", "test_a_job_launched_through_the_api_succeeds",
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
    from devcluster.clients.charts import ensure_dependencies, missing_dependencies

    chart_dir = tmp_path / "charts"
    shutil.copytree(CHARTS, chart_dir)
    umbrella = chart_dir / "umbrella-test"
    assert missing_dependencies(umbrella) == ["forail-operator"]
    ref = ChartRef(str(umbrella))
    ensure_dependencies(ref, HELM)
    assert missing_dependencies(umbrella) == []
    docs = [d for d in yaml.safe_load_all(Helm(ClusterAccess(), tmp_path, binary=HELM).template(
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


# ----------------------------------------------------------------- the Forail developer's loop


def upgrades(fake_tools) -> list[str]:  # type: ignore[no-untyped-def]
    return [a[a.index("--install") + 1] for a in (c["argv"] for c in fake_tools.calls("helm")) if "upgrade" in a]


def test_up_with_another_hostname_and_node_ports_derives_the_forail_values(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    """hostname forail-dev.lan and its own NodePorts: the Forail release's values carry the derived
    allowedHosts / csrfTrustedOrigins / ingress host, the sample Inventory lands in the operator's group,
    and a second `up` upgrades nothing."""
    kubeconfig, cfg = stack_env
    doc = yaml.safe_load(cfg.read_text())
    doc["hostname"] = "forail-dev.lan"
    doc["node_ports"]["https"] = 31443
    cfg.write_text(yaml.safe_dump(doc))
    monkeypatch.setattr(Traefik, "hostname", "forail-dev.lan")
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    first = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert first.exit_code == 0, first.output
    http = doc["node_ports"]["http"]
    values = json.loads((kubeconfig.parent / "helm-state.json").read_text())["forail/forail"]["values"]
    assert values["forail"]["allowedHosts"] == "forail-dev.lan,127.0.0.1,localhost"
    assert values["forail"]["csrfTrustedOrigins"] == \
        f"http://forail-dev.lan:{http},https://forail-dev.lan:31443,https://forail-dev.lan"
    assert values["ingress"]["host"] == "forail-dev.lan"
    # the fixture chart is 2026.7.1: jobs run only as hybrid with both privileges
    assert values["forail"]["node"]["type"] == "hybrid"
    assert values["task"] == {"privileged": True, "hostCgroup": True}
    task = fake_api.get("apps/v1", "deployments", "forail-task", "forail")
    assert task and task["spec"]["template"]["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    assert Traefik.launches, "verify launched a job"
    settings = fake_api.get("v1", "configmaps", "forail-settings", "forail")
    assert settings and settings["data"]["FORAIL_ALLOWED_HOSTS"].startswith("forail-dev.lan,127.0.0.1,localhost")
    assert fake_api.get("forail.forail-platform.io/v1alpha1", "inventories", "devcluster-smoke", "forail")
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    assert upgrades(fake_tools) == ["traefik", "forail", "forail-operator"], "the second run upgraded something"


def test_a_rejected_stored_token_is_minted_again_and_the_operator_restarted(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exec API needs a real cluster: Kube.exec_in_pod is replaced in-process; the token check is a real
    HTTP call to the loopback stand-in, which accepts only the tokens it is told to."""
    kubeconfig, cfg = stack_env
    calls = record_exec(monkeypatch, "first-token-0123456789\n")
    Traefik.accepted_tokens.add("first-token-0123456789")
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    assert len(calls) == 1
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    assert len(calls) == 1, "an accepted token is reused"
    Traefik.accepted_tokens.clear()  # e.g. the database was reset: Forail no longer knows the token
    calls_after = record_exec(monkeypatch, "second-token-0123456789\n")
    Traefik.accepted_tokens.add("second-token-0123456789")
    again = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert again.exit_code == 0, again.output
    assert len(calls_after) == 1 and "rejected by Forail" in again.output
    credentials = fake_api.get("v1", "secrets", "forail-operator-credentials", "forail-operator")
    assert base64.b64decode(credentials["data"]["token"]).decode() == "second-token-0123456789"
    operator = fake_api.get("apps/v1", "deployments", "forail-operator-forail-operator", "forail-operator")
    assert "kubectl.kubernetes.io/restartedAt" in operator["spec"]["template"]["metadata"].get("annotations", {})
    assert upgrades(fake_tools).count("forail") == 1, "only the operator release changed"


def test_verify_names_missing_operator_kinds(stack_env, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    partial = tmp_path / "partial-operator"
    shutil.copytree(CHARTS / "forail-operator-test", partial)
    for kind in ("schedules", "teams"):
        (partial / "crds" / f"forail.forail-platform.io_{kind}.yaml").unlink()
    doc = yaml.safe_load(cfg.read_text())
    doc["stack"]["releases"][1]["chart"] = str(partial)
    cfg.write_text(yaml.safe_dump(doc))
    result = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert isinstance(result.exception, DevclusterError)
    assert "7 of the 9 operator kinds; missing: Schedule, Team" in result.exception.message


def sibling_layout(tmp_path: Path) -> tuple[Path, Path]:
    """<work>/project/devcluster.yaml beside <work>/forail-helm and <work>/forail-operator/helm checkouts."""
    work = tmp_path / "work"
    shutil.copytree(CHARTS / "forail-test", work / "forail-helm")
    shutil.copytree(CHARTS / "forail-operator-test", work / "forail-operator" / "helm")
    (work / "project").mkdir()
    return work, work / "project" / "devcluster.yaml"


def test_plan_says_when_sibling_checkouts_replace_git(tmp_path: Path) -> None:
    work, cfg = sibling_layout(tmp_path)
    cfg.write_text("name: dev\n")
    result = CliRunner().invoke(app, ["plan", "--config", str(cfg)], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    out = " ".join(result.output.split())
    assert f"local checkout {work / 'forail-helm'}, not oci://ghcr.io/forail-platform/forail-helm 2026.7.1" in out
    assert f"local checkout {work / 'forail-operator' / 'helm'}" in out
    off = CliRunner().invoke(app, ["plan", "--config", str(cfg)], env={"COLUMNS": "400"})
    cfg.write_text("name: dev\nstack:\n  use_checkouts: false\n")
    off = CliRunner().invoke(app, ["plan", "--config", str(cfg)], env={"COLUMNS": "400"})
    assert "local checkout" not in off.output


def test_sibling_checkouts_install_and_a_chart_edit_upgrades_only_that_release(
        stack_env, tmp_path: Path, fake_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    """Releases on their default git sources, with checkouts beside the config: nothing is cloned (no git on
    PATH would fail), the charts come from the checkouts; editing forail-helm's template upgrades forail only."""
    kubeconfig, stack_cfg = stack_env
    work, cfg = sibling_layout(tmp_path)
    doc = yaml.safe_load(stack_cfg.read_text())
    doc["stack"].pop("releases")
    cfg.write_text(yaml.safe_dump(doc))
    fake_tools.add("git", "sys.exit(99)")
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    first = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert first.exit_code == 0, first.output
    assert fake_tools.calls("git") == []
    charts_used = {a[a.index("--install") + 1]: a[a.index("--install") + 2]
                   for a in (c["argv"] for c in fake_tools.calls("helm")) if "upgrade" in a}
    assert charts_used["forail"] == str(work / "forail-helm")
    assert charts_used["forail-operator"] == str(work / "forail-operator" / "helm")
    same = cli("stack", "install", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert same.exit_code == 0 and upgrades(fake_tools) == ["traefik", "forail", "forail-operator"]
    template = work / "forail-helm" / "templates" / "secret.yaml"
    template.write_text(template.read_text() + "  EDITED: \"yes\"\n")
    edited = cli("stack", "install", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert edited.exit_code == 0, edited.output
    assert upgrades(fake_tools) == ["traefik", "forail", "forail-operator", "forail"]


def test_release_checks_are_read_only_no_clone_no_secrets(fake_tools, tmp_path: Path) -> None:
    """The check of a git release on a fresh state dir: no process starts, nothing is written."""
    from devcluster.engine.steps import Context
    from devcluster.providers.existing import ExistingProvider

    fake_tools.add("git", "sys.exit(99)")
    fake_tools.add("helm", "sys.exit(99)")
    cfg = config.load(None, {"provider": "existing", "stack.use_checkouts": False})
    state = State(tmp_path / "fresh")
    ctx = Context(cfg, state, Console(quiet=True), ExistingProvider(cfg, state))
    for rel in cfg.stack.releases:
        assert stack.release_done(ctx, rel) is False
    assert fake_tools.calls() == [] and not (tmp_path / "fresh").exists()


def test_config_without_a_file_shows_the_upstream_defaults() -> None:
    result = cli("config")
    doc = yaml.safe_load(result.output)
    forail, operator = doc["stack"]["releases"]
    assert (forail["chart"], forail["version"]) == ("oci://ghcr.io/forail-platform/forail-helm", "2026.7.1")
    assert (operator["ref"], operator["version"]) == ("v2026.07.1", "2026.7.1")
    assert doc["stack"]["crd_group"] == "forail.forail-platform.io"


def test_verify_fails_when_the_operator_never_reconciles_the_sample(stack_env, fake_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No controller gives the sample Inventory a status.forailId: verify must wait, then fail naming it."""
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    fake_api.controllers.clear()  # nobody plays the operator
    doc = yaml.safe_load(cfg.read_text())
    doc["stack"]["verify_timeout"] = 2
    cfg.write_text(yaml.safe_dump(doc))
    result = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    err = result.exception
    assert isinstance(err, DevclusterError), result.output
    assert "step 'verify' failed" in err.message and "sample Inventory to be reconciled" in err.message
    assert "logs -l app.kubernetes.io/instance=forail-operator" in (err.hint or "")


# The API requests a no-op `up` of the default stack shape makes against the fake API (23 when
# written: see docs/performance.md). A growing count is a slower re-run: raise it only on purpose.
NOOP_UP_REQUEST_BUDGET = 30


def test_a_noop_up_starts_no_helm_process_and_makes_a_bounded_number_of_api_requests(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch) -> None:
    """A re-run only checks: release state comes from helm's release Secrets through the API, never from a
    `helm status` process; the fake `helm` on PATH records every start (and the fake API every request)."""
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
    helm_before, requests_before = len(fake_tools.calls("helm")), len(fake_api.requests)
    again = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert again.exit_code == 0, again.output
    assert fake_tools.calls("helm")[helm_before:] == [], "a no-op up started helm"
    made = fake_api.requests[requests_before:]
    assert all(method == "GET" for method, _, _ in made), [r for r in made if r[0] != "GET"]
    print(f"no-op up: {len(made)} API requests")
    assert len(made) <= NOOP_UP_REQUEST_BUDGET, f"{len(made)} requests: {[p for _, p, _ in made]}"
