"""Command-line behaviour: help, plan per provider, hosts commands, doctor."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from devcluster.cli import app
from devcluster.errors import ConfigError


def run(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


COMMANDS = [["up"], ["plan"], ["down"], ["status"], ["doctor"], ["kubeconfig"], ["hosts", "add"],
            ["hosts", "remove"], ["hosts", "show"], ["config"], ["secrets"], ["e2e"], ["logs"],
            ["stack", "install"], ["stack", "uninstall"], ["stack", "status"], ["ssh"],
            ["snapshot", "save"], ["snapshot", "restore"], ["check", "nodes"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "devcluster " in result.output and ("Example" in result.output)  # type: ignore[attr-defined]


@pytest.mark.parametrize("provider,first_steps", [
    ("kind", ["preflight", "create-cluster", "kubeconfig", "nodes-ready"]),
    ("vagrant", ["preflight", "vagrant-config", "vm-cp1", "kubeconfig", "vms", "join", "nodes-ready"]),
    ("existing", ["target", "nodes-ready"]),
])
def test_plan_lists_the_steps_of_each_provider(provider: str, first_steps: list[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = run("plan", "--provider", provider)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = [line.split("│")[2].strip() for line in result.output.splitlines()  # type: ignore[attr-defined]
            if line.startswith("│") and line.split("│")[1].strip().isdigit()]
    common = ["local-path-storage", "traefik", "namespace", "tls-secret", "coredns-rewrite", "rollout", "hosts",
              "stack-secrets", "release-forail", "ready-forail", "operator-token", "release-forail-operator",
              "ready-forail-operator", "verify"]
    assert rows == first_steps + common


def test_hosts_commands_round_trip_and_validate(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    added = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "192.168.56.32")
    assert added.exit_code == 0 and "updated" in added.output  # type: ignore[attr-defined]
    assert "192.168.56.32\tforail.lan" in run("hosts", "show", "--hosts-file", str(hosts)).output  # type: ignore[attr-defined]
    again = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "192.168.56.32")
    assert "unchanged" in again.output  # type: ignore[attr-defined]
    bad = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "192.168.56.300")
    assert isinstance(bad.exception, ConfigError)  # type: ignore[attr-defined]
    assert run("hosts", "remove", "--hosts-file", str(hosts)).exit_code == 0  # type: ignore[attr-defined]
    assert hosts.read_text() == "127.0.0.1 localhost\n"


def test_doctor_reports_versions_and_fixes(fake_tools, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Fake executables stand in for kind/docker/helm/kubectl; doctor must show their versions or the fix."""
    monkeypatch.setenv("COLUMNS", "250")
    import os

    monkeypatch.setenv("PATH", str(fake_tools.bindir) + os.pathsep + "/usr/bin:/bin")
    fake_tools.add("kind", "print('kind v0.29.0 go1.24.2 linux/amd64')")
    fake_tools.add("helm", "print('v3.17.3+ge4da497')")
    fake_tools.add("docker", "sys.stderr.write('Cannot connect to the Docker daemon\\n'); sys.exit(1)")
    fake_tools.add("kubectl", "print('Client Version: v1.30.14')")
    fake_tools.add("git", "print('git version 2.39.5')")
    result = run("doctor", "--provider", "kind")
    out = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "kind v0.29.0" in out and "v3.17.3" in out and "v1.30.14" in out
    assert "Cannot connect to the Docker daemon" in out and "start Docker" in out


def test_e2e_command_fails_when_the_cluster_is_unreachable(tmp_path: Path) -> None:
    """`devcluster e2e` runs the packaged suite with the cluster required: unreachable is a failure, not a skip."""
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: kind-x\n"
                  "clusters: [{name: kind-x, cluster: {server: 'http://127.0.0.1:9'}}]\n"  # loopback, closed port
                  "contexts: [{name: kind-x, context: {cluster: kind-x, user: u}}]\nusers: [{name: u, user: {}}]\n")
    junit = tmp_path / "e2e.xml"
    proc = subprocess.run([sys.executable, "-m", "devcluster", "e2e", "--kubeconfig", str(kc), "--junitxml",
                           str(junit), "--", "-k", "nodes_ready"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failures = [f.get("message", "") for f in ET.parse(junit).getroot().iter("failure")] + \
               [e.get("message", "") for e in ET.parse(junit).getroot().iter("error")]
    assert failures and all("no cluster" in m for m in failures), failures


@pytest.mark.parametrize("args,code,needle", [
    (["plan", "--bogus"], 2, "No such option"),
    ([], 2, "Usage"),
    (["up", "--dry-run", "--from", "nope"], 2, "--from nope: no such step"),
    (["plan", "--config", "missing.yaml"], 2, "config file missing.yaml does not exist"),
    (["--version"], 0, "devcluster 0.1.0"),
])
def test_exit_codes_of_the_installed_entry_point(args: list[str], code: int, needle: str, tmp_path: Path) -> None:
    """Through `python -m devcluster`, as users and CI call it (CliRunner would hide main()'s handling)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "devcluster", *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**__import__("os").environ, "COLUMNS": "200",
                                             "DEVCLUSTER_STATE_DIR": str(tmp_path / "st")})
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert needle in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_errors_with_brackets_are_printed_verbatim(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text("stack:\n  releases:\n    - name: x\n")
    proc = subprocess.run([sys.executable, "-m", "devcluster", "plan"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={**__import__("os").environ, "COLUMNS": "200"})
    assert proc.returncode == 2 and "stack.releases[0].chart" in proc.stderr
