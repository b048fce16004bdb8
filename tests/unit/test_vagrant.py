"""The Vagrant provider: Vagrantfile, provisioning scripts, and the python-vagrant flow.

Real tools where this machine has them: Debian's `vagrant validate`, `shellcheck`, and Ruby loading
the Vagrantfile. VirtualBox cannot run here, so the flow is tested at the process boundary: a fake
`vagrant` executable records its arguments (python-vagrant really parses its output), and SSH to the
VMs is an in-process stand-in (the real SSH path is tested against sshd in test_ssh_netns.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from devcluster import config
from devcluster.assets import asset_dir
from devcluster.cli import app
from devcluster.clients.ssh import SshResult
from devcluster.engine.steps import Context, execute
from devcluster.errors import DevclusterError, StepError
from devcluster.local.state import State
from devcluster.providers import vagrant as vp

REPO = Path(__file__).resolve().parents[2]
# These tests are about the VMs; the registry and caches (on by default) are docker containers no fake here
# plays: tests/unit/test_registry_docker.py and test_registry_vagrant.py cover them.
REGISTRY_OFF = {"registry.enabled": False, "registry.mirrors.enabled": False}
FIXTURES = REPO / "tests" / "fixtures"
SCRIPTS = sorted((REPO / "provisioning").glob("*.sh")) + sorted((REPO / "scripts").glob("*.sh")) + [
    REPO / ".ci" / "run"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shellcheck_clean(script: Path) -> None:
    proc = subprocess.run(["shellcheck", "--shell=bash", str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def run_script(script: str, tmp_path: Path, env: dict[str, str], fakes: dict[str, str], stdin: str = "",
               args: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run a provisioning script for real with recording stand-ins for the node's tools (kubeadm, kubectl,
    install: there is no kubelet here); returns the result and every tool call in order."""
    bindir = tmp_path / "node-bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / "node-calls.log"
    for tool, body in fakes.items():
        (bindir / tool).write_text(f"#!/bin/bash\nprintf '%s\\0' {tool} \"$@\" >> {log}; echo >> {log}\n{body}\n")
        (bindir / tool).chmod(0o755)
    proc = subprocess.run(["bash", str(REPO / "provisioning" / script), *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env={"PATH": f"{bindir}:/usr/bin:/bin", **env})
    calls = [line.strip("\0").split("\0") for line in log.read_text().splitlines() if line] if log.exists() else []
    return proc, calls


INIT_ENV = {"NODE_IP": "192.168.56.11", "CONTROL_PLANE_ENDPOINT": "k8s-api.devcluster", "POD_CIDR": "10.244.0.0/16",
            "K8S_PACKAGE_VERSION": "1.30.14-1.1"}
FLANNEL_PATCH = '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--iface=eth1"}]'


def flannel_kubectl(ds_exists: bool, args: str) -> str:
    return f"""case "$*" in
  *"get daemonset kube-flannel-ds -o jsonpath"*) echo '{args}' ;;
  *"get daemonset kube-flannel-ds"*) exit {0 if ds_exists else 1} ;;
esac"""


@pytest.mark.parametrize("current_args,patched", [
    ('["--ip-masq","--kube-subnet-mgr"]', True), ('["--ip-masq","--kube-subnet-mgr","--iface=eth1"]', False)])
def test_control_plane_init_binds_flannel_to_eth1_once_running_the_script(tmp_path: Path, current_args: str,
                                                                          patched: bool) -> None:
    """The real control-plane-init.sh with stand-ins for kubectl/kubeadm/install: the reference's exact JSON
    patch is applied when Flannel lacks --iface=eth1, and not again when it has it."""
    kube_dir = tmp_path / "etc-kubernetes"
    kube_dir.mkdir()
    (kube_dir / "admin.conf").write_text("apiVersion: v1\n")  # kubeadm init already ran
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("kind: List\n")
    env = {**INIT_ENV, "FLANNEL_MANIFEST": str(manifest), "KUBE_DIR": str(kube_dir),
           "VAGRANT_HOME_DIR": str(tmp_path / "home")}
    proc, calls = run_script("control-plane-init.sh", tmp_path, env,
                             {"kubectl": flannel_kubectl(True, current_args), "kubeadm": "exit 0", "install": "exit 0"})
    assert proc.returncode == 0, proc.stderr
    assert not any(c[0] == "kubeadm" for c in calls), "kubeadm init runs only without admin.conf"
    assert not any(c[:2] == ["kubectl", "apply"] for c in calls), "Flannel exists: not applied again"
    patches = [c for c in calls if "patch" in c]
    if patched:
        assert patches == [["kubectl", "-n", "kube-flannel", "patch", "ds", "kube-flannel-ds", "--type=json",
                            f"-p={FLANNEL_PATCH}"]]
    else:
        assert patches == []


def test_control_plane_init_applies_flannel_when_absent_and_stops_on_a_failed_apply(tmp_path: Path) -> None:
    kube_dir = tmp_path / "etc-kubernetes"
    kube_dir.mkdir()
    (kube_dir / "admin.conf").write_text("apiVersion: v1\n")
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("kind: List\n")
    env = {**INIT_ENV, "FLANNEL_MANIFEST": str(manifest), "KUBE_DIR": str(kube_dir),
           "VAGRANT_HOME_DIR": str(tmp_path / "home")}
    failing_apply = flannel_kubectl(False, "[]") + '\n[ "$1" = apply ] && exit 1\nexit 0'
    proc, calls = run_script("control-plane-init.sh", tmp_path, env,
                             {"kubectl": failing_apply, "kubeadm": "exit 0", "install": "exit 0"})
    assert proc.returncode != 0
    assert ["kubectl", "apply", "-f", str(manifest)] in calls
    assert not any("patch" in c for c in calls), "set -e: nothing runs after the failed apply"


@pytest.mark.parametrize("script,missing", [
    ("control-plane-init.sh", "NODE_IP"), ("join.sh", "NODE_IP"), ("common.sh", "NODE_IP")])
def test_scripts_refuse_to_start_without_their_environment(tmp_path: Path, script: str, missing: str) -> None:
    """set -u and ${VAR:?}: a script run without its inputs stops before touching anything."""
    proc, calls = run_script(script, tmp_path, {}, {t: "exit 0" for t in ("kubeadm", "kubectl", "apt-get", "ip",
                                                                          "swapoff", "systemctl", "install")})
    assert proc.returncode != 0 and missing in proc.stderr
    assert calls == []


def test_a_failed_join_resets_the_node_running_the_script(tmp_path: Path) -> None:
    """The real join.sh with a failing stand-in kubeadm: the node is reset (a control plane's etcd member
    removed with it) so a retry starts clean, and the script fails."""
    stdin = "ENDPOINT=k8s-api.devcluster:6443\nTOKEN=abcdef.0123456789abcdef\nCA_CERT_HASH=sha256:00\n" \
            "CERTIFICATE_KEY=" + "c" * 64 + "\n"
    kubeadm = '[ "$1" = join ] && exit 1\nexit 0'
    proc, calls = run_script("join.sh", tmp_path, {"NODE_IP": "192.168.56.12", "KUBE_DIR": str(tmp_path / "kube")},
                             {"kubeadm": kubeadm}, stdin=stdin, args=("--control-plane",))
    assert proc.returncode != 0
    assert [c[:2] for c in calls] == [["kubeadm", "join"], ["kubeadm", "reset"]]


def test_mint_join_prints_nothing_when_kubeadm_fails(tmp_path: Path) -> None:
    """A failed `kubeadm token create` must not leave half a set of credentials on stdout (pipefail, -e)."""
    proc, calls = run_script("mint-join.sh", tmp_path, {}, {"kubeadm": "echo 'error: etcd unavailable' >&2; exit 1"},
                             args=("--control-plane",))
    assert proc.returncode != 0
    assert "TOKEN=" not in proc.stdout and "CERTIFICATE_KEY=" not in proc.stdout
    assert [c[:3] for c in calls] == [["kubeadm", "token", "create"]]


def settings_file(tmp_path: Path, overrides: dict[str, Any]) -> Path:
    cfg = config.load(None, overrides)
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("kind: List\n")
    path = tmp_path / "vagrant.json"
    path.write_text(json.dumps(vp.vagrant_settings(cfg, manifest, tmp_path / "serial")))
    return path


SIZES = [
    {},
    {"vagrant.control_planes": 3, "vagrant.workers": 1, "vagrant.worker_memory": 2048, "vagrant.worker_cpus": 1,
     "vagrant.control_plane_memory": 3072},
]


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")
@pytest.mark.parametrize("overrides", SIZES, ids=["default", "3cp-1w"])
def test_vagrant_validate(tmp_path: Path, overrides: dict[str, Any]) -> None:
    env = dict(os.environ, DEVCLUSTER_VAGRANT_CONFIG=str(settings_file(tmp_path, overrides)),
               VAGRANT_DOTFILE_PATH=str(tmp_path / ".vagrant"), VAGRANT_HOME=str(tmp_path / "vagrant.d"),
               VAGRANT_CHECKPOINT_DISABLE="1")
    # --ignore-provider: the Vagrantfile is checked without a usable VirtualBox on this machine.
    proc = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=asset_dir("vagrant"), env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout


@pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")
def test_vagrant_validate_still_rejects_a_broken_layout(tmp_path: Path) -> None:
    """--ignore-provider skips only VirtualBox's own options: a VM without a box must still fail."""
    settings = json.loads(settings_file(tmp_path, {}).read_text())
    settings["box"] = ""
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(settings))
    env = dict(os.environ, DEVCLUSTER_VAGRANT_CONFIG=str(broken), VAGRANT_DOTFILE_PATH=str(tmp_path / ".vagrant"),
               VAGRANT_HOME=str(tmp_path / "vagrant.d"), VAGRANT_CHECKPOINT_DISABLE="1")
    proc = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=asset_dir("vagrant"), env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0
    assert "box" in (proc.stdout + proc.stderr).lower()


