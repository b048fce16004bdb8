"""Issue 14: Forail must run a job. The job execution follows the chart being installed (rendered by the real
helm from 2026.7.x-style and 2026.10-style fixtures), verify launches a job through a Forail API stand-in with
upstream's JSON shapes (tests/forail_standin.py), per-image tags, a fixed admin password, and `stack uninstall`
deleting the operator's CRs while the operator still runs."""

from __future__ import annotations

import contextlib
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from devcluster import config
from devcluster.clients import charts
from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError
from devcluster.local import secrets as secrets_store
from devcluster.local.state import State
from devcluster.providers.existing import ExistingProvider
from devcluster.stages import forail_values, job_check, stack
from tests.fakeapi import FakeApiServer
from tests.forail_standin import ForailStandIn, start_standin
from tests.unit import test_stack
from tests.unit.test_stack import CHARTS, b64, needs_helm, render

stack_env = test_stack.stack_env  # the install-flow fixture: fake API, fake helm rendering with the real one

TOKEN = "job-token-0123456789abcdef"


def chart_at(tmp_path: Path, version: str) -> Path:
    """The forail-test fixture (forail-helm's values interface) with its Chart.yaml at ``version``."""
    dest = tmp_path / f"forail-{version}"
    shutil.copytree(CHARTS / "forail-test", dest)
    meta = yaml.safe_load((dest / "Chart.yaml").read_text())
    meta["version"] = version
    (dest / "Chart.yaml").write_text(yaml.safe_dump(meta))
    return dest


def forail_release(cfg: config.Config, chart: str, version: str = "") -> config.ReleaseConfig:
    rel = cfg.stack.releases[0]
    rel.chart, rel.version, rel.git = chart, version, ""
    return rel


@needs_helm
@pytest.mark.parametrize("version,node_type,privileged", [
    ("2026.7.1", "hybrid", True), ("2026.7.0", "hybrid", True), ("2026.6.0", "hybrid", True),
    ("2026.10.0", "control", False), ("2027.1.0", "control", False)])
def test_job_execution_follows_the_local_chart_version_rendered_by_real_helm(
        tmp_path: Path, version: str, node_type: str, privileged: bool) -> None:
    cfg = config.load(None)
    rel = forail_release(cfg, str(chart_at(tmp_path, version)))
    execution = stack.job_execution(cfg, rel)
    values = forail_values.forail_values(cfg, secrets_store.load_or_create(State(tmp_path / "st")), execution)
    objs = render(tmp_path, str(chart_at(tmp_path / "r", version)), values)
    assert objs[("ConfigMap", "forail-settings")]["data"]["FORAIL_NODE_TYPE"] == node_type
    task = objs[("Deployment", "forail-task")]["spec"]["template"]["spec"]["containers"][0]
    assert (task.get("securityContext") == {"privileged": True}) is privileged
    assert values.get("task") == ({"privileged": True, "hostCgroup": True} if privileged else None)
    assert version in execution.reason and "Chart.yaml" in execution.reason


def test_job_execution_is_read_from_a_packaged_chart_a_checkout_and_pins(tmp_path: Path) -> None:
    cfg = config.load(None)
    src = chart_at(tmp_path, "2026.10.0")
    tgz = tmp_path / "forail-2026.10.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(src, arcname="forail")
    assert not stack.job_execution(cfg, forail_release(cfg, str(tgz))).podman
    assert stack.job_execution(cfg, forail_release(cfg, "oci://ghcr.io/forail-platform/forail-helm",
                                                   "2026.7.1")).podman
    assert not stack.job_execution(cfg, forail_release(cfg, "oci://ghcr.io/forail-platform/forail-helm",
                                                       "2026.10.0")).podman
    rel = forail_release(cfg, "")
    rel.git, rel.ref = "https://github.com/forail-platform/forail-helm.git", "v2026.10.0"
    assert not stack.job_execution(cfg, rel).podman
    rel.ref = "main"  # no version to read: hybrid, which runs jobs on every release
    execution = stack.job_execution(cfg, rel)
    assert execution.podman and "unknown" in execution.reason
    # a sibling checkout's Chart.yaml wins over the pin it replaces
    (tmp_path / "dev" / "forail-helm").parent.mkdir()
    shutil.copytree(src, tmp_path / "dev" / "forail-helm")
    cfg2 = config.load(None, {"stack.checkouts_dir": str(tmp_path / "dev")})
    assert not stack.job_execution(cfg2, cfg2.stack.releases[0]).podman
    # the explicit setting overrides the version
    cfg3 = config.load(None, {"stack.job_execution": "pods"})
    assert not stack.job_execution(cfg3, cfg3.stack.releases[0]).podman


