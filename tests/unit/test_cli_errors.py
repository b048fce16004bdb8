"""What a user sees when something is off: exit codes, one clear line, nothing half-done.

Commands run through `python -m devcluster` (as users and CI call it) where main()'s handling matters;
kind and vagrant are recording fakes on PATH (neither can run on this machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakeapi import FakeApiServer


def devcluster(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120,
               stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "300", "DEVCLUSTER_STATE_DIR": str(cwd / "state"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "devcluster", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=full, input=stdin)


def closed_port_kubeconfig(path: Path) -> Path:
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: kind-x\n"
                    "clusters: [{name: kind-x, cluster: {server: 'http://127.0.0.1:9'}}]\n"
                    "contexts: [{name: kind-x, context: {cluster: kind-x, user: u}}]\nusers: [{name: u, user: {}}]\n")
    return path


def test_status_of_an_unreachable_cluster_exits_1_in_words(tmp_path: Path) -> None:
    proc = devcluster("status", "--kubeconfig", str(closed_port_kubeconfig(tmp_path / "kc")), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "is not reachable: nothing answers at http://127.0.0.1:9" in proc.stderr
    assert "reachable: False" not in proc.stdout + proc.stderr
    as_json = devcluster("status", "-o", "json", "--kubeconfig", str(tmp_path / "kc"), cwd=tmp_path)
    assert as_json.returncode == 1 and '"reachable": false' in as_json.stdout


def test_status_says_401_is_rejected_credentials_not_unreachable(tmp_path: Path, fake_api: FakeApiServer) -> None:
    kc = fake_api.write_kubeconfig(tmp_path / "kc")
    fake_api.require_token = "the-right-token"  # the kubeconfig carries none: the API answers 401
    proc = devcluster("status", "--kubeconfig", str(kc), cwd=tmp_path)
    assert proc.returncode == 1
    assert "rejected the credentials (HTTP 401 Unauthorized)" in proc.stderr, proc.stderr


@pytest.mark.parametrize("content,needle", [
    ("just a string\n", "is not a kubeconfig"),
    ("- a\n- list\n", "is not a kubeconfig"),
    ("clusters: [\n", "cannot read kubeconfig"),
])
def test_a_kubeconfig_that_is_not_one_is_named_not_a_traceback(tmp_path: Path, content: str, needle: str) -> None:
    kc = tmp_path / "kc"
    kc.write_text(content)
    proc = devcluster("up", "--kubeconfig", str(kc), "--skip-stack", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert needle in proc.stderr and str(kc) in proc.stderr
    assert "Traceback" not in proc.stderr and "item assignment" not in proc.stderr


def test_no_kubeconfig_at_all_names_the_path_looked_at(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = devcluster("up", "--provider", "existing", "--skip-stack", cwd=tmp_path,
                      env={"HOME": str(home), "KUBECONFIG": ""})
    assert proc.returncode == 1
    assert f"no kubeconfig at {home}/.kube/config" in proc.stderr, proc.stderr


def test_insecure_request_warning_does_not_leak(tmp_path: Path) -> None:
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: x\n"
                  "clusters: [{name: x, cluster: {server: 'https://127.0.0.1:9', insecure-skip-tls-verify: true}}]\n"
                  "contexts: [{name: x, context: {cluster: x, user: u}}]\nusers: [{name: u, user: {token: t}}]\n")
    proc = devcluster("status", "--kubeconfig", str(kc), cwd=tmp_path)
    assert "InsecureRequestWarning" not in proc.stderr


def test_config_that_is_a_directory_says_so(tmp_path: Path) -> None:
    proc = devcluster("plan", "--config", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "is a directory" in proc.stderr, proc.stderr


def test_output_piped_into_head_exits_0_without_noise(tmp_path: Path) -> None:
    """`devcluster up --dry-run | head -1`: the reader closes the pipe early; that is not a failure."""
    env = {**os.environ, "COLUMNS": "300", "DEVCLUSTER_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.run(f"'{sys.executable}' -m devcluster up --dry-run --provider kind | head -c 1; "
                          "echo \" rc=${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash", capture_output=True,
                          text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.stdout.strip().endswith("rc=0"), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_flags_show_as_flags_in_help(tmp_path: Path) -> None:
    proc = devcluster("up", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "<bool>" not in proc.stdout
    assert "--dry-run" in proc.stdout and "SECONDS" in proc.stdout


@pytest.mark.parametrize("command", [["snapshot", "save", "s1"], ["snapshot", "restore", "s1"], ["ssh", "cp1"]])
def test_vagrant_commands_without_a_vagrant_cluster_say_so_with_fake_vagrant(tmp_path: Path, fake_tools,
                                                                             command: list[str]) -> None:  # type: ignore[no-untyped-def]
    """A fake `vagrant` on PATH (VirtualBox cannot run here) records whether it was called at all."""
    fake_tools.add("vagrant", "sys.stderr.write('Ruby error\\n'); sys.exit(1)")
    proc = devcluster(*command, cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert proc.returncode == 1
    assert "no Vagrant cluster 'devcluster'" in proc.stderr and "Ruby" not in proc.stderr
    assert fake_tools.calls("vagrant") == []
    assert not list(tmp_path.rglob(".vagrant"))


def test_down_with_kind_missing_still_removes_the_hosts_block_and_reports(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    hosts = tmp_path / "hosts"
    original = "127.0.0.1 localhost\n"
    hosts.write_text(original + "# BEGIN devcluster devcluster\n127.0.0.1\tforail.lan\n# END devcluster devcluster\n")
    (tmp_path / "devcluster.yaml").write_text(f"hosts:\n  file: {hosts}\n")
    proc = devcluster("down", "--provider", "kind", cwd=tmp_path, env={"PATH": str(bindir)})
    assert proc.returncode == 1
    assert hosts.read_text() == original
    assert "not done:" in proc.stderr and "`kind` was not found" in proc.stderr
    assert "removed the devcluster devcluster block" in proc.stdout


def test_resume_hint_keeps_the_provider_and_config_with_fake_vagrant(tmp_path: Path, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """After `up --provider vagrant` fails, the printed resume command must not start the kind provider."""
    (tmp_path / "devcluster.yaml").write_text("name: dev\n")
    proc = devcluster("up", "--provider", "vagrant", "--config", str(tmp_path / "devcluster.yaml"), cwd=tmp_path,
                      env={"PATH": str(fake_tools.bindir)})
    assert proc.returncode == 1
    hint = " ".join(proc.stderr.split())
    assert f"devcluster up --provider vagrant --config {tmp_path / 'devcluster.yaml'} --from preflight" in hint


# ----------------------------------------------------------------- two runs at once


SLOW_KIND = """
import time
args = sys.argv[1:]
if args[:2] == ["get", "clusters"]:
    time.sleep(float(os.environ.get("SLOW_KIND_SECONDS", "3")))
    print("")
