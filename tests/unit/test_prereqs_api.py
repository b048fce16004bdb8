"""The prerequisite steps against a fake API server at the HTTP boundary (tests/fakeapi.py).

The real `kubernetes` client and devcluster's code run unmodified; the API
server is an in-memory stand-in without controllers (Deployments report
ready as soon as they exist) and `helm` is a recording fake that creates the
release's Deployment. What a real cluster adds (pods actually rolling out,
CoreDNS reloading) is covered by tests/e2e against KUBECONFIG.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devcluster.cli import app
from devcluster.errors import StepError
from devcluster.local import tls
from tests.fakeapi import FakeApiServer

FIXTURES = Path(__file__).parent.parent / "fixtures"
COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
    }
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
}
"""


def kind_like_cluster(api: FakeApiServer) -> None:
    """What a fresh kind cluster already has: nodes, kind's default `standard` class, CoreDNS."""
    api.add_node("devcluster-control-plane", role="control-plane")
    api.add_node("devcluster-worker")
    api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}})
    api.put({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "rancher.io/local-path",
             "metadata": {"name": "standard",
                          "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}})
    api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
             "data": {"Corefile": COREFILE}})


@pytest.fixture
def setup(tmp_path: Path, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    kind_like_cluster(fake_api)
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig", context="kind-test")
    monkeypatch.setenv("FAKE_HELM_STATE", str(tmp_path / "helm-state.json"))
    fake_tools.add("helm", (FIXTURES / "fake_helm.py").read_text())
    hosts_path = tmp_path / "hosts"
    hosts_path.write_text("127.0.0.1 localhost\n")
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text(
        f"name: test\nhosts:\n  file: {hosts_path}\n"
        f"addons:\n  local_path:\n    manifest: {FIXTURES / 'local-path-storage.yaml'}\n"
    )
    return kubeconfig, cfg, hosts_path


def up(kubeconfig: Path, cfg: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["up", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--skip-stack"])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_up_existing_installs_prerequisites_then_second_run_changes_nothing(setup, fake_api, fake_tools) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg, hosts_path = setup
    code, out = up(kubeconfig, cfg)
    assert code == 0, out

    # exactly one default StorageClass, and it is local-path
    classes = fake_api.list("storage.k8s.io/v1", "storageclasses")
    defaults = [c["metadata"]["name"] for c in classes
                if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
                == "true"]
    assert defaults == ["local-path"]
    assert fake_api.get("apps/v1", "deployments", "local-path-provisioner", "local-path-storage")

    # Traefik: installed by helm with NodePort values, from a 0600 values file that is gone afterwards
    upgrade = next(c for c in fake_tools.calls("helm") if "upgrade" in c["argv"])
    argv = upgrade["argv"]
    # no `helm --wait` (2 s polls): the rollout step waits for Traefik's Deployment itself
    assert argv[argv.index("--version") + 1] == "34.4.1" and "--wait" not in argv
    assert not any(a.startswith("--set") for a in argv)
    helm_state = json.loads((kubeconfig.parent / "helm-state.json").read_text())
    values = helm_state["traefik/traefik"]["values"]
    assert values["service"]["type"] == "NodePort"
    assert values["ports"]["web"]["nodePort"] == 30080 and values["ports"]["websecure"]["nodePort"] == 30443
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    values_file = argv[argv.index("--values") + 1]
    assert not Path(values_file).exists()

    # namespace + TLS secret with both SANs
    assert fake_api.get("v1", "namespaces", "forail")
    secret = fake_api.get("v1", "secrets", "forail-tls", "forail")
    assert secret["type"] == "kubernetes.io/tls"
    cert = base64.b64decode(secret["data"]["tls.crt"])
    assert sorted(tls.cert_sans(cert)) == ["*.forail.lan", "forail.lan"]

    # CoreDNS rewrite inside the .:53 block
    corefile = fake_api.get("v1", "configmaps", "coredns", "kube-system")["data"]["Corefile"]
    assert corefile.startswith(".:53 {\n    rewrite name exact forail.lan traefik.traefik.svc.cluster.local\n")

    # hosts block
    assert "# BEGIN devcluster test\n127.0.0.1\tforail.lan\n# END devcluster test\n" in hosts_path.read_text()

    # second run: every step already done, no writes to the API, no helm upgrade, same certificate
    writes_before = [r for r in fake_api.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")]
    helm_upgrades_before = sum("upgrade" in c["argv"] for c in fake_tools.calls("helm"))
    start = time.monotonic()
    code, out = up(kubeconfig, cfg)
    elapsed = time.monotonic() - start
    assert code == 0, out
    # only `target` (a check that has nothing to skip) runs; everything else is already done
    assert [ln.split(":")[0] for ln in out.splitlines() if "→" in ln] == ["→ target"], out
    assert out.count("(already done)") == 8, out  # nodes-ready + 7 prerequisites
    assert [r for r in fake_api.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")] == writes_before
    assert sum("upgrade" in c["argv"] for c in fake_tools.calls("helm")) == helm_upgrades_before
    assert fake_api.get("v1", "secrets", "forail-tls", "forail")["data"]["tls.crt"] == secret["data"]["tls.crt"]
    assert elapsed < 10


def test_status_json_reports_prerequisites(setup, fake_api) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg, _ = setup
    assert up(kubeconfig, cfg)[0] == 0
    result = CliRunner().invoke(app, ["status", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "-o", "json"])
    data = json.loads(result.output)
    assert data["reachable"] is True
    assert {n["name"] for n in data["nodes"]} == {"devcluster-control-plane", "devcluster-worker"}
    assert all(v["ok"] for v in data["prerequisites"].values()), data["prerequisites"]
    assert data["prerequisites"]["default-storageclass"]["detail"] == "local-path"
    assert data["hosts"]["entries"] == [{"ip": "127.0.0.1", "hostnames": ["forail.lan"]}]


def test_not_ready_node_blocks_with_a_timeout_naming_it(setup, fake_api) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg, _ = setup
    fake_api.add_node("devcluster-worker2", ready=False)
    cfg.write_text(cfg.read_text() + "timeouts:\n  nodes_ready: 1\n")
    result = CliRunner().invoke(app, ["up", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--skip-stack"])
    err = result.exception
    assert isinstance(err, StepError)
    assert "step 'nodes-ready' failed" in err.message and "not ready: devcluster-worker2" in err.message
    # the resume hint repeats the options that chose this cluster, so following it resumes the same run
    assert f"devcluster up --config {cfg} --kubeconfig {kubeconfig} --skip-stack --from nodes-ready" in (err.hint or "")
    # nothing after nodes-ready ran
    assert fake_api.get("v1", "namespaces", "forail") is None


def test_remote_context_is_refused_without_yes(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: prod\n"
        "clusters: [{name: prod, cluster: {server: 'https://k8s.prod.invalid:6443'}}]\n"
        "contexts: [{name: prod, context: {cluster: prod, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    result = CliRunner().invoke(app, ["up", "--kubeconfig", str(kc), "--skip-stack"])
    assert result.exit_code != 0
    assert "not a local or private address" in str(result.exception)
    assert "--yes" in (result.exception.hint or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("server,local", [
    ("https://127.0.0.1:6443", True), ("https://192.168.56.11:6443", True), ("https://10.1.2.3", True),
    ("https://172.20.0.2:6443", True), ("https://localhost:6443", True), ("https://[::1]:6443", True),
    ("https://203.0.113.10:6443", False), ("https://8.8.8.8", False), ("https://k8s.example.com", False),
    ("https://172.32.0.1", False),
])
def test_local_server_classification(server: str, local: bool) -> None:
    from devcluster.clients.local_server import is_local_server

    assert is_local_server(server) is local


def test_on_kind_local_path_reuses_kinds_own_provisioner_without_new_images(setup, fake_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """kind runs local-path-provisioner already: the step only adds the `local-path` class for it and
    un-defaults `standard`; upstream's manifest (new images from Docker Hub) is never fetched."""
    from rich.console import Console

    from devcluster import config
    from devcluster.engine.steps import Context, execute
    from devcluster.local.state import State
    from devcluster.providers.existing import ExistingProvider
    from devcluster.stages.prerequisites import local_path_step

    kubeconfig, _, _ = setup
    cfg = config.load(None, {"provider": "existing", "existing.kubeconfig": str(kubeconfig),
                             "addons.local_path.manifest": str(tmp_path / "must-not-be-read.yaml")})
    state = State(tmp_path / "st")
    ctx = Context(cfg, state, Console(quiet=True), ExistingProvider(cfg, state))
    step = local_path_step(cfg, bundled=("local-path-storage", "local-path-provisioner"))
    assert [o.status for o in execute([step], ctx)] == ["ran"]
    classes = {c["metadata"]["name"]: c for c in fake_api.list("storage.k8s.io/v1", "storageclasses")}
    assert classes["local-path"]["provisioner"] == "rancher.io/local-path"
    assert classes["local-path"]["volumeBindingMode"] == "WaitForFirstConsumer"
    defaults = sorted(n for n, c in classes.items()
                      if (c["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
                      == "true")
    assert defaults == ["local-path"]
    assert fake_api.list("apps/v1", "deployments", "local-path-storage") == []  # no provisioner of ours
    assert [o.status for o in execute([step], ctx)] == ["done"]


def test_plan_on_kind_uses_the_bundled_provisioner_and_on_vagrant_the_manifest() -> None:
    from devcluster import config
    from devcluster.local.state import State
    from devcluster.plan import up_steps
    from devcluster.providers import get_provider

    for provider, needle in (("kind", "no new images"), ("vagrant", "apply local-path-provisioner")):
        cfg = config.load(None, {"provider": provider})
        steps = up_steps(cfg, get_provider(cfg, State(cfg.state_path)))
        assert needle in next(s.summary for s in steps if s.name == "local-path-storage")


def test_pull_secret_is_created_as_dockerconfigjson_and_follows_the_password(setup, fake_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg, _ = setup
    cfg.write_text(cfg.read_text() + "pull_secret:\n  name: regcred\n  server: registry.example.test\n"
                   "  username: bot\n")
    monkeypatch.setenv("DEVCLUSTER_PULL_PASSWORD", "first-password")
    code, out = up(kubeconfig, cfg)
    assert code == 0, out
    secret = fake_api.get("v1", "secrets", "regcred", "forail")
    assert secret and secret["type"] == "kubernetes.io/dockerconfigjson"
    auths = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))["auths"]
    assert auths["registry.example.test"]["username"] == "bot"
    assert auths["registry.example.test"]["password"] == "first-password"
    assert "first-password" not in out
    monkeypatch.setenv("DEVCLUSTER_PULL_PASSWORD", "rotated-password")
    code, out = up(kubeconfig, cfg)
    assert code == 0 and "→ pull-secret" in out, out
    secret = fake_api.get("v1", "secrets", "regcred", "forail")
    assert "rotated-password" in base64.b64decode(secret["data"][".dockerconfigjson"]).decode()


def test_status_and_the_tls_step_agree_on_a_certificate_for_another_host(setup, fake_api) -> None:  # type: ignore[no-untyped-def]
    """A valid `forail-tls` issued for other.lan: status must not say "ok" while `up` would reissue it."""
    kubeconfig, cfg, _ = setup
    assert up(kubeconfig, cfg)[0] == 0
    other = tls.generate("other.lan")
    secret = fake_api.get("v1", "secrets", "forail-tls", "forail")
    secret["data"] = {"tls.crt": base64.b64encode(other.cert_pem).decode(),
                      "tls.key": base64.b64encode(other.key_pem).decode()}
    fake_api.put(secret)

    def status() -> dict:  # type: ignore[type-arg]
        argv = ["status", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "-o", "json"]
        result = CliRunner().invoke(app, argv)
        return json.loads(result.output)["prerequisites"]["tls-secret"]  # type: ignore[no-any-return]

    shown = status()
    assert shown["ok"] is False, shown
    assert "other.lan" in shown["detail"] and "forail.lan" in shown["detail"], shown
    code, out = up(kubeconfig, cfg)
    assert code == 0 and "→ tls-secret" in out, out  # the step agrees: it reissues
    assert status() == {"ok": True, "detail": "kubernetes.io/tls"}
