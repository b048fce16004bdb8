"""provisioning/k3s-install.sh, the real script, uploaded and run over SSH on the network-namespace nodes.

The nodes are tests/netns.py's sshd-in-a-namespace stand-ins (eth1 inside, root login), reached through
devcluster's own SshSession: the binary goes up with `put`, the script with `run_script` (token on stdin),
as the Vagrant provider's k3s distribution does it. No cluster can run here, so PATH starts with a
fakebin: a `systemctl` that records its arguments and "starts" a unit by running the ExecStart of the unit
file the script wrote (with /usr/local/bin/k3s under K3S_ROOT), and an is-active state file. The uploaded
"k3s binary" is itself a recording fake; its sha256 is the pin. K3S_ROOT is a per-test scratch directory,
since the namespaces share this machine's filesystem.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from devcluster.assets import asset_dir
from devcluster.clients.ssh import SshResult, SshSession, parse_ssh_config
from devcluster.errors import DevclusterError
from tests import netns
from tests.netns import needs_netns

SCRIPT = asset_dir("provisioning") / "k3s-install.sh"
API_NAME = "k8s-api.devcluster"
TOKEN_PATH = "etc/rancher/k3s/token"

cluster = netns.cluster  # the shared module-scoped fixture: node1 and node2, each sshd in its own namespace

FAKE_K3S = r'''
# The "k3s binary": records its argv, the token file's mode (never its content) and whether registries.yaml
# was there when it started (k3s reads it only then), then exits 0.
import json, os, sys
token_file = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--token-file=")), None)
mode = None
if token_file and os.path.exists(ROOT + token_file):
    mode = format(os.stat(ROOT + token_file).st_mode & 0o777, "o")
with open(LOG, "a") as fh:
    fh.write(json.dumps({"argv": sys.argv[1:], "token_mode": mode,
                         "registries": os.path.exists(ROOT + "/etc/rancher/k3s/registries.yaml")}) + "\n")
'''

FAKE_SYSTEMCTL = r'''
# systemctl stand-in: records its argv; `enable --now`/`restart` start the unit by running its ExecStart
# (the VM path /usr/local/bin/k3s rewritten under ROOT); `is-active` answers from a state file; the verb
# named in FAIL_FILE (if present) fails.
import json, os, shlex, subprocess, sys
args = sys.argv[1:]
with open(LOG, "a") as fh:
    fh.write(json.dumps(args) + "\n")
if os.path.exists(FAIL_FILE) and args and args[0] == open(FAIL_FILE).read().strip():
    print(f"systemctl: {args[0]} failed (fake)", file=sys.stderr)
    sys.exit(1)
unit = args[-1] if len(args) > 1 else ""
active = os.path.join(STATE, unit + ".active")

def start():
    with open(os.path.join(ROOT + "/etc/systemd/system", unit + ".service")) as fh:
        text = fh.read().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    argv = shlex.split(line[len("ExecStart="):])
    if argv[0] == "/usr/local/bin/k3s":
        argv[0] = ROOT + argv[0]
    if subprocess.run(argv).returncode != 0:
        sys.exit(1)
    open(active, "w").close()

if args[0] == "is-active":
    sys.exit(0 if os.path.exists(active) else 3)
if args[0] == "enable" and "--now" in args or args[0] == "restart":
    start()
if args[0] == "disable" and "--now" in args and os.path.exists(active):
    os.remove(active)
'''


@dataclass
class Rig:
    """One node's scratch world: K3S_ROOT, the fakebin, the fake binary to upload and the fakes' logs."""

    root: Path
    fakebin: Path
    binary: Path
    upload: Path
    k3s_log: Path
    systemctl_log: Path
    fail_file: Path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.binary.read_bytes()).hexdigest()

    def k3s_calls(self) -> list[dict]:
        return [json.loads(x) for x in self.k3s_log.read_text().splitlines()] if self.k3s_log.exists() else []

    def systemctl_calls(self) -> list[list[str]]:
        if not self.systemctl_log.exists():
            return []
        return [json.loads(x) for x in self.systemctl_log.read_text().splitlines()]

    def written(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))


def python_script(path: Path, constants: dict[str, str], body: str) -> None:
    header = "".join(f"{name} = {value!r}\n" for name, value in constants.items())
    path.write_text(f"#!{sys.executable}\n{header}{body}")
    path.chmod(0o755)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    root, fakebin, state = tmp_path / "root", tmp_path / "fakebin", tmp_path / "systemd-state"
    for d in (root, fakebin, state, tmp_path / "build"):
        d.mkdir()
    r = Rig(root, fakebin, tmp_path / "build" / "k3s", tmp_path / "devcluster-k3s", tmp_path / "k3s.jsonl",
            tmp_path / "systemctl.jsonl", tmp_path / "systemctl-fail")
    python_script(r.binary, {"ROOT": str(root), "LOG": str(r.k3s_log)}, FAKE_K3S)
    python_script(fakebin / "systemctl", {"ROOT": str(root), "LOG": str(r.systemctl_log), "STATE": str(state),
                                          "FAIL_FILE": str(r.fail_file)}, FAKE_SYSTEMCTL)
    return r


def install(cfg: Path, alias: str, rig: Rig, role: str, env: dict[str, str], token: str | None,
            stdin: str | None = None) -> SshResult:
    """Upload the binary and run the script as devcluster does (root, so sudo=False), token on stdin."""
    full_env = {"K3S_BINARY": str(rig.upload), "K3S_SHA256": rig.sha256, "K3S_ROOT": str(rig.root),
                "PATH": f"{rig.fakebin}:/usr/bin:/bin", **env}
    with SshSession(parse_ssh_config(cfg.read_text())[alias]) as s:
        s.put(rig.binary, str(rig.upload))
        return s.run_script(SCRIPT, [role], full_env, sudo=False,
                            stdin_data=stdin if token is None else f"TOKEN={token}\n")


def server_env(nodes: list[netns.Node], index: int, joining: bool) -> dict[str, str]:
    return {"NODE_IP": nodes[index].address,
            "SERVER_URL": f"https://{nodes[0].address}:6443" if joining else "",
            "TLS_SANS": ",".join([nodes[0].address, nodes[1].address, API_NAME])}


def assert_private_token(rig: Rig, token: str) -> None:
    path = rig.root / TOKEN_PATH
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert all(call["token_mode"] == "600" for call in rig.k3s_calls()), "k3s must only ever see a 0600 token"


def assert_token_nowhere_else(rig: Rig, token: str, result: SshResult, unit: str) -> None:
    for call in rig.k3s_calls():
        assert not any(token in arg for arg in call["argv"]), "the token must not be on k3s' command line"
    for call in rig.systemctl_calls():
        assert not any(token in arg for arg in call)
    assert token not in (rig.root / f"etc/systemd/system/{unit}.service").read_text()
    assert token not in result.stdout + result.stderr, "the script must print nothing secret"


@needs_netns
def test_first_server_inits_etcd_with_the_token_only_in_a_private_file(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    token = secrets.token_hex(32)
    result = install(cfg, "node1", rig, "server", server_env(nodes, 0, joining=False), token)

    [call] = rig.k3s_calls()
    argv = call["argv"]
    assert argv[0] == "server"
    for expected in ("--cluster-init", "--flannel-iface=eth1", f"--node-ip={nodes[0].address}",
                     f"--advertise-address={nodes[0].address}", f"--tls-san={nodes[0].address}",
                     f"--tls-san={nodes[1].address}", f"--tls-san={API_NAME}", "--disable=traefik",
                     "--token-file=/etc/rancher/k3s/token", "--write-kubeconfig-mode=0600"):
        assert expected in argv, expected
    assert not any(a.startswith("--server=") for a in argv)
    assert_private_token(rig, token)
    assert_token_nowhere_else(rig, token, result, "k3s")
    unit = (rig.root / "etc/systemd/system/k3s.service").read_text()
    assert "ExecStart=/usr/local/bin/k3s" in unit and str(rig.root) not in unit, "the unit names the VM's paths"
    installed = rig.root / "usr/local/bin/k3s"
    assert installed.read_bytes() == rig.binary.read_bytes() and stat.S_IMODE(installed.stat().st_mode) == 0o755
    assert rig.systemctl_calls() == [["daemon-reload"], ["is-active", "--quiet", "k3s"], ["enable", "--now", "k3s"]]
    assert rig.written() == ["etc", "etc/rancher", "etc/rancher/k3s", "etc/rancher/k3s/token", "etc/systemd",
                             "etc/systemd/system", "etc/systemd/system/k3s.service", "usr", "usr/local",
                             "usr/local/bin", "usr/local/bin/k3s"], "no temporary files are left behind"


@needs_netns
def test_joining_server_joins_the_first_without_cluster_init(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    token = secrets.token_hex(32)
    result = install(cfg, "node2", rig, "server", server_env(nodes, 1, joining=True), token)

    [call] = rig.k3s_calls()
    argv = call["argv"]
    assert argv[0] == "server"
    assert f"--server=https://{nodes[0].address}:6443" in argv and "--cluster-init" not in argv
    assert f"--node-ip={nodes[1].address}" in argv and "--flannel-iface=eth1" in argv
    assert f"--tls-san={API_NAME}" in argv
    assert_private_token(rig, token)
    assert_token_nowhere_else(rig, token, result, "k3s")


@needs_netns
def test_agent_joins_as_a_worker(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    token = secrets.token_hex(32)
    env = {"NODE_IP": nodes[1].address, "SERVER_URL": f"https://{nodes[0].address}:6443"}
    result = install(cfg, "node2", rig, "agent", env, token)

    [call] = rig.k3s_calls()
    argv = call["argv"]
    assert argv == ["agent", f"--node-ip={nodes[1].address}", "--flannel-iface=eth1",
                    f"--server=https://{nodes[0].address}:6443", "--token-file=/etc/rancher/k3s/token"]
    assert "--cluster-init" not in argv and not any(a.startswith("--tls-san") for a in argv)
    assert_private_token(rig, token)
    assert_token_nowhere_else(rig, token, result, "k3s-agent")
    assert not (rig.root / "etc/systemd/system/k3s.service").exists()
    assert ["enable", "--now", "k3s-agent"] in rig.systemctl_calls()


@needs_netns
def test_rerun_with_the_same_inputs_changes_nothing(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    token = secrets.token_hex(32)
    env = server_env(nodes, 0, joining=False)
    install(cfg, "node1", rig, "server", env, token)
    unit = (rig.root / "etc/systemd/system/k3s.service").stat()
    calls_before = len(rig.systemctl_calls())

    again = install(cfg, "node1", rig, "server", env, token)
    assert "k3s server already configured" in again.stdout
    assert len(rig.k3s_calls()) == 1, "nothing is started a second time"
    assert rig.systemctl_calls()[calls_before:] == [["is-active", "--quiet", "k3s"]], "no reload, no restart"
    assert (rig.root / "etc/systemd/system/k3s.service").stat().st_mtime_ns == unit.st_mtime_ns


@needs_netns
def test_rerun_with_changed_inputs_restarts_the_unit(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    token = secrets.token_hex(32)
    env = server_env(nodes, 0, joining=False)
    install(cfg, "node1", rig, "server", env, token)
    calls_before = len(rig.systemctl_calls())

    changed = dict(env, TLS_SANS=env["TLS_SANS"] + ",api.example.test")
    result = install(cfg, "node1", rig, "server", changed, token)
    assert "already configured" not in result.stdout
    assert rig.systemctl_calls()[calls_before:] == [
        ["daemon-reload"], ["is-active", "--quiet", "k3s"], ["enable", "k3s"], ["restart", "k3s"]]
    assert "--tls-san=api.example.test" in rig.k3s_calls()[-1]["argv"]

    new_token = secrets.token_hex(32)
    install(cfg, "node1", rig, "server", changed, new_token)
    assert len(rig.k3s_calls()) == 3 and rig.systemctl_calls()[-1] == ["restart", "k3s"], "a new token restarts"
    assert_private_token(rig, new_token)


@needs_netns
def test_checksum_mismatch_installs_nothing(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    pinned = hashlib.sha256(b"the real k3s").hexdigest()
    env = dict(server_env(nodes, 0, joining=False), K3S_SHA256=pinned)
    with pytest.raises(DevclusterError, match="exited 1") as err:
        install(cfg, "node1", rig, "server", env, secrets.token_hex(32))
    assert f"expected sha256 {pinned}, got {rig.sha256}" in str(err.value)
    assert rig.written() == [] and rig.systemctl_calls() == [] and rig.k3s_calls() == []


@needs_netns
@pytest.mark.parametrize("stdin", [None, "", "TOKEN=\n", "OTHER=value\n"], ids=["none", "empty", "blank", "other"])
def test_no_token_on_stdin_is_refused_before_anything_is_written(cluster, rig: Rig, stdin: str | None) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    with pytest.raises(DevclusterError, match="exited 2") as err:
        install(cfg, "node1", rig, "server", server_env(nodes, 0, joining=False), None, stdin=stdin)
    assert "TOKEN=<value> is required on stdin" in str(err.value)
    assert rig.written() == [] and rig.systemctl_calls() == [] and rig.k3s_calls() == []


@needs_netns
@pytest.mark.parametrize(("role", "change", "message"), [
    ("server", {"NODE_IP": "10.213.251.9"}, "NODE_IP 10.213.251.9 is not an address of eth1"),
    ("server", {"TLS_SANS": ""}, "TLS_SANS is required for a server"),
    ("server", {"TLS_SANS": "k8s-api.devcluster,bad name"}, "characters that do not belong"),
    ("agent", {"SERVER_URL": ""}, "SERVER_URL is required for an agent"),
    ("server", {"SERVER_URL": None}, "SERVER_URL must be set"),
    ("server", {"K3S_SHA256": "abc"}, "K3S_SHA256 is not a sha256"),
    ("worker", {}, "usage: k3s-install.sh server|agent"),
], ids=["node-ip-not-eth1", "no-sans", "bad-san", "agent-no-url", "url-unset", "bad-sha", "bad-role"])
def test_bad_input_is_refused_before_anything_is_written(cluster, rig: Rig, role: str, change: dict,  # type: ignore[no-untyped-def]
                                                         message: str) -> None:
    nodes, cfg = cluster
    env = server_env(nodes, 0, joining=False)
    for key, value in change.items():
        if value is None:
            env.pop(key)
        else:
            env[key] = value
    with pytest.raises(DevclusterError, match="exited 2") as err:
        install(cfg, "node1", rig, role, env, secrets.token_hex(32))
    assert message in str(err.value)
    assert rig.written() == [] and rig.systemctl_calls() == []


@needs_netns
def test_failure_after_the_unit_is_written_leaves_nothing_half_joined(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    token = secrets.token_hex(32)
    env = server_env(nodes, 1, joining=True)
    rig.fail_file.write_text("enable")
    with pytest.raises(DevclusterError, match="exited 1") as err:
        install(cfg, "node2", rig, "server", env, token)
    message = str(err.value)
    assert "systemctl enable --now k3s failed" in message and "so a retry starts clean" in message
    assert token not in message
    assert ["disable", "--now", "k3s"] in rig.systemctl_calls(), "the unit is disabled and stopped"
    assert not (rig.root / "etc/systemd/system/k3s.service").exists()
    assert not (rig.root / TOKEN_PATH).exists()
    assert rig.k3s_calls() == []

    rig.fail_file.unlink()  # the retry, on the same node, starts clean and succeeds
    install(cfg, "node2", rig, "server", env, token)
    assert len(rig.k3s_calls()) == 1 and rig.systemctl_calls()[-1] == ["enable", "--now", "k3s"]
    assert_private_token(rig, token)


def test_install_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (scripts/test-setup.sh installs it)")
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={**os.environ})
    assert proc.returncode == 0, proc.stdout


def k3s_stdin(tmp_path: Path, upstreams: list[str]) -> tuple[str, str]:
    """The real K3s.install_stdin() (token and registries.yaml) for a cluster with the registry and caches on,
    and the registries.yaml it carries."""
    from devcluster.config.schema import RegistryConfig, RegistryMirrorsConfig, VagrantConfig
    from devcluster.local.state import State
    from devcluster.providers.vagrant.distribution import Machines
    from devcluster.providers.vagrant.k3s import K3s
    from devcluster.providers.vagrant.registry import k3s_registries_yaml

    reg = RegistryConfig(enabled=True, mirrors=RegistryMirrorsConfig(enabled=True, upstreams=upstreams))
    machines = Machines(VagrantConfig(), State(tmp_path / "state"), [], dict, SshSession, reg)
    return K3s(machines).install_stdin(), k3s_registries_yaml(reg, VagrantConfig())


@needs_netns
def test_registries_yaml_from_stdin_is_in_place_before_k3s_starts_and_a_change_restarts_it(cluster, rig: Rig,  # type: ignore[no-untyped-def]
                                                                                           tmp_path: Path) -> None:
    nodes, cfg = cluster
    env = server_env(nodes, 0, joining=False)
    stdin, registries = k3s_stdin(tmp_path, ["docker.io"])
    result = install(cfg, "node1", rig, "server", env, None, stdin=stdin)
    written = rig.root / "etc/rancher/k3s/registries.yaml"
    assert written.read_text() == registries
    from devcluster.providers.vagrant.k3s import K3s

    probe = K3s.pulls_from_local_registry(None, 5001)  # type: ignore[arg-type]  # what `image load` asks a node
    assert subprocess.run([*probe[:-1], str(rig.root / probe[-1].lstrip("/"))]).returncode == 0
    assert "http://192.168.56.1:5002" in registries and "localhost:5001" in registries
    assert stat.S_IMODE(written.stat().st_mode) == 0o644
    assert [c["registries"] for c in rig.k3s_calls()] == [True], "k3s reads it when it starts: it must be there"
    assert registries not in result.stdout and "REGISTRIES_YAML_B64" not in json.dumps(rig.systemctl_calls())
    assert "etc/rancher/k3s/registries.yaml.tmp" not in rig.written()

    again = install(cfg, "node1", rig, "server", env, None, stdin=stdin)
    assert "already configured" in again.stdout and len(rig.k3s_calls()) == 1

    token_line = stdin.splitlines()[0]
    changed, registries = k3s_stdin(tmp_path, ["docker.io", "quay.io"])
    assert changed.splitlines()[0] == token_line, "same cluster, same token"
    install(cfg, "node1", rig, "server", env, None, stdin=changed)
    assert written.read_text() == registries and "quay.io" in registries
    assert rig.systemctl_calls()[-1] == ["restart", "k3s"], "k3s reads registries.yaml only at start"


@needs_netns
def test_bad_registries_on_stdin_is_refused_before_anything_is_written(cluster, rig: Rig) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    with pytest.raises(DevclusterError):
        install(cfg, "node1", rig, "server", server_env(nodes, 0, joining=False), None,
                stdin=f"TOKEN={secrets.token_hex(32)}\nREGISTRIES_YAML_B64=not*base64!\n")
    assert rig.written() == [] and rig.k3s_calls() == []


@needs_netns
def test_registries_yaml_arrives_whole_whatever_its_base64_padding(cluster, rig: Rig, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """base64 ends in '', '=' or '=='; bash's `IFS='=' read key value` drops a single trailing '=', which made
    the real script refuse one config in three (e.g. upstreams [docker.io, ghcr.io, quay.io])."""
    nodes, cfg = cluster
    env = server_env(nodes, 0, joining=False)
    candidates = [["docker.io"], ["ghcr.io"], ["quay.io"], ["docker.io", "quay.io"], ["docker.io", "ghcr.io"],
                  ["docker.io", "ghcr.io", "quay.io"], ["registry.k8s.io"], ["ghcr.io", "quay.io"]]
    by_padding: dict[int, tuple[str, str]] = {}
    for upstreams in candidates:
        stdin, registries = k3s_stdin(tmp_path, upstreams)
        b64 = next(line for line in stdin.splitlines() if line.startswith("REGISTRIES_YAML_B64="))
        by_padding.setdefault(len(b64) - len(b64.rstrip("=")), (stdin, registries))
    assert sorted(by_padding) == [0, 1, 2], "the candidates must cover every padding"
    for padding, (stdin, registries) in sorted(by_padding.items()):
        install(cfg, "node1", rig, "server", env, None, stdin=stdin)
        assert (rig.root / "etc/rancher/k3s/registries.yaml").read_text() == registries, f"padding {padding}"
