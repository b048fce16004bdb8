"""Command-line behaviour: help, plan per provider, hosts commands, doctor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devcluster.cli import app
from devcluster.errors import ConfigError
from tests.conftest import doctor_tools


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
    ("kind", ["preflight", "registry", "mirror-docker-io", "mirror-ghcr-io", "mirror-registry-k8s-io",
              "mirror-quay-io", "create-cluster", "kubeconfig", "registry-network", "registry-hosts", "nodes-ready"]),
    ("vagrant", ["preflight", "vagrant-config", "registry", "mirror-docker-io", "mirror-ghcr-io",
                 "mirror-registry-k8s-io", "mirror-quay-io", "vm-cp1", "registry-hostonly", "kubeconfig", "vms",
                 "join", "nodes-ready"]),
    ("existing", ["target", "nodes-ready"]),
])
def test_plan_lists_the_steps_of_each_provider(provider: str, first_steps: list[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = run("plan", "--provider", provider)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    rows = [line.split("│")[2].strip() for line in result.output.splitlines()  # type: ignore[attr-defined]
            if line.startswith("│") and line.split("│")[1].strip().isdigit()]
    advertised = ["registry-hosting"] if provider != "existing" else []  # the local registry (on by default)
    common = ["local-path-storage", "traefik", "namespace", "tls-secret", "coredns-rewrite", "rollout", "hosts",
              *advertised, "stack-secrets", "release-forail", "ready-forail", "operator-token",
              "release-forail-operator", "ready-forail-operator", "verify", "verify-job"]
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
    doctor_tools(fake_tools, monkeypatch,
                 docker="sys.stderr.write('Cannot connect to the Docker daemon\\n'); sys.exit(1)")
    result = run("doctor", "--provider", "kind")
    out = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "kind v0.29.0" in out and "v3.17.3" in out and "v1.30.14" in out
    assert "Cannot connect to the Docker daemon" in out and "start Docker" in out


def test_e2e_command_fails_in_one_line_when_the_cluster_is_unreachable(tmp_path: Path) -> None:
    """`devcluster e2e` with no cluster: one clear error and exit 1 (not 16 setup errors), and a JUnit
    report that says why nothing ran."""
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
                          cwd=tmp_path, env={**__import__("os").environ, "COLUMNS": "300"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "is not reachable, so no test ran" in errors[0], proc.stderr
    assert "nothing answers at http://127.0.0.1:9" in errors[0]
    assert "ERROR" not in proc.stdout and "Traceback" not in proc.stderr
    failures = [f.get("message", "") for f in ET.parse(junit).getroot().iter("failure")]
    assert len(failures) == 1 and failures[0].startswith("cluster not reachable"), failures


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


def test_hosts_add_warns_about_a_hand_written_line_and_force_disables_it_reversibly(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    original = "127.0.0.1 localhost\n10.9.9.9 forail.lan\n"
    hosts.write_text(original)
    added = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "127.0.0.1")
    assert added.exit_code == 0  # type: ignore[attr-defined]
    assert f"{hosts}:2" in added.output and "--force" in added.output  # type: ignore[attr-defined]
    assert "10.9.9.9 forail.lan\n" in hosts.read_text()
    forced = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "127.0.0.1", "--force")
    assert forced.exit_code == 0  # type: ignore[attr-defined]
    assert "\n10.9.9.9 forail.lan\n" not in hosts.read_text()
    assert run("hosts", "remove", "--hosts-file", str(hosts)).exit_code == 0  # type: ignore[attr-defined]
    assert hosts.read_text() == original


def test_hosts_add_rejects_an_ip_as_hostname_and_warns_about_local(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    bad = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "127.0.0.1", "--hostname", "10.1.2.3")
    assert isinstance(bad.exception, ConfigError) and "IP address" in bad.exception.message  # type: ignore[attr-defined]
    local = run("hosts", "add", "--hosts-file", str(hosts), "--ip", "127.0.0.1", "--hostname", "forail.local")
    assert local.exit_code == 0 and ".local" in local.output and ".lan" in local.output  # type: ignore[attr-defined]


def test_local_hostname_is_warned_about_in_plan_and_an_ip_hostname_is_refused(write_config) -> None:  # type: ignore[no-untyped-def]
    cfg = write_config("hostname: forail.local\n")
    result = run("plan", "--config", str(cfg))
    assert result.exit_code == 0 and "mDNS" in result.output  # type: ignore[attr-defined]
    ip = write_config("hostname: 10.0.0.5\n")
    refused = run("plan", "--config", str(ip))
    assert isinstance(refused.exception, ConfigError)  # type: ignore[attr-defined]
    assert "is an IP address, not a hostname" in refused.exception.message  # type: ignore[attr-defined]


def test_doctor_prints_full_fixes_and_warns_on_version_skew(fake_tools, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Fake kind/docker/helm/kubectl (kind cannot run here): kubectl 1.27 is outside the skew -> a warning,
    not a failure; the hostname check reports the resolver's real answer, not a claim. Each width is a process
    of its own: rich reads COLUMNS once, when devcluster's console is made."""
    doctor_tools(fake_tools, monkeypatch, kubectl="v1.27.3")
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text("hostname: devcluster-test-unresolvable.lan\n")

    def doctor(columns: int) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devcluster", "doctor", "--provider", "kind", "--config",
                               str(cfg)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env={**os.environ, "COLUMNS": str(columns)})

    result = doctor(80)
    # a cell's text as read, whatever rich wraps it at: the registry's rows (on by default) widen the first
    # column, so at 80 columns the detail wraps inside its cell; box characters are not words
    out = " ".join(result.stdout.translate({ord(c): " " for c in "│┃"}).split())
    assert result.returncode == 0, out + result.stderr
    assert "kubectl v1.27.3 is outside 1.29-1.31" in out
    assert "scripts/install-tools.sh installs the pinned kind, kubectl and helm into ~/.local/bin" in out
    wide = doctor(300).stdout
    assert "devcluster-test-unresolvable.lan does not resolve on this machine yet" in wide
    assert "resolves through /etc/hosts" not in wide