def test_plan_and_config_say_which_job_execution_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from devcluster.cli import app

    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("DEVCLUSTER_CHECKOUTS_DIR", str(tmp_path))
    (tmp_path / "devcluster.yaml").write_text(yaml.safe_dump({"stack": {"checkouts_dir": str(tmp_path / "none")}}))
    plan = CliRunner().invoke(app, ["plan", "--provider", "kind"])
    assert plan.exit_code == 0, plan.output
    text = " ".join(plan.output.split())
    assert "oci://ghcr.io/forail-platform/forail-helm 2026.7.1" in text
    assert "jobs as podman in a privileged task pod (hybrid; dev only): chart 2026.7.1 (from the OCI pin)" in text
    shown = CliRunner().invoke(app, ["config"])
    assert shown.exit_code == 0, shown.output
    assert "job_execution: auto" in shown.output
    assert "# stack.job_execution auto -> podman" in shown.output


@needs_helm
def test_each_image_tag_is_set_alone_and_image_tag_sets_both(tmp_path: Path) -> None:
    cfg = config.load(None, {"stack.image_tags.frontend": "fe-dev"})
    rel = cfg.stack.releases[0]
    values = forail_values.forail_values(cfg, secrets_store.load_or_create(State(tmp_path / "st")),
                                         stack.job_execution(cfg, rel))
    images = lambda objs: {n: objs[("Deployment", n)]["spec"]["template"]["spec"]["containers"][0]["image"]  # noqa: E731
                           for n in ("forail-web", "forail-frontend")}
    only_frontend = images(render(tmp_path, "forail-test", values, stack._user_layers(cfg, rel, {})))
    assert only_frontend == {"forail-web": "ghcr.io/forail-platform/forail-backend:2026.07.1",
                             "forail-frontend": "ghcr.io/forail-platform/forail-frontend:fe-dev"}
    both = config.load(None, {"stack.image_tag": "dev", "stack.image_tags.backend": "be-1"})
    mixed = images(render(tmp_path, "forail-test", values, stack._user_layers(both, both.stack.releases[0], {})))
    assert mixed == {"forail-web": "ghcr.io/forail-platform/forail-backend:be-1",
                     "forail-frontend": "ghcr.io/forail-platform/forail-frontend:dev"}