"""


def start_up(tmp_path: Path, extra: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    full = {**os.environ, "COLUMNS": "300", "DEVCLUSTER_STATE_DIR": str(tmp_path / "state"), **env}
    return subprocess.Popen([sys.executable, "-m", "devcluster", "up", "--provider", "kind", *extra],
                            cwd=tmp_path, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lock_holder(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "devcluster" / "cluster.lock"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if lock.is_file() and lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError("the first run never took the lock")


def test_two_concurrent_ups_second_fails_naming_the_holder_with_fake_kind(tmp_path: Path, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Two real processes; the first is held inside its preflight by a slow fake `kind` (Docker cannot run
    here). The second must stop at once, naming the first's pid and command, and touch nothing."""
    fake_tools.add("kind", SLOW_KIND)
    fake_tools.add("docker", "print('28.2.2')")
    env = {"PATH": f"{fake_tools.bindir}{os.pathsep}{os.environ['PATH']}", "SLOW_KIND_SECONDS": "4"}
    first = start_up(tmp_path, [], env)
    try:
        wait_for_lock_holder(tmp_path)
        deadline = time.monotonic() + 60
        while not fake_tools.calls("kind") and time.monotonic() < deadline:  # the first is inside `kind`
            time.sleep(0.05)
        calls_before = len(fake_tools.calls("kind"))
        second = start_up(tmp_path, [], env)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1, err
        assert f"pid {first.pid}" in err and "devcluster up --provider kind" in err and "is busy" in err
        assert "--wait-lock" in err
        assert len(fake_tools.calls("kind")) == calls_before, "the second run must not have started anything"
    finally:
        first.kill()
        first.communicate()


def test_second_up_with_wait_lock_waits_for_the_first_with_fake_kind(tmp_path: Path, fake_tools) -> None:  # type: ignore[no-untyped-def]
    fake_tools.add("kind", SLOW_KIND + "    sys.exit(1)\n")
    fake_tools.add("docker", "print('28.2.2')")
    env = {"PATH": f"{fake_tools.bindir}{os.pathsep}{os.environ['PATH']}", "SLOW_KIND_SECONDS": "2"}
    first = start_up(tmp_path, [], env)
    try:
        wait_for_lock_holder(tmp_path)
        second = start_up(tmp_path, ["--wait-lock", "60"], {**env, "SLOW_KIND_SECONDS": "0"})
        _, err = second.communicate(timeout=90)
        first.communicate(timeout=60)
        assert f"waiting up to 60s for pid {first.pid}" in err, err
        assert "is busy" not in err
    finally:
        first.kill()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    import json

    from devcluster.local.clusterlock import cluster_lock

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    root = tmp_path / "state"
    root.mkdir()
    (root / "cluster.lock").write_text(json.dumps({"pid": dead.pid, "command": "devcluster up", "since": 0}))
    said: list[str] = []
    with cluster_lock(root, "dev", 0, said.append):
        info = json.loads((root / "cluster.lock").read_text())
        assert info["pid"] == os.getpid()
    assert said and f"pid {dead.pid}" in said[0] and "has exited" in said[0]
    assert (root / "cluster.lock").read_text() == "", "a finished holder leaves no details behind"
