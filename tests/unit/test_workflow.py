"""The nightly E2E workflow and its helper scripts.

The workflow must be valid per actionlint and do what the nightly job must do; the scripts it runs
(scripts/pull-node-image.sh, scripts/collect-diagnostics.sh) are run here with recording fake
`kind`, `docker`, `kubectl` (and `devcluster`) executables on PATH: kind and docker cannot run on
this machine (no Docker engine), so the fakes stand in for them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devcluster import config
from tests.conftest import FakeTools

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-e2e.yml"
CI_CONFIG = ROOT / ".github" / "devcluster-ci.yaml"
COLLECT = ROOT / "scripts" / "collect-diagnostics.sh"
PULL = ROOT / "scripts" / "pull-node-image.sh"

# scripts/test.sh puts the venv's bin on PATH; run bare (`.venv/bin/python -m pytest`) it is next to python.
ACTIONLINT = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path(sys.executable).parent))

# A `devcluster` on PATH that records its argv, then runs the real CLI of this checkout.
REAL_DEVCLUSTER = 'os.execv(sys.executable, [sys.executable, "-m", "devcluster", *sys.argv[1:]])'


def _job() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["kind"]


def _step(job: dict, needle: str) -> dict:
    return next(s for s in job["steps"] if needle in s.get("run", "") or needle in s.get("uses", ""))


def _bash(script: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


# --- the workflow ------------------------------------------------------------------------------


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint is not installed (scripts/test-setup.sh)")
def test_actionlint_is_clean() -> None:
    assert ACTIONLINT is not None
    proc = subprocess.run([ACTIONLINT, str(WORKFLOW)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_nightly_and_manual_triggers_and_step_order() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as a boolean
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = doc["jobs"]["kind"]
    assert job["runs-on"].startswith("ubuntu") and job["timeout-minutes"] <= 90
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    texts = [s.get("run", s.get("uses", "")) + str(s.get("with", {}).get("mode", "")) for s in steps]
    order = [next(i for i, t in enumerate(texts) if needle in t) for needle in (
        "./", "devcluster doctor", "check nodes", "collect-diagnostics.sh", "actions/upload-artifact", "./down")]
    assert order == sorted(order) and order[-1] == len(steps) - 1
    up = next(s for s in steps if s.get("uses") == "./")
    assert up["uses"] == "./" and up["with"]["e2e"] == "true" and "mode" not in up["with"]
    down = steps[-1]
    assert down["if"] == "always()" and down["uses"] == "./" and down["with"]["mode"] == "down"


def test_nightly_runs_the_default_and_the_newest_kubernetes_version() -> None:
    from devcluster.config import versions

    job = _job()
    assert job["strategy"]["matrix"]["kubernetes-version"] == [versions.DEFAULT_VERSION, versions.NEWEST_VERSION]
    assert job["strategy"]["fail-fast"] is False
    assert _step(job, "./")["with"]["kubernetes-version"] == "${{ matrix.kubernetes-version }}"
    upload = _step(job, "actions/upload-artifact")
    assert "${{ matrix.kubernetes-version }}" in upload["with"]["name"], "one artifact per matrix leg"


def test_diagnostics_run_on_failure_or_cancel_and_upload_always_warns_when_empty() -> None:
    job = _job()
    collect = _step(job, "collect-diagnostics.sh")
    assert "failure()" in collect["if"] and "cancelled()" in collect["if"]
    assert shlex.split(collect["run"]) == ["bash", "scripts/collect-diagnostics.sh", "$RUNNER_TEMP/devcluster-reports",
                                           "devcluster"]
    upload = _step(job, "actions/upload-artifact")
    assert upload["if"] == "always()"
    assert upload["with"]["if-no-files-found"] == "warn"
    assert upload["with"]["path"] == "${{ runner.temp }}/devcluster-reports"


def test_every_devcluster_command_uses_the_ci_config() -> None:
    job = _job()
    assert job["env"]["DEVCLUSTER_CONFIG"] == ".github/devcluster-ci.yaml"
    assert (ROOT / job["env"]["DEVCLUSTER_CONFIG"]) == CI_CONFIG and CI_CONFIG.is_file()
    invocations = []
    for step in job["steps"]:
        if step.get("uses") == "./":
            assert step["with"]["config"] == job["env"]["DEVCLUSTER_CONFIG"], step
        for line in step.get("run", "").splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["devcluster"] or words[1:3] == ["-m", "devcluster"]:
                invocations.append(words)
    assert len(invocations) >= 2, invocations  # doctor, check nodes (up, e2e and down run in the action)
    for words in invocations:
        assert "--config" in words, words
        assert words[words.index("--config") + 1] == "$DEVCLUSTER_CONFIG", words


def test_ci_config_keeps_failed_kind_nodes_and_raises_timeouts() -> None:
    raw = yaml.safe_load(CI_CONFIG.read_text())
    assert raw["kind"]["retain_on_failure"] is True
    cfg = config.load(CI_CONFIG)  # every key is one devcluster knows
    assert cfg.kind.retain_on_failure is True and cfg.kind.create_timeout == 900
    assert (cfg.timeouts.rollout, cfg.timeouts.nodes_ready, cfg.timeouts.helm) == (600, 900, 900)


# --- scripts/collect-diagnostics.sh ------------------------------------------------------------

FAKE_KIND_CLUSTER_DOWN = """
args = sys.argv[1:]
if args[:2] == ["create", "cluster"]:
    sys.exit("ERROR: failed to create cluster: timed out waiting for the control plane")