@needs_helm
def test_admin_password_comes_from_the_named_variable_when_set(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from devcluster.cli import app

    state = State(config.load(None).state_path)
    generated = secrets_store.load_or_create(state)
    cfg = config.load(None, {"stack.admin_password_env": "ADMIN_PASSWORD"})
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    assert secrets_store.in_use(state, "ADMIN_PASSWORD") == generated
    monkeypatch.setenv("ADMIN_PASSWORD", "changeme-admin")
    in_use = secrets_store.in_use(state, "ADMIN_PASSWORD")
    assert in_use and in_use["forailAdminPassword"] == "changeme-admin"
    assert in_use["postgresPassword"] == generated["postgresPassword"]
    values = forail_values.forail_values(cfg, in_use, stack.job_execution(cfg, cfg.stack.releases[0]))
    secret = render(tmp_path, "forail-test", values)[("Secret", "forail-secrets")]["data"]
    assert b64(secret, "forailAdminPassword") == "changeme-admin"
    (tmp_path / "devcluster.yaml").write_text("stack:\n  admin_password_env: ADMIN_PASSWORD\n")
    shown = CliRunner().invoke(app, ["secrets", "-o", "json"])
    assert shown.exit_code == 0, shown.output
    assert '"forailAdminPassword": "changeme-admin"' in shown.output and "$ADMIN_PASSWORD" in shown.output


def test_http_login_makes_the_session_cookie_not_secure_and_up_says_so() -> None:
    from devcluster.cli.cluster import platform_urls

    cfg = config.load(None)
    execution = stack.job_execution(cfg, cfg.stack.releases[0])
    assert "cookieSecure" not in forail_values.forail_values(cfg, {}, execution)["forail"]
    urls = platform_urls(cfg)
    assert urls[0] == "https://forail.lan:30443/" and "no login over http" in urls[1]
    opted = config.load(None, {"stack.http_login": True})
    assert forail_values.forail_values(opted, {}, execution)["forail"]["cookieSecure"] == "false"
    assert "login over http works" in platform_urls(opted)[1]


# ----------------------------------------------------------------- launching a job through Forail's API


@pytest.fixture
def forail(tmp_path: Path, fake_api: FakeApiServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    ForailStandIn.reset()
    ForailStandIn.accepted_tokens.add(TOKEN)
    server = start_standin()
    kc = fake_api.write_kubeconfig(tmp_path / "kc")
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", TOKEN)
    cfg = config.load(None, {"provider": "existing", "existing.kubeconfig": str(kc),
                             "node_ports.http": server.server_address[1], "stack.verify_timeout": 3})
    state = State(tmp_path / "st")
    ctx = Context(cfg, state, Console(quiet=True), ExistingProvider(cfg, state))
    yield ctx
    server.shutdown()
    server.server_close()


def test_verify_job_launches_the_demo_template_and_records_success(forail: Context) -> None:
    step = job_check.job_step(forail.config, "hint")
    assert not step.is_done(forail)
    job_check.run_job(forail, "hint")
    assert ForailStandIn.launches == [101]
    assert step.is_done(forail), "a verified cluster launches nothing on a re-run"
    record = forail.state.read_json(job_check.JOB_FILE)
    assert record["status"] == "successful" and record["job"] == 101
    # a release that changed (its recorded digest) makes the step launch again
    forail.state.write_json("releases.json", {"forail": {"digest": "new", "revision": 2}})
    assert not step.is_done(forail)


def test_a_failed_job_shows_the_tail_of_its_stdout(forail: Context) -> None:
    ForailStandIn.outcome = "failed"
    with pytest.raises(DevclusterError) as exc:
        job_check.run_job(forail, "hint")
    assert "job 101 (Demo Job Template) ended failed" in exc.value.message
    assert "fatal: [localhost]: FAILED!" in exc.value.message
    assert not job_check.job_verified(forail)


def test_a_job_still_pending_at_the_timeout_fails_naming_it_with_the_capacity_and_a_hint(forail: Context) -> None:
    ForailStandIn.outcome = "pending"
    with pytest.raises(DevclusterError) as exc:
        job_check.run_job(forail, "this install runs jobs as pods (control); see stack.job_execution")
    message = exc.value.message
    assert "job 101 (Demo Job Template) is still pending after 3s" in message
    assert "not enough available capacity" in message
    assert "instance group 'default': capacity 0" in message and "node_type control" in message
    assert "stack.job_execution" in (exc.value.hint or "")


def test_a_rejected_token_is_said_in_words(forail: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "not-the-token-0123456789")
    with pytest.raises(DevclusterError) as exc:
        job_check.run_job(forail, "hint")
    assert "Forail rejected the token" in exc.value.message and "operator-token" in (exc.value.hint or "")
    assert ForailStandIn.launches == []


def test_no_demo_template_is_a_clear_error(forail: Context) -> None:
    ForailStandIn.templates = []
    with pytest.raises(DevclusterError) as exc:
        job_check.run_job(forail, "hint")
    assert "no job template named 'Demo Job Template'" in exc.value.message
    assert "stack.verify_job_template" in (exc.value.hint or "")


def test_polling_is_brisk_a_job_done_in_a_second_is_seen_within_it(forail: Context) -> None:
    import time

    ForailStandIn.steps_before_outcome = 4
    start = time.monotonic()
    job_check.run_job(forail, "hint")
    assert time.monotonic() - start < 1.5, "polling every 2 s would take 6 s for four reads"
    ForailStandIn.steps_before_outcome = 2


# ----------------------------------------------------------------- uninstall: CRs before the operator


class PlayedOperator:
    """The operator, played by a thread through the API as the real one works: it puts its finalizer on every
    Inventory, and removes it from one being deleted, but only while its release is installed (helm's
    release state): once `helm uninstall` removed it, nothing finalizes anything any more."""

    def __init__(self, fake_api: FakeApiServer, helm_state: Path) -> None:
        import threading

        self.api, self.helm_state, self.stop = fake_api, helm_state, threading.Event()
        fake_api.controllers.append(self._add_finalizer)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _add_finalizer(res: Any, obj: dict[str, Any]) -> None:
        meta = obj.setdefault("metadata", {})
        if res.kind == "Inventory" and not meta.get("deletionTimestamp"):
            meta["finalizers"] = ["inventory.forail.forail-platform.io/finalizer"]

    def running(self) -> bool:
        import json

        if not self.helm_state.exists():
            return False
        return "forail-operator/forail-operator" in json.loads(self.helm_state.read_text() or "{}")

    def _run(self) -> None:
        import json
        import urllib.request

        while not self.stop.wait(0.05):
            if not self.running():
                continue
            for obj in self.api.list("forail.forail-platform.io/v1alpha1", "inventories"):
                meta = obj["metadata"]
                if meta.get("deletionTimestamp") and meta.get("finalizers"):
                    body = json.loads(json.dumps(obj))
                    body["metadata"]["finalizers"] = []
                    url = (f"{self.api.url}/apis/forail.forail-platform.io/v1alpha1/namespaces/"
                           f"{meta['namespace']}/inventories/{meta['name']}")
                    req = urllib.request.Request(url, method="PUT", data=json.dumps(body).encode(),
                                                 headers={"Content-Type": "application/json"})
                    with contextlib.suppress(OSError):  # a conflict: the next round sees the current object
                        urllib.request.urlopen(req).read()


def user_inventory(fake_api: FakeApiServer, name: str) -> None:
    fake_api.put({"apiVersion": "forail.forail-platform.io/v1alpha1", "kind": "Inventory",
                  "metadata": {"name": name, "namespace": "forail"},
                  "spec": {"name": name, "organization": "Default"}})


def inventories(fake_api: FakeApiServer) -> list[str]:
    return [o["metadata"]["name"] for o in fake_api.list("forail.forail-platform.io/v1alpha1", "inventories")]


def cli(*args: str) -> Any:
    from typer.testing import CliRunner

    from devcluster.cli import app

    return CliRunner().invoke(app, list(args))


def test_uninstall_deletes_devclusters_crs_while_the_operator_runs_then_the_releases(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """If `stack uninstall` removed the operator before its CRs, the played operator could no longer
    finalize them and this fails (the sample Inventory would stay, and the command exit 1)."""
    kubeconfig, cfg = stack_env
    data = yaml.safe_load(cfg.read_text())
    data["timeouts"] = {"rollout": 10}
    cfg.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", test_stack.ENV_TOKEN)  # exec needs a real cluster
    operator = PlayedOperator(fake_api, kubeconfig.parent / "helm-state.json")
    try:
        up = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
        assert up.exit_code == 0, up.output
        user_inventory(fake_api, "mine")
        assert sorted(inventories(fake_api)) == ["devcluster-smoke", "mine"]
        gone = cli("stack", "uninstall", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
        assert gone.exit_code == 0, gone.output
        out = " ".join(gone.output.split())
        assert "deleted and finalized: Inventory forail/devcluster-smoke" in out
        assert "uninstalled: forail-operator, forail" in out
        assert inventories(fake_api) == ["mine"], "only devcluster's own CRs without --all-crs"
        assert not operator.running()
    finally:
        operator.stop.set()


def test_uninstall_all_crs_and_a_finalizer_that_stays_is_named_never_stripped(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", test_stack.ENV_TOKEN)  # exec needs a real cluster
    data = yaml.safe_load(cfg.read_text())
    data["timeouts"] = {"rollout": 1}
    cfg.write_text(yaml.safe_dump(data))
    operator = PlayedOperator(fake_api, kubeconfig.parent / "helm-state.json")
    try:
        assert cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig)).exit_code == 0
        user_inventory(fake_api, "mine")
        operator.stop.set()  # the operator hangs: nothing removes finalizers now
        operator.thread.join()
        stuck = cli("stack", "uninstall", "--all-crs", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
        assert isinstance(stuck.exception, DevclusterError), stuck.output
        text = " ".join(stuck.exception.message.split())
        assert "still held by their finalizers" in text
        assert "Inventory devcluster-smoke (finalizers: inventory.forail.forail-platform.io/finalizer)" in text
        assert "Inventory mine" in text
        assert sorted(inventories(fake_api)) == ["devcluster-smoke", "mine"], "finalizers are never stripped"
        assert not [c for c in fake_tools.calls("helm") if "uninstall" in c["argv"]], "the operator stays"
    finally:
        operator.stop.set()


# ----------------------------------------------------------------- the operator's git pin


def git(repo: Path, *args: str) -> str:
    import subprocess

    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(repo.parent), "PATH": "/usr/bin:/bin"}
                          ).stdout.strip()


def operator_repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A real git repository like forail-operator's: helm/Chart.yaml at 2026.6.0, then the commit that makes
    it 2026.7.1, then later work still at 2026.7.1. No tags."""
    repo = tmp_path / "forail-operator"
    (repo / "helm").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commits = {}
    for label, version in (("old", "2026.6.0"), ("release", "2026.7.1"), ("later", "2026.7.1")):
        (repo / "helm" / "Chart.yaml").write_text(f"apiVersion: v2\nname: forail-operator\nversion: {version}\n"
                                                  f"# {label}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", label)
        commits[label] = git(repo, "rev-parse", "HEAD")
    return repo, commits


def test_git_pin_without_the_tag_resolves_to_the_commit_that_set_the_version(tmp_path: Path) -> None:
    repo, commits = operator_repo(tmp_path)
    rel = config.ReleaseConfig(name="forail-operator", git=f"file://{repo}", ref="v2026.07.1", version="2026.7.1",
                               subdir="helm")
    said: list[str] = []
    chart = charts.resolve(rel, tmp_path / "cache", say=said.append)
    assert git(Path(chart.chart).parent, "rev-parse", "HEAD") == commits["release"]
    assert said == [f"file://{repo}: no tag v2026.07.1; using commit {commits['release']}, which set the "
                    f"chart's version to 2026.7.1"]
    # with the tag there (on a later commit), the tag wins
    git(repo, "tag", "v2026.07.2", commits["later"])
    rel2 = config.ReleaseConfig(name="op", git=f"file://{repo}", ref="v2026.07.2", version="2026.7.1", subdir="helm")
    assert "# later" in (Path(charts.resolve(rel2, tmp_path / "cache").chart) / "Chart.yaml").read_text()
    # a commit id works as a ref, and a pin whose Chart.yaml disagrees is refused
    rel3 = config.ReleaseConfig(name="op", git=f"file://{repo}", ref=commits["old"], version="2026.7.1",
                                subdir="helm")
    with pytest.raises(DevclusterError) as exc:
        charts.resolve(rel3, tmp_path / "cache")
    assert "has version '2026.6.0', not the pinned '2026.7.1'" in exc.value.message


def test_up_fails_and_says_so_when_the_verify_job_stays_pending(
        stack_env, fake_api: FakeApiServer, fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A full `up` (fake API, fake helm rendering with the real one) against a Forail that never runs the job:
    `up` fails at verify-job naming the job, "pending", the instance groups, and stack.job_execution; once Forail
    runs jobs, the resumed run launches again and passes, and a further re-run launches nothing."""
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", test_stack.ENV_TOKEN)
    data = yaml.safe_load(cfg.read_text())
    data["stack"]["verify_timeout"] = 2
    cfg.write_text(yaml.safe_dump(data))
    test_stack.Traefik.outcome = "pending"
    stuck = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert isinstance(stuck.exception, DevclusterError), stuck.output
    message = " ".join(stuck.exception.message.split())
    assert "step 'verify-job' failed: job 101 (Demo Job Template) is still pending after 2s" in message
    assert "instance group 'default': capacity 0" in message
    hint = " ".join((stuck.exception.hint or "").split())
    assert "runs jobs as podman in a privileged task pod (hybrid; dev only)" in hint and "stack.job_execution" in hint
    assert "--from verify-job" in hint
    test_stack.Traefik.outcome = "successful"
    resumed = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--from", "verify-job")
    assert resumed.exit_code == 0, resumed.output
    assert test_stack.Traefik.launches == [101, 102]
    again = cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert again.exit_code == 0 and "verify-job (already done)" in again.output
    assert test_stack.Traefik.launches == [101, 102], "a verified cluster launches nothing"
    forced = cli("stack", "verify", "--job", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert forced.exit_code == 0, forced.output
    assert test_stack.Traefik.launches == [101, 102, 103]


def test_a_pushed_image_replaces_the_users_own_repository_and_only_at_the_pushed_tag() -> None:
    """The user's images.*.repository (a mirror) is what a local build is tagged as; its push under
    localhost:<port> is used only at that tag, and never while the registry is off."""
    cfg = config.load(None, {"registry.enabled": True, "stack.image_tag": "dev"})
    rel = cfg.stack.releases[0]
    rel.values = {"images": {"backend": {"repository": "mirror.example.lan/forail/forail-backend"}}}
    digest = "sha256:" + "ab" * 32
    pushed = {"localhost:5001/forail/forail-backend:dev": digest,
              "localhost:5001/forail-platform/forail-frontend:v2": "sha256:" + "cd" * 32}
    images = stack._user_layers(cfg, rel, pushed)["images"]
    assert images["backend"]["repository"] == "localhost:5001/forail/forail-backend"
    assert images["backend"]["tag"] == f"dev@{digest}", "pinned to what was pushed: a re-push rolls out"
    assert "repository" not in images["frontend"], "frontend was pushed at v2, not at dev"
    cfg.registry.enabled = False
    off = stack._user_layers(cfg, rel, pushed)["images"]["backend"]
    assert off["repository"] == "mirror.example.lan/forail/forail-backend", "the user's own, untouched"
    assert off["tag"] == "dev"