def probe(tmp_path: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, DEVCLUSTER_VAGRANT_CONFIG=str(settings_file(tmp_path, overrides)))
    out = subprocess.run(["ruby", str(FIXTURES / "vagrantfile_probe.rb"), str(asset_dir("vagrant") / "Vagrantfile")],
                         env=env, capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby (comes with vagrant) is not installed")
def test_vagrantfile_takes_sizes_and_addresses_from_devcluster_yaml(tmp_path: Path) -> None:
    vm = probe(tmp_path, SIZES[1])["vm"]
    assert vm["box"] == "bento/ubuntu-22.04" and vm["box_version"] == "202401.31.0"
    assert vm["synced_folder()"][0]["kwargs"] == {"disabled": True}
    machines = {d["args"][0]: d["block"]["vm"] for d in vm["define()"]}
    assert list(machines) == ["cp1", "cp2", "cp3", "w1"]
    ips = {name: m["network()"][0]["kwargs"]["ip"] for name, m in machines.items()}
    assert ips == {"cp1": "192.168.56.11", "cp2": "192.168.56.12", "cp3": "192.168.56.13", "w1": "192.168.56.31"}
    vbox = {name: m["provider()"][0]["block"] for name, m in machines.items()}
    assert vbox["cp2"] == {"name": "devcluster-cp2", "memory": 3072, "cpus": 2, "linked_clone": True}
    assert vbox["w1"]["memory"] == 2048 and vbox["w1"]["cpus"] == 1
    provisioners = {name: [p["args"][0] for p in m["provision()"]] for name, m in machines.items()}
    assert provisioners["cp1"] == ["common", "flannel-manifest", "control-plane-init"]
    assert provisioners["cp2"] == provisioners["w1"] == ["common"]
    common_env = machines["w1"]["provision()"][0]["kwargs"]["env"]
    assert common_env["NODE_IP"] == "192.168.56.31" and common_env["CONTROL_PLANE_IP"] == "192.168.56.11"
    assert common_env["K8S_PACKAGE_VERSION"] == "1.30.14-1.1"


def test_vagrantfile_defaults_without_devcluster(tmp_path: Path) -> None:
    if shutil.which("ruby") is None:
        pytest.skip("ruby is not installed")
    out = subprocess.run(["ruby", str(FIXTURES / "vagrantfile_probe.rb"), str(asset_dir("vagrant") / "Vagrantfile")],
                         env={k: v for k, v in os.environ.items() if k != "DEVCLUSTER_VAGRANT_CONFIG"},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    machines = [d["args"][0] for d in json.loads(out)["vm"]["define()"]]
    assert machines == ["cp1", "cp2", "w1", "w2"]


# ----------------------------------------------------------------- pure rules


@pytest.mark.parametrize("conf,network,ok", [
    (None, "192.168.56.0/24", True),
    (None, "192.168.100.0/24", False),
    ("* 10.0.0.0/8 192.168.0.0/16\n", "192.168.100.0/24", True),
    ("# only this\n* 10.10.0.0/16\n", "192.168.56.0/24", False),
])
def test_virtualbox_host_only_ranges(conf: str | None, network: str, ok: bool) -> None:
    assert vp.hostonly_allowed(conf, network) is ok


def test_memory_reading() -> None:
    assert vp.available_memory_mib("MemTotal: 100 kB\nMemAvailable:   16384000 kB\n") == 16000


def test_admin_kubeconfig_is_rewritten_for_the_host() -> None:
    admin = yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kubernetes-admin@kubernetes",
        "clusters": [{"name": "kubernetes", "cluster": {"server": "https://k8s-api.devcluster:6443",
                                                        "certificate-authority-data": "Q0E="}}],
        "contexts": [{"name": "kubernetes-admin@kubernetes",
                      "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}}],
        "users": [{"name": "kubernetes-admin", "user": {"client-certificate-data": "Qw==", "client-key-data": "Sw=="}}],
    })
    doc = yaml.safe_load(vp.admin_kubeconfig_for_host(admin, "https://192.168.56.11:6443", "devcluster-dev"))
    assert doc["current-context"] == "devcluster-dev"
    assert doc["clusters"][0] == {"name": "devcluster-dev", "cluster": {
        "server": "https://192.168.56.11:6443", "certificate-authority-data": "Q0E="}}
    assert doc["contexts"][0]["context"] == {"cluster": "devcluster-dev", "user": "devcluster-dev-admin"}
    assert doc["users"][0]["user"]["client-key-data"] == "Sw=="


def test_join_material_parsing() -> None:
    out = "ENDPOINT=k8s-api.devcluster:6443\nTOKEN=t.x\nCA_CERT_HASH=sha256:ab\nCERTIFICATE_KEY=ck\n"
    assert vp.parse_join_material(out)["CERTIFICATE_KEY"] == "ck"
    with pytest.raises(DevclusterError, match="TOKEN"):
        vp.parse_join_material("ENDPOINT=x\nCA_CERT_HASH=y\n")


# ----------------------------------------------------------------- the flow at the process boundary

FAKE_VAGRANT = """
state_file = os.environ["FAKE_VAGRANT_STATE"]
running = set(json.load(open(state_file))) if os.path.exists(state_file) else set()
nodes = json.load(open(os.environ["DEVCLUSTER_VAGRANT_CONFIG"]))["nodes"] \\
    if os.path.exists(os.environ.get("DEVCLUSTER_VAGRANT_CONFIG", "")) else []
args = sys.argv[1:]
if args[0] == "status":
    for n in nodes:
        state = "running" if n["name"] in running else "not_created"
        print(f"1700000000,{n['name']},provider-name,virtualbox")
        print(f"1700000000,{n['name']},state,{state}")
elif args[0] == "up":
    if os.environ.get("FAKE_VAGRANT_FAIL_UP"):
        print("The IP address configured for the host-only network is not within the allowed ranges.")
        sys.exit(1)
    # FAKE_VAGRANT_WEDGE=w1:2 -> the first 2 boots of w1 never reach SSH (a wedged VirtualBox boot)
    wedge = dict(w.split(":") for w in os.environ.get("FAKE_VAGRANT_WEDGE", "").split(",") if w)
    if args[1] in wedge:
        counter = state_file + "." + args[1] + ".boots"
        boots = int(open(counter).read()) if os.path.exists(counter) else 0
        open(counter, "w").write(str(boots + 1))
        if boots < int(wedge[args[1]]):
            serial_dir = json.load(open(os.environ["DEVCLUSTER_VAGRANT_CONFIG"]))["serial_log_dir"]
            with open(os.path.join(serial_dir, args[1] + "-serial.log"), "a") as log:
                log.write("[   42.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks\\n"
                          "[   63.0] systemd-networkd: hung task\\n")
            print(f"Timed out while waiting for the machine to boot ({args[1]}).")
            sys.exit(1)
    running.add(args[1])
elif args[0] == "destroy":
    if len(args) > 1 and not args[1].startswith("-"):
        running.discard(args[1])
    else:
        running.clear()
elif args[0] == "ssh-config":
    for n in nodes:
        if n["name"] in running:
            print(f"Host {n['name']}\\n  HostName 127.0.0.1\\n  User vagrant\\n  Port 22{n['ip'].split('.')[-1]}\\n"
                  f"  IdentityFile /tmp/key-{n['name']}\\n")
json.dump(sorted(running), open(state_file, "w"))
"""


class FakeNodeSession:
    """Stands in for SSH to a VM: answers like cp1 / a joining node, records what was asked."""

    def __init__(self, node: str, log: Path, fake_api: Any, admin_conf: str, running: Any) -> None:
        self.node, self.log, self.api, self.admin_conf, self.running = node, log, fake_api, admin_conf, running

    def _record(self, what: str, **extra: Any) -> None:
        with self.log.open("a") as fh:
            fh.write(json.dumps({"tool": "ssh", "argv": [self.node, what], **extra}) + "\n")

    def run(self, command: list[str], stdin_data: str | None = None, timeout: float = 600, check: bool = True,
            sudo: bool = False) -> SshResult:
        self._record(" ".join(command))
        if command[:2] == ["test", "-f"]:
            return SshResult(0 if self.node in self.running() else 1, "", "")
        if command[0] == "cat":
            return SshResult(0, self.admin_conf, "")
        if command[:2] == ["systemctl", "is-active"]:  # k3s on the first server
            return SshResult(0 if self.node in self.api_nodes() else 3, "", "")
        if command[:2] == ["rm", "-f"]:
            return SshResult(0, "", "")
        raise AssertionError(f"unexpected command {command}")

    def run_script(self, script: Path, args: list[str], env: dict[str, str], stdin_data: str | None = None,
                   sudo: bool = True, timeout: float = 900) -> SshResult:
        self._record(script.name, args=args, env=env, stdin=stdin_data)
        if script.name == "mint-join.sh":
            out = "ENDPOINT=k8s-api.devcluster:6443\nTOKEN=abcdef.0123456789abcdef\nCA_CERT_HASH=sha256:00\n"
            if "--control-plane" in args:
                out += "CERTIFICATE_KEY=" + "c" * 64 + "\n"
            return SshResult(0, out, "")
        if script.name == "join.sh":
            self.api.add_node(self.node, role="control-plane" if "--control-plane" in args else "worker")
            return SshResult(0, "", "")
        if script.name == "k3s-install.sh":
            self.api.add_node(self.node, role="control-plane" if args == ["server"] else "worker")
            return SshResult(0, "", "")
        raise AssertionError(script.name)

    def run_streaming(self, command: list[str], source: Any, sudo: bool = False, timeout: float = 1800,
                      chunk: int = 1 << 20) -> SshResult:
        import hashlib

        data = source.read()
        self._record(" ".join(command), bytes=len(data), sha256=hashlib.sha256(data).hexdigest(), sudo=sudo)
        return SshResult(0, "", "")

    def api_nodes(self) -> set[str]:
        return {o["metadata"]["name"] for o in self.api.list("v1", "nodes")}

    def put(self, local: Path, remote: str, mode: int = 0o700) -> None:
        import hashlib

        self._record(f"put {remote}", sha256=hashlib.sha256(local.read_bytes()).hexdigest(), mode=mode)

    def __enter__(self) -> FakeNodeSession:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.fixture
def vagrant_env(tmp_path: Path, fake_tools, fake_api, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    fake_tools.add("vagrant", FAKE_VAGRANT)
    fake_tools.add("VBoxManage", "print('7.0.20r163906')")
    monkeypatch.setenv("FAKE_VAGRANT_STATE", str(tmp_path / "vagrant-running.json"))
    manifest = str(FIXTURES / "local-path-storage.yaml")  # any file: the fake VMs never apply it
    cfg = config.load(None, {"provider": "vagrant", "vagrant.flannel_manifest": manifest, "timeouts.nodes_ready": 5,
                             **REGISTRY_OFF})
    state = State(cfg.state_path)
    state.root.mkdir(parents=True)
    admin = fake_api.write_kubeconfig(tmp_path / "admin.conf", "kubernetes-admin@kubernetes").read_text()

    def running() -> set[str]:
        p = tmp_path / "vagrant-running.json"
        return set(json.loads(p.read_text())) if p.exists() else set()

    seams = vp.HostSeams(
        networks_conf=tmp_path / "no-networks.conf", memory_mib=lambda: 64 * 1024,
        proc_modules=tmp_path / "no-proc-modules", libvirtd_active=lambda: False,
        connect=lambda target: FakeNodeSession(target.alias, fake_tools.log, fake_api, admin, running),
        api_server=fake_api.url)  # never reach 192.168.56.x from a test
    fake_api.add_node("cp1", role="control-plane")  # kubeadm init registers cp1 itself
    return Context(cfg, state, Console(quiet=True), vp.VagrantProvider(cfg, state, seams))


def with_seams(ctx: Context, **changes: Any) -> Context:
    """The same cluster seen through other host facts (another networks.conf, less memory)."""
    from dataclasses import replace

    provider = vp.VagrantProvider(ctx.config, ctx.state, replace(ctx.provider.seams, **changes))
    return Context(ctx.config, ctx.state, ctx.console, provider)


def test_vagrant_flow_order_arguments_and_idempotency(vagrant_env, fake_tools, fake_api) -> None:  # type: ignore[no-untyped-def]
    ctx = vagrant_env
    execute(ctx.provider.cluster_steps(), ctx)
    calls = [c for c in fake_tools.calls() if c["tool"] in ("vagrant", "ssh")]
    ups = [c["argv"][1] for c in calls if c["tool"] == "vagrant" and c["argv"][0] == "up"]
    assert ups == ["cp1", "cp2", "w1", "w2"], "cp1 first, then the others one by one"
    seq = [(c["tool"], c["argv"][0] if c["tool"] == "vagrant" else f"{c['argv'][0]}:{c['argv'][1]}") for c in calls]
    first_join = next(i for i, s in enumerate(seq) if s[1].endswith("join.sh"))
    assert seq.index(("vagrant", "up")) < first_join
    assert all(s != ("vagrant", "up") for s in seq[first_join:]), "every VM is up before joining starts"
    ssh = [c for c in calls if c["tool"] == "ssh"]
    scripts = [(c["argv"][0], c["argv"][1], c.get("args")) for c in ssh if c["argv"][1].endswith(".sh")]
    assert scripts == [
        ("cp1", "mint-join.sh", ["--control-plane"]), ("cp2", "join.sh", ["--control-plane"]),
        ("cp1", "mint-join.sh", []), ("w1", "join.sh", []),
        ("cp1", "mint-join.sh", []), ("w2", "join.sh", []),
    ], "fresh credentials are minted for every join"
    assert [c["argv"][0] for c in calls if c["tool"] == "vagrant"].count("ssh-config") == 2, \
        "one `vagrant ssh-config` after cp1 is up (its check and the kubeconfig copy), one for every join session"
    cp2_join = next(c for c in ssh if c["argv"][:2] == ["cp2", "join.sh"])
    assert "CERTIFICATE_KEY=" + "c" * 64 in cp2_join["stdin"] and cp2_join["env"] == {"NODE_IP": "192.168.56.12"}
    w2_join = next(c for c in ssh if c["argv"][:2] == ["w2", "join.sh"])
    assert "TOKEN=abcdef.0123456789abcdef" in w2_join["stdin"] and "CERTIFICATE_KEY" not in w2_join["stdin"]
    # every vagrant call carried the generated layout and a dotfile dir in the state dir
    settings = json.loads(ctx.state.path("vagrant.json").read_text())
    assert [n["name"] for n in settings["nodes"]] == ["cp1", "cp2", "w1", "w2"]
    assert ctx.state.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert yaml.safe_load(ctx.state.kubeconfig.read_text())["current-context"] == "devcluster-devcluster"
    # second run: nothing is started or joined again
    before = len(fake_tools.calls())
    outcomes = execute(ctx.provider.cluster_steps(), ctx)
    assert [o.status for o in outcomes][1:] == ["done"] * 6
    new = fake_tools.calls()[before:]
    assert not [c for c in new if c["tool"] == "vagrant" and c["argv"][0] == "up"]
    assert not [c for c in new if c["tool"] == "ssh" and c["argv"][1].endswith(".sh")]


def test_virtualbox_refusing_the_range_explains_networks_conf(vagrant_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FAKE_VAGRANT_FAIL_UP", "1")
    with pytest.raises(StepError) as err:
        execute(vagrant_env.provider.cluster_steps(), vagrant_env)
    assert "step 'vm-cp1' failed" in err.value.message
    assert "/etc/vbox/networks.conf" in (err.value.hint or "")


def test_preflight_refuses_a_range_virtualbox_will_not_allow(vagrant_env, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    conf = tmp_path / "networks.conf"
    conf.write_text("* 10.0.0.0/8\n")
    ctx = with_seams(vagrant_env, networks_conf=conf)
    with pytest.raises(StepError, match=re.escape("VirtualBox will refuse the host-only network 192.168.56.0/24")):
        execute(ctx.provider.cluster_steps(), ctx)


def test_preflight_refuses_when_memory_is_short(vagrant_env, monkeypatch, fake_tools) -> None:  # type: ignore[no-untyped-def]
    ctx = with_seams(vagrant_env, memory_mib=lambda: 8192)
    with pytest.raises(StepError, match="the VMs need 16384 MiB but only 8192 MiB"):
        execute(ctx.provider.cluster_steps(), ctx)
    assert not [c for c in fake_tools.calls("vagrant") if c["argv"][0] == "up"]


def test_vagrant_or_virtualbox_missing_is_a_clear_error(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    (fake_tools.bindir / "VBoxManage").unlink()
    os.environ["PATH"] = str(fake_tools.bindir)  # restored by monkeypatch in fake_tools
    with pytest.raises(StepError) as err:
        execute(vagrant_env.provider.cluster_steps(), vagrant_env)
    assert "`VBoxManage` was not found" in err.value.message and "VirtualBox" in (err.value.hint or "")


def test_down_destroys_and_snapshot_passes_the_name(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    ctx = vagrant_env
    execute(ctx.provider.cluster_steps()[:2], ctx)
    ctx.provider.snapshot("save", "clean", ctx)
    ctx.provider.snapshot("restore", "clean", ctx)
    ctx.provider.down(ctx)
    argvs = [c["argv"] for c in fake_tools.calls("vagrant")]
    assert ["snapshot", "save", "clean"] in argvs and ["snapshot", "restore", "clean"] in argvs
    assert ["destroy", "--force"] in argvs


def test_dry_run_shows_the_whole_vagrant_plan_without_calling_vagrant(fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake_tools.add("vagrant", "sys.exit(5)")
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(app, ["up", "--provider", "vagrant", "--dry-run"], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    for needle in ("vm-cp1", "--iface=eth1", "join", "kubeadm init", "192.168.56.32 forail.lan", "traefik",
                   "local-path", "release-forail", "cp2, w1, w2"):
        assert needle in out, needle
    assert fake_tools.calls("vagrant") == []


def test_status_shows_vm_states(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    ctx = vagrant_env
    execute(ctx.provider.cluster_steps()[:3], ctx)  # preflight, layout, cp1
    vms = {vm["name"]: vm["state"] for vm in ctx.provider.describe()["vms"]}
    assert vms == {"cp1": "running", "cp2": "not_created", "w1": "not_created", "w2": "not_created"}


FAKE_DOCKER_SAVE = """
if sys.argv[1] == "save":
    sys.stdout.buffer.write(("tarball of " + " ".join(sys.argv[2:])).encode() * 1000)
"""


def test_image_load_streams_docker_save_into_every_vms_containerd_with_fake_docker(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Fake `docker` and `vagrant` on PATH, SSH sessions replaced by recorders (VirtualBox cannot run here;
    the streaming itself runs over a real sshd in test_ssh_netns.py)."""
    import hashlib

    ctx = vagrant_env
    fake_tools.add("docker", FAKE_DOCKER_SAVE)
    ctx.provider._write_settings(ctx)  # what `up` leaves: the cluster exists, its VMs run
    Path(os.environ["FAKE_VAGRANT_STATE"]).write_text(json.dumps([n.name for n in ctx.provider.nodes]))
    loaded = ctx.provider.load_images(ctx, ["ghcr.io/forail-platform/forail-backend:dev"])
    assert loaded == ["cp1", "cp2", "w1", "w2"]
    saves = [c["argv"] for c in fake_tools.calls("docker")]
    assert saves == [["save", "ghcr.io/forail-platform/forail-backend:dev"]] * 4
    imports = [c for c in fake_tools.calls("ssh") if "ctr" in c["argv"][1]]
    assert [c["argv"][0] for c in imports] == ["cp1", "cp2", "w1", "w2"]
    expected = hashlib.sha256(b"tarball of ghcr.io/forail-platform/forail-backend:dev" * 1000).hexdigest()
    for call in imports:
        assert call["argv"][1] == "ctr -n k8s.io images import -" and call["sudo"] is True
        assert call["sha256"] == expected, "every node gets the whole image stream"


def test_image_load_on_k3s_goes_through_k3s_ctr_with_fake_docker(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """k3s runs its own containerd, so its distribution answers `k3s ctr`, not the system's `ctr` (fake `docker`
    and `vagrant` on PATH, SSH sessions replaced by recorders, as above)."""
    fake_tools.add("docker", FAKE_DOCKER_SAVE)
    cfg = config.load(None, {"provider": "vagrant", "vagrant.distribution": "k3s", **REGISTRY_OFF})
    ctx = Context(cfg, vagrant_env.state, vagrant_env.console,
                  vp.VagrantProvider(cfg, vagrant_env.state, vagrant_env.provider.seams))
    ctx.provider._write_settings(ctx)
    Path(os.environ["FAKE_VAGRANT_STATE"]).write_text(json.dumps([n.name for n in ctx.provider.nodes]))
    assert ctx.provider.load_images(ctx, ["forail-backend:dev"]) == ["cp1", "cp2", "w1", "w2"]
    imports = [c["argv"] for c in fake_tools.calls("ssh") if "ctr" in c["argv"][1]]
    assert imports == [[node, "k3s ctr -n k8s.io images import -"] for node in ("cp1", "cp2", "w1", "w2")]


def test_image_load_fails_naming_docker_when_the_image_is_missing_with_fake_docker(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    ctx = vagrant_env
    fake_tools.add("docker", "sys.stderr.write('Error: No such image: nope:1\\n'); sys.exit(1)")
    ctx.provider._write_settings(ctx)
    Path(os.environ["FAKE_VAGRANT_STATE"]).write_text(json.dumps([n.name for n in ctx.provider.nodes]))
    with pytest.raises(DevclusterError) as err:
        ctx.provider.load_images(ctx, ["nope:1"])
    assert "docker save nope:1" in err.value.message and "No such image" in err.value.message


# ----------------------------------------------------------------- surviving VirtualBox's failure modes


def test_a_wedged_boot_is_destroyed_and_made_again_with_fake_vagrant(vagrant_env, fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A fake `vagrant` (VirtualBox cannot run here) wedges w1's first boot: w1 alone is destroyed and booted
    again, the other VMs are untouched, and the serial console's last lines are shown."""
    monkeypatch.setenv("FAKE_VAGRANT_WEDGE", "w1:1")
    ctx = vagrant_env
    output: list[str] = []
    ctx.console.print = lambda *a, **k: output.append(" ".join(str(x) for x in a))  # type: ignore[method-assign]
    ctx.echo = lambda line: output.append(line)  # type: ignore[method-assign]
    execute(ctx.provider.cluster_steps(), ctx)
    vagrant = [c["argv"] for c in fake_tools.calls("vagrant") if c["argv"][0] in ("up", "destroy")]
    assert vagrant == [["up", "cp1"], ["up", "cp2"], ["up", "w1"], ["destroy", "w1", "--force"], ["up", "w1"],
                       ["up", "w2"]]
    text = "\n".join(output)
    assert "w1: try 1/3 failed" in text and "rcu_preempt detected stalls" in text
    assert str(ctx.provider.serial_log("w1")) in text


def test_a_vm_that_never_boots_ends_up_naming_it_and_its_log_with_fake_vagrant(vagrant_env, fake_tools,
                                                                              monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FAKE_VAGRANT_WEDGE", "cp2:9")
    ctx = vagrant_env
    with pytest.raises(StepError) as err:
        execute(ctx.provider.cluster_steps(), ctx)
    assert "step 'vms' failed: VM cp2 did not come up in 3 tries" in err.value.message
    assert str(ctx.provider.serial_log("cp2")) in (err.value.hint or "")
    ups = [c["argv"][1] for c in fake_tools.calls("vagrant") if c["argv"][0] == "up"]
    assert ups.count("cp2") == 3 and "w1" not in ups, "nothing after the node that failed"


def test_a_failed_join_is_undone_and_retried_on_a_fresh_vm_with_fake_vagrant(vagrant_env, fake_tools, fake_api,
                                                                             monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ctx = vagrant_env
    failures = {"w1": 1}
    original = FakeNodeSession.run_script

    def flaky(self, script, args, env, stdin_data=None, sudo=True, timeout=900):  # type: ignore[no-untyped-def]
        if script.name == "join.sh" and failures.get(self.node):
            failures[self.node] -= 1
            fake_api.add_node(self.node)  # it registered before failing: must not stay behind
            raise DevclusterError(f"on {self.node}: `join.sh` exited 1")
        return original(self, script, args, env, stdin_data, sudo, timeout)

    monkeypatch.setattr(FakeNodeSession, "run_script", flaky)  # the stand-in VM's behaviour, not devcluster's
    execute(ctx.provider.cluster_steps(), ctx)
    vagrant = [c["argv"] for c in fake_tools.calls("vagrant") if c["argv"][0] in ("up", "destroy")]
    assert ["destroy", "w1", "--force"] in vagrant and vagrant.count(["up", "w1"]) == 2
    joins = [c["argv"][0] for c in fake_tools.calls("ssh") if c["argv"][1] == "join.sh"]
    assert joins.count("w1") == 1 and "w2" in joins  # the flaky try raised before recording


def test_preflight_refuses_libvirtd_and_live_kvm_guests_with_fake_systemctl(vagrant_env, fake_tools, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A fake `systemctl` says libvirtd is active and a fake /proc/modules has kvm_amd in use: refused before any
    VM is created, with the commands that fix it."""
    from devcluster.providers.vagrant.host import libvirtd_active

    fake_tools.add("systemctl", "sys.exit(0 if sys.argv[1:] == ['is-active', '--quiet', 'libvirtd'] else 3)")
    modules = tmp_path / "modules"
    modules.write_text("kvm_amd 200704 2 - Live 0x0000000000000000\nkvm 1409024 1 kvm_amd, Live 0x0\n")
    ctx = with_seams(vagrant_env, proc_modules=modules, libvirtd_active=libvirtd_active)
    with pytest.raises(StepError) as err:
        execute(ctx.provider.cluster_steps(), ctx)
    assert "libvirtd is active" in err.value.message and "kvm_amd is in use (2 holder(s))" in err.value.message
    assert "systemctl mask libvirtd.service" in (err.value.hint or "") and "virsh list" in (err.value.hint or "")
    assert not [c for c in fake_tools.calls("vagrant") if c["argv"][0] == "up"]
    assert [c["argv"] for c in fake_tools.calls("systemctl")] == [["is-active", "--quiet", "libvirtd"]]


def test_kvm_modules_without_holders_are_fine() -> None:
    assert vp.kvm_holders("kvm_intel 368640 0 - Live 0x0\nkvm 1118208 1 kvm_intel, Live 0x0\n") == {}


@pytest.mark.parametrize("profile,names", [
    ("standard", ["cp1", "cp2", "w1", "w2"]), ("full", ["cp1", "cp2", "cp3", "w1", "w2", "w3", "w4"]),
    ("minimal", ["cp1", "w1"]), ("single", ["cp1"])])
def test_profiles_size_the_cluster_and_explicit_counts_win(profile: str, names: list[str]) -> None:
    cfg = config.load(None, {"vagrant.profile": profile})
    assert [n.name for n in config.vagrant_nodes(cfg.vagrant)] == names
    explicit = config.load(None, {"vagrant.profile": profile, "vagrant.workers": 1})
    assert [n.name for n in config.vagrant_nodes(explicit.vagrant) if n.role == "worker"] == ["w1"]


def test_plan_for_a_full_k3s_cluster_lists_seven_nodes_and_the_k3s_steps(write_config, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "400")
    cfg = write_config("vagrant:\n  profile: full\n  distribution: k3s\n")
    result = CliRunner().invoke(app, ["plan", "--provider", "vagrant", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "profile full: 3 control plane(s) + 4 worker(s), distribution k3s, boot_timeout 180s, 3 tries per VM" in out
    steps = [line.split("│")[2].strip() for line in result.output.splitlines()
             if line.startswith("│") and line.split("│")[1].strip().isdigit()]
    caches = ["mirror-docker-io", "mirror-ghcr-io", "mirror-registry-k8s-io", "mirror-quay-io"]  # on by default
    assert steps[:14] == ["preflight", "vagrant-config", "k3s-binary", "registry", *caches, "vm-cp1",
                          "registry-hostonly", "k3s-cp1", "kubeconfig", "vms", "join"]
    for node in ("cp2", "cp3", "w1", "w2", "w3", "w4"):
        assert node in out
    assert "kube-system/local-path-provisioner" in out, "k3s' own local-path-provisioner is used"


def test_k3s_binary_is_checked_against_the_release_checksums(vagrant_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    binary = tmp_path / "k3s"
    binary.write_bytes(b"#!/bin/sh\necho k3s\n")
    sums = tmp_path / "sha256sum-amd64.txt"
    sums.write_text(f"{hashlib.sha256(binary.read_bytes()).hexdigest()}  k3s\n{'0' * 64}  k3s-airgap.tar\n")
    cfg = config.load(None, {"provider": "vagrant", "vagrant.distribution": "k3s", "vagrant.k3s_binary": str(binary),
                             **REGISTRY_OFF,
                             "vagrant.k3s_checksums": str(sums)})
    ctx = Context(cfg, vagrant_env.state, vagrant_env.console, vp.VagrantProvider(cfg, vagrant_env.state,
                                                                                   vagrant_env.provider.seams))
    step = next(s for s in ctx.provider.cluster_steps() if s.name == "k3s-binary")
    assert execute([step], ctx)[0].status == "ran" and execute([step], ctx)[0].status == "done"
    binary.write_bytes(b"tampered")
    cfg.vagrant.k3s_binary = str(binary)
    (ctx.state.path("cache")).mkdir(exist_ok=True)
    ctx.provider.distribution.binary_path.unlink()
    with pytest.raises(StepError, match="does not match the pinned"):
        execute([step], ctx)


def test_k3s_flow_first_server_inits_others_join_token_only_on_stdin_with_fake_vagrant(
        vagrant_env, fake_tools, fake_api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Fake `vagrant` and recording SSH sessions (no VMs here): the pinned binary reaches every node, the first
    server runs --cluster-init (empty SERVER_URL), the others join it; the token travels on stdin only."""
    import hashlib

    binary = tmp_path / "k3s"
    binary.write_bytes(b"fake k3s binary")
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    base = vagrant_env
    cfg = config.load(None, {"provider": "vagrant", "vagrant.distribution": "k3s", "vagrant.k3s_binary": str(binary),
                             **REGISTRY_OFF,
                             "vagrant.k3s_sha256": digest, "timeouts.nodes_ready": 5})
    fake_api.objects.clear()  # k3s registers cp1 only once it runs
    ctx = Context(cfg, base.state, base.console, vp.VagrantProvider(cfg, base.state, base.provider.seams))
    execute(ctx.provider.cluster_steps(), ctx)
    ssh = [c for c in fake_tools.calls("ssh")]
    installs = [c for c in ssh if c["argv"][1] == "k3s-install.sh"]
    assert [(c["argv"][0], c["args"], c["env"]["SERVER_URL"]) for c in installs] == [
        ("cp1", ["server"], ""), ("cp2", ["server"], "https://192.168.56.11:6443"),
        ("w1", ["agent"], "https://192.168.56.11:6443"), ("w2", ["agent"], "https://192.168.56.11:6443")]
    token = ctx.state.path("k3s-token").read_text().strip()
    assert len(token) == 64 and ctx.state.path("k3s-token").stat().st_mode & 0o777 == 0o600
    for call in installs:
        assert call["stdin"] == f"TOKEN={token}\n"
        assert token not in json.dumps(call["env"]) and call["env"]["K3S_SHA256"] == digest
    assert installs[0]["env"]["TLS_SANS"] == "192.168.56.11,192.168.56.12,k8s-api.devcluster"
    assert "TLS_SANS" not in installs[2]["env"]
    puts = [c for c in ssh if c["argv"][1].startswith("put ")]
    assert [c["argv"][0] for c in puts] == ["cp1", "cp2", "w1", "w2"] and {c["sha256"] for c in puts} == {digest}
    assert ["cp1", "cat /etc/rancher/k3s/k3s.yaml"] in [c["argv"] for c in ssh]
    assert ctx.state.kubeconfig.stat().st_mode & 0o777 == 0o600
    settings = json.loads(ctx.provider.settings_path.read_text())
    assert settings["distribution"] == "k3s" and settings["flannel_manifest"] == ""


def test_logs_collect_keeps_serial_consoles_when_the_cluster_is_unreachable_with_fake_vboxmanage(
        vagrant_env, fake_tools, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A wedged VM means no API: the tarball must still carry each VM's serial console and VBox.log tail
    (a fake VBoxManage points at a VM folder made here: VirtualBox cannot run on this machine)."""
    import tarfile

    from devcluster.clients.diagnostics import collect

    ctx = vagrant_env
    ctx.provider.serial_dir.mkdir(parents=True)
    ctx.provider.serial_log("cp1").write_text("[ 42.0] rcu_preempt detected stalls\n")
    vm_dir = tmp_path / "VirtualBox VMs" / "devcluster-cp1"
    (vm_dir / "Logs").mkdir(parents=True)
    (vm_dir / "Logs" / "VBox.log").write_text("".join(f"line {i}\n" for i in range(1000)) + "Guru Meditation -4054\n")
    fake_tools.add("VBoxManage", f"""
if sys.argv[1:3] == ["showvminfo", "devcluster-cp1"]:
    print('CfgFile="{vm_dir / "devcluster-cp1.vbox"}"')
else:
    sys.exit(1)
""")

    def unreachable():  # type: ignore[no-untyped-def]
        raise DevclusterError("no kubeconfig at /nowhere")

    tarball = collect(unreachable, tmp_path / "out", host_logs=ctx.provider.collect_host_logs)
    with tarfile.open(tarball) as tar:
        files = {Path(n).name: tar.extractfile(n).read().decode() for n in tar.getnames()  # type: ignore[union-attr]
                 if tar.getmember(n).isfile()}
    assert "rcu_preempt" in files["cp1-serial.log"]
    vbox = files["cp1-VBox.log"].splitlines()
    assert vbox[-1] == "Guru Meditation -4054" and len(vbox) == 300
    assert "no kubeconfig" in files["cluster-unreachable.txt"]


def test_the_other_vms_start_on_one_vagrant_status_with_fake_vagrant(vagrant_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """`vagrant status` is a Ruby start-up (seconds): the `vms` step asks it once, not once more per VM it
    boots (VirtualBox cannot run here: the fake vagrant records its calls)."""
    ctx = vagrant_env
    execute(ctx.provider.cluster_steps()[:2], ctx)
    before = len(fake_tools.calls("vagrant"))
    ctx.provider._start_others(ctx)
    calls = [c["argv"] for c in fake_tools.calls("vagrant")[before:]]
    assert [a[1] for a in calls if a[0] == "up"] == [n.name for n in ctx.provider.nodes[1:]]
    assert sum(1 for a in calls if a[0] == "status") == 1, calls