if args[:2] == ["export", "logs"]:
    node = os.path.join(args[-1], "devcluster-control-plane")
    os.makedirs(node, exist_ok=True)
    with open(os.path.join(node, "kubelet.log"), "w") as fh:
        fh.write("E kubelet: node not ready\\n")
    print("Exported logs for cluster devcluster to:", args[-1])
    sys.exit(0)
sys.exit("ERROR: could not locate any control plane nodes")
"""


def test_collect_diagnostics_when_the_cluster_never_came_up_with_fake_kind(fake_tools: FakeTools,
                                                                           tmp_path: Path) -> None:
    """Failure path of the workflow, run locally (kind and docker cannot run here; fakes stand in).

    kind's create failed but kept its nodes: `kind export logs` works, while devcluster and kubectl
    cannot reach an API server. Each failure is recorded, nothing stops the others, kind goes first.
    """
    fake_tools.add("kind", FAKE_KIND_CLUSTER_DOWN)
    fake_tools.add("devcluster", 'sys.exit("error: cannot reach the API server of cluster devcluster")')
    fake_tools.add("kubectl", 'sys.exit("The connection to the server 127.0.0.1:6443 was refused")')
    fake_tools.add("docker", 'print("CONTAINER ID  IMAGE  STATUS\\nabc123  kindest/node  Exited (1)")')
    assert subprocess.run(["kind", "create", "cluster", "--name", "devcluster"]).returncode != 0
    reports = tmp_path / "reports"

    proc = _bash(COLLECT, str(reports), "devcluster", DEVCLUSTER_CONFIG=str(CI_CONFIG))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::warning::" not in proc.stdout
    assert (reports / "kind-logs" / "devcluster-control-plane" / "kubelet.log").is_file()
    assert "kindest/node" in (reports / "docker-ps.txt").read_text()
    errors = (reports / "collect-errors.txt").read_text().splitlines()
    assert any(e.startswith(f"devcluster logs --provider kind --config {CI_CONFIG} --collect {reports}")
               and e.endswith("exit 1") for e in errors), errors
    assert any(e.startswith("kubectl ") and "get nodes,pods -A -o wide" in e and e.endswith("exit 1")
               for e in errors), errors
    assert not any(e.startswith(("kind export", "docker")) for e in errors), errors

    calls = [(c["tool"], c["argv"]) for c in fake_tools.calls()]
    export = calls.index(("kind", ["export", "logs", "--name", "devcluster", str(reports / "kind-logs")]))
    logs = next(i for i, (tool, argv) in enumerate(calls) if tool == "devcluster" and argv[:1] == ["logs"])
    assert export < logs
    assert calls[logs][1] == ["logs", "--provider", "kind", "--config", str(CI_CONFIG), "--collect", str(reports)]
    assert ("docker", ["ps", "-a"]) in calls


def test_collect_diagnostics_warns_when_nothing_at_all_is_collected_with_fake_kind(fake_tools: FakeTools,
                                                                                  tmp_path: Path) -> None:
    """Every collector fails and writes nothing (kind/docker cannot run here; fakes stand in): a
    GitHub ::warning:: says so, and the script still exits 0 so the real failure stays the reported one."""
    for tool in ("kind", "devcluster", "kubectl", "docker"):
        fake_tools.add(tool, "sys.exit(3)")
    reports = tmp_path / "reports"

    proc = _bash(COLLECT, str(reports), "devcluster")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^::warning::.*no diagnostics", proc.stdout, re.MULTILINE), proc.stdout
    errors = (reports / "collect-errors.txt").read_text()
    for command in ("kind export logs --name devcluster", "devcluster logs --provider kind --collect",
                    "get nodes,pods -A -o wide", "docker ps -a"):
        assert command in errors, errors
    assert errors.count("exit 3") == 4
    assert [p.name for p in reports.rglob("*") if p.is_file()] == ["collect-errors.txt"]


# --- scripts/pull-node-image.sh ----------------------------------------------------------------

FAKE_DOCKER_FLAKY = """
counter = {counter!r}
n = int(open(counter).read()) if os.path.exists(counter) else 0
open(counter, "w").write(str(n + 1))
if n < {failures}:
    sys.exit("Error response from daemon: Get https://registry-1.docker.io/v2/: net/http: TLS handshake timeout")
