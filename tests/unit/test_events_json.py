"""`--output json`: a real `devcluster up --provider existing` process against tests/fakeapi.py writes JSON
Lines step events on stdout, and only those; the human progress goes to stderr (issue 18).

helm is the recording fake the prerequisite tests use (tests/fixtures/fake_helm.py); the API is the
in-memory fake on loopback; devcluster itself runs unmodified in its own process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from devcluster.plan import up_steps
from tests.unit.test_prereqs_api import FIXTURES, kind_like_cluster

KEYS = {"command", "cluster", "step", "status", "seconds", "detail", "time"}


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "FAKE_HELM_STATE": str(tmp_path / "helm-state.json")}
    return subprocess.run([sys.executable, "-m", "devcluster", *args], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)


def events(stdout: str) -> list[dict[str, Any]]:
    lines = stdout.splitlines()
    assert lines, "no events on stdout"
    parsed = [json.loads(line) for line in lines]  # every line, or this fails
    for event in parsed:
        assert set(event) >= KEYS, event
        assert event["status"] in {"start", "finish", "skip", "failure"}
        assert isinstance(event["seconds"], float | int) and event["seconds"] >= 0
    return parsed


def setup(tmp_path: Path, fake_api, fake_tools) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    kind_like_cluster(fake_api)
    fake_tools.add("helm", (FIXTURES / "fake_helm.py").read_text())
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig", context="kind-test")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text(f"name: test\nhosts:\n  file: {hosts}\n"
                   f"addons:\n  local_path:\n    manifest: {FIXTURES / 'local-path-storage.yaml'}\n")
    return kubeconfig, cfg


def test_up_output_json_names_every_step_on_stdout_and_keeps_people_on_stderr(tmp_path, fake_api, fake_tools) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = setup(tmp_path, fake_api, fake_tools)
    args = ["up", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--skip-stack", "--output", "json"]
    first = run(args, tmp_path)
    assert first.returncode == 0, first.stderr
    got = events(first.stdout)
    from devcluster import config
    from devcluster.local.state import State
    from devcluster.providers import get_provider

    c = config.load(cfg, {"existing.kubeconfig": str(kubeconfig), "provider": "existing"})
    steps = up_steps(c, get_provider(c, State(c.state_path)), skip_stack=True)
    names = [s.name for s in steps]
    # every step appears, in order, and each either ran (start then finish) or was skipped
    ended = [e["step"] for e in got if e["status"] in ("finish", "skip")]
    assert ended == names
    for e in got:
        if e["status"] == "finish":
            assert any(s["step"] == e["step"] and s["status"] == "start" for s in got)
    assert {e["command"] for e in got} == {"up"} and {e["cluster"] for e in got} == {"test"}
    assert "is ready" in first.stderr and "is ready" not in first.stdout
    # a second run only checks: every step with a check is a skip (a check-less one, `target`, runs again)
    second = run(args, tmp_path)
    assert second.returncode == 0, second.stderr
    expected = [pair for s in steps for pair in ([(s.name, "skip")] if s.check is not None
                                                 else [(s.name, "start"), (s.name, "finish")])]
    assert [(e["step"], e["status"]) for e in events(second.stdout)] == expected


def test_a_failed_step_is_an_event_with_the_resume_command(tmp_path, fake_api, fake_tools) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = setup(tmp_path, fake_api, fake_tools)
    fake_api.add_node("devcluster-worker2", ready=False)
    cfg.write_text(cfg.read_text() + "timeouts:\n  nodes_ready: 1\n")
    args = ["up", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--skip-stack", "-o", "json"]
    result = run(args, tmp_path)
    assert result.returncode == 1
    got = events(result.stdout)
    failure = got[-1]
    assert failure["status"] == "failure" and failure["step"] == "nodes-ready"
    assert "devcluster-worker2" in failure["detail"]
    resume = f"devcluster up --config {cfg} --kubeconfig {kubeconfig} --skip-stack --from nodes-ready"
    assert failure["resume"] == resume
    assert "error:" in result.stderr


def test_down_output_json_reports_each_part(tmp_path, fake_api, fake_tools) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = setup(tmp_path, fake_api, fake_tools)
    assert run(["up", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--skip-stack"], tmp_path).returncode == 0
    result = run(["down", "--config", str(cfg), "--kubeconfig", str(kubeconfig), "--output", "json"], tmp_path)
    assert result.returncode == 0, result.stderr
    got = events(result.stdout)
    assert [(e["step"], e["status"]) for e in got] == [("delete-cluster", "start"), ("delete-cluster", "finish"),
                                                      ("hosts", "start"), ("hosts", "finish")]
    assert "removed the devcluster test block" in result.stderr


def test_stack_install_output_json_reports_the_unreachable_cluster_as_a_failure_event(tmp_path, fake_api) -> None:  # type: ignore[no-untyped-def]
    """The kubeconfig names a loopback port nobody listens on (fake API stopped): the first step fails."""
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig", context="kind-test")
    fake_api.stop()
    result = run(["stack", "install", "--kubeconfig", str(kubeconfig), "--output", "json"], tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    got = events(result.stdout)
    assert got[-1]["status"] == "failure" and got[-1]["command"] == "stack install"
    assert got[-1]["resume"] == f"devcluster stack install --kubeconfig {kubeconfig} --from {got[-1]['step']}"
    assert "error:" in result.stderr
