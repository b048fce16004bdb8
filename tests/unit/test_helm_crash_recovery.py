"""A helm install/upgrade killed mid-way leaves its release pending-*; the next `up` recovers it (issue 16.2).

Nothing is faked above the API: the real helm (.tools/bin/helm) talks to tests/fakeapi.py. The crashed
states are helm's own: a real `helm upgrade --install --wait` is SIGKILLed while it waits for a Deployment
that never becomes ready (the fake's stand-in controllers are switched off for it, then on again).
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from devcluster import config
from devcluster.engine.steps import Context, Step, execute
from devcluster.errors import StepError
from devcluster.local.clusterlock import cluster_lock
from devcluster.local.state import State
from devcluster.providers.existing import ExistingProvider
from devcluster.stages.prerequisites import prerequisite_steps
from tests.fakeapi import FakeApiServer
from tests.helmcharts import release_status, write_chart

HELM = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "helm"
pytestmark = pytest.mark.skipif(not HELM.is_file(), reason="no .tools/bin/helm (bash scripts/test-setup.sh)")

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "traefik:{{ .Values.tag | default "v3" }}"}]
"""


class World:
    def __init__(self, tmp_path: Path, api: FakeApiServer, chart_template: str = DEPLOYMENT) -> None:
        self.api = api
        chart = self.chart = write_chart(tmp_path / "chart", chart_template)
        self.kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", context="kind-test")
        cfg = config.load(None, {"provider": "existing", "existing.kubeconfig": str(self.kubeconfig),
                                 "addons.traefik.chart": str(chart), "addons.traefik.repo": "",
                                 "addons.traefik.version": ""})
        self.state = State(tmp_path / "state")
        self.output = tmp_path / "console.txt"
        self.console = Console(file=self.output.open("w"), width=300, color_system=None)
        self.ctx = Context(cfg, self.state, self.console, ExistingProvider(cfg, self.state))
        self.step: Step = next(s for s in prerequisite_steps(cfg, "127.0.0.1") if s.name == "traefik")

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(HELM), "--kubeconfig", str(self.kubeconfig), *args], capture_output=True,
                              text=True, timeout=60, check=check)

    def status(self) -> str:
        return release_status(HELM, self.kubeconfig, "traefik", "traefik")

    def crash(self, *extra: str, pending: str) -> None:
        """Run a real `helm upgrade --install --wait` and SIGKILL it while it waits: helm's state is left as is."""
        self.api.auto_ready = False  # no controllers: the Deployment never gets ready, helm waits
        proc = subprocess.Popen([str(HELM), "--kubeconfig", str(self.kubeconfig), "upgrade", "--install", "traefik",
                                 str(self.chart), "-n", "traefik", "--create-namespace", "--wait", "--timeout",
                                 "120s", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not self._waiting(pending):
                assert proc.poll() is None and time.monotonic() < deadline, "helm did not get to wait"
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        self.api.auto_ready = True
        assert self.status() == pending

    def _waiting(self, pending: str) -> bool:
        secrets = self.api.list("v1", "secrets", "traefik")
        marked = any((s["metadata"].get("labels") or {}).get("status") == pending for s in secrets)
        return marked and any("/replicasets" in path for _, path, _ in self.api.requests[-5:])

    def up(self) -> list[str]:
        with cluster_lock(self.state.root, "devcluster"):  # what `up` holds while it runs its steps
            return [o.status for o in execute([self.step], self.ctx)]

    def said(self) -> str:
        self.console.file.flush()
        return self.output.read_text()


@pytest.fixture
def world(tmp_path: Path, fake_api: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("DEVCLUSTER_HELM", str(HELM))
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    return World(tmp_path, fake_api)


def history(world: World) -> list[tuple[int, str]]:
    import json

    rows: list[dict[str, Any]] = json.loads(world.helm("history", "traefik", "-n", "traefik", "-o", "json").stdout)
    return [(int(r["revision"]), r["status"]) for r in rows]


def test_a_first_install_killed_while_waiting_is_uninstalled_and_installed_again(world: World) -> None:
    world.crash(pending="pending-install")
    assert "another operation" in world.helm("upgrade", "--install", "traefik", str(world.chart), "-n", "traefik",
                                             check=False).stderr, "the state the issue reports"
    assert world.up() == ["ran"]
    assert "revision 1 was left pending-install" in world.said() and "uninstalled it" in world.said()
    assert world.status() == "deployed" and history(world) == [(1, "deployed")]
    assert world.up() == ["done"]


def test_an_upgrade_killed_while_waiting_is_rolled_back_then_upgraded(world: World) -> None:
    assert world.up() == ["ran"]
    world.crash("--set", "tag=v4", pending="pending-upgrade")
    assert not world.step.is_done(world.ctx), "a pending release is not done"
    assert world.up() == ["ran"]
    assert "revision 2 was left pending-upgrade" in world.said() and "rolled back to revision 1" in world.said()
    # helm's rollback supersedes only the deployed revision: the dead upgrade's record stays as it was
    assert history(world) == [(1, "superseded"), (2, "pending-upgrade"), (3, "superseded"), (4, "deployed")]
    assert world.status() == "deployed" and world.up() == ["done"]
    deployment = world.api.get("apps/v1", "deployments", "traefik", "traefik")
    assert deployment is not None and deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "traefik:v3"


def test_without_the_cluster_lock_a_pending_release_is_left_alone(world: World) -> None:
    """Without the lock another run's helm may still be working on it."""
    world.crash(pending="pending-install")
    with pytest.raises(StepError, match="is pending-install") as err:
        execute([world.step], world.ctx)
    assert "devcluster up" in (err.value.hint or "")
    assert world.status() == "pending-install"


def test_a_failing_helm_install_names_helm_status_once(tmp_path: Path, fake_api: FakeApiServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVCLUSTER_HELM", str(HELM))
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    world = World(tmp_path, fake_api, chart_template='{{ fail "the chart refuses" }}\n')
    with pytest.raises(StepError, match="the chart refuses") as err:
        world.up()
    assert (err.value.hint or "").count("helm status traefik -n traefik") == 1, err.value.hint