print("Status: Downloaded newer image")
"""


def _pinned_image() -> str:
    image = config.load(CI_CONFIG).kind.node_image
    assert re.fullmatch(r"kindest/node:v[\d.]+@sha256:[0-9a-f]{64}", image), image
    return image


def test_pull_node_image_retries_until_docker_succeeds_with_fake_kind(fake_tools: FakeTools,
                                                                      tmp_path: Path) -> None:
    """docker pull fails twice, then works (docker/kind cannot run here; a fake docker stands in).
    The image comes from the real `devcluster config --config .github/devcluster-ci.yaml`."""
    fake_tools.add("devcluster", REAL_DEVCLUSTER)
    fake_tools.add("docker", FAKE_DOCKER_FLAKY.format(counter=str(tmp_path / "pulls"), failures=2))

    proc = _bash(PULL, DEVCLUSTER_CONFIG=str(CI_CONFIG), PYTHON=sys.executable, PULL_RETRY_SLEEP="0")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c["argv"] for c in fake_tools.calls("docker")] == [["pull", _pinned_image()]] * 3
    assert [c["argv"] for c in fake_tools.calls("devcluster")] == [["config", "--config", str(CI_CONFIG)]]


def test_pull_node_image_gives_up_after_four_tries_with_fake_kind(fake_tools: FakeTools, tmp_path: Path) -> None:
    """docker pull always fails (docker/kind cannot run here; a fake docker stands in): four tries, then
    a non-zero exit with a clear ::error:: line."""
    fake_tools.add("devcluster", REAL_DEVCLUSTER)
    fake_tools.add("docker", FAKE_DOCKER_FLAKY.format(counter=str(tmp_path / "pulls"), failures=99))

    proc = _bash(PULL, DEVCLUSTER_CONFIG=str(CI_CONFIG), PYTHON=sys.executable, PULL_RETRY_SLEEP="0")

    assert proc.returncode != 0
    assert [c["argv"] for c in fake_tools.calls("docker")] == [["pull", _pinned_image()]] * 4
    assert re.search(r"^::error::docker pull .* failed 4 times", proc.stdout, re.MULTILINE), proc.stdout


# --- shellcheck --------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", [COLLECT, PULL], ids=lambda p: p.name)
def test_scripts_are_shellcheck_clean(script: Path) -> None:
    proc = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_nightly_keeps_the_pull_through_caches_keyed_on_the_image_pins() -> None:
    from devcluster.config import load

    job = _job()
    cache = _step(job, "actions/cache@")
    cfg = load(CI_CONFIG)
    assert cfg.registry.mirrors.enabled and cfg.registry.mirrors.storage_dir == cache["with"]["path"]
    assert "devcluster/config/schema.py" in cache["with"]["key"]  # where the image pins live
    texts = [s.get("run", s.get("uses", "")) for s in job["steps"]]
    # the repository's own action (uses: ./) runs `devcluster up`: the caches are restored before it
    assert texts.index(cache["uses"]) < texts.index("./")
