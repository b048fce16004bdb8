"""Vagrant + VirtualBox: cp1 is initialised first, then the other VMs are started and joined.

python-vagrant drives Vagrant, with its subprocess calls routed through
devcluster's runner (timeouts, captured output, errors naming the command).
Join credentials are minted fresh on cp1 for every join (uploaded certs
expire after ~2 h, tokens after 24 h) and passed to each node on stdin over
SSH. The VMs start one after another: VirtualBox is not a parallel-capable
Vagrant provider (`vagrant up --parallel` is ignored for it) and concurrent
linked-clone imports of the same box race.
"""

from __future__ import annotations

import ipaddress
import json
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import vagrant as python_vagrant
from devcluster.assets import asset_dir
from devcluster.clients import fetch, runner
from devcluster.clients.access import ClusterAccess
from devcluster.clients.ssh import SshSession, SshTarget, parse_ssh_config
from devcluster.config import Config, VagrantNode, vagrant_nodes
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import State, write_private
from devcluster.providers.base import HELM_TOOL, KUBECTL_TOOL, Finding, NodeAccess, Provider, Tool, nodes_ready_step

VAGRANT_HINT = "install Vagrant (https://developer.hashicorp.com/vagrant/install) and make sure it is on PATH"
VBOX_HINT = "install VirtualBox 7 (https://www.virtualbox.org/wiki/Downloads); VBoxManage must be on PATH"
CONTROL_PLANE_ENDPOINT = "k8s-api.devcluster"
# Into the containerd namespace the kubelet uses, so pods find the image without pulling it.
CTR_IMPORT = ["ctr", "-n", "k8s.io", "images", "import", "-"]
POD_CIDR = "10.244.0.0/16"
VBOX_DEFAULT_HOSTONLY = ipaddress.ip_network("192.168.56.0/21")
NETWORKS_CONF = Path("/etc/vbox/networks.conf")
RANGE_HINT = (
    "VirtualBox only allows host-only addresses listed in /etc/vbox/networks.conf (192.168.56.0/21 when the "
    "file does not exist). Add a line such as `* {net}` to /etc/vbox/networks.conf (as root), or set "
    "vagrant.network_prefix to a range inside 192.168.56.0/21"
)


# ----------------------------------------------------------------- pure checks


def hostonly_allowed(networks_conf: str | None, network: str) -> bool:
    """Whether VirtualBox (6.1.28+) accepts a host-only network, given /etc/vbox/networks.conf's text."""
    net = ipaddress.ip_network(network)
    if networks_conf is None:
        return net.subnet_of(VBOX_DEFAULT_HOSTONLY)  # type: ignore[arg-type]
    for line in networks_conf.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "*":
            continue
        for word in words[1:]:
            try:
                allowed = ipaddress.ip_network(word, strict=False)
            except ValueError:
                continue
            if allowed.version == net.version and net.subnet_of(allowed):  # type: ignore[arg-type]
                return True
    return False


def available_memory_mib(meminfo: str | None = None) -> int | None:
    """MemAvailable on Linux; total memory on macOS; None when unknown."""
    if meminfo is None and Path("/proc/meminfo").is_file():
        meminfo = Path("/proc/meminfo").read_text()
    if meminfo:
        m = re.search(r"^MemAvailable:\s+(\d+) kB", meminfo, re.M)
        return int(m.group(1)) // 1024 if m else None
    if platform.system() == "Darwin":
        res = runner.run(["sysctl", "-n", "hw.memsize"], timeout=10, check=False)
        if res.ok and res.stdout.strip().isdigit():
            return int(res.stdout.strip()) // (1024 * 1024)
    return None


def vagrant_settings(cfg: Config, flannel_manifest: Path) -> dict[str, Any]:
    """What the Vagrantfile reads (through DEVCLUSTER_VAGRANT_CONFIG) instead of being edited."""
    v = cfg.vagrant
    return {
        "box": v.box,
        "box_version": v.box_version,
        "box_url": v.box_url,
        "kubernetes_package_version": v.kubernetes_package_version,
        "kubernetes_apt_repo": v.kubernetes_apt_repo,
        "control_plane_endpoint": CONTROL_PLANE_ENDPOINT,
        "pod_cidr": POD_CIDR,
        "flannel_manifest": str(flannel_manifest),
        "nodes": [{"name": n.name, "role": n.role, "ip": n.ip, "memory": n.memory, "cpus": n.cpus}
                  for n in vagrant_nodes(v)],
    }


def parse_join_material(output: str) -> dict[str, str]:
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    missing = [k for k in ("ENDPOINT", "TOKEN", "CA_CERT_HASH") if not values.get(k)]
    if missing:
        raise DevclusterError(f"mint-join.sh on the first control plane did not print {', '.join(missing)}")
    return values


def admin_kubeconfig_for_host(admin_conf: str, server: str, context: str) -> str:
    """cp1's admin.conf with the server set to an address the host reaches and a devcluster context name."""
    doc = yaml.safe_load(admin_conf)
    cluster = doc["clusters"][0]
    cluster["cluster"]["server"] = server
    cluster["name"] = context
    user = doc["users"][0]
    user["name"] = f"{context}-admin"
    doc["contexts"] = [{"name": context, "context": {"cluster": context, "user": user["name"]}}]
    doc["current-context"] = context
    return yaml.safe_dump(doc, sort_keys=False)


# ----------------------------------------------------------------- python-vagrant through the runner


class RunnerVagrant(python_vagrant.Vagrant):  # type: ignore[misc]
    """python-vagrant, but every command goes through devcluster.runner."""

    def __init__(self, root: Path, env: dict[str, str], timeout: float, echo: Any = None) -> None:
        super().__init__(root=str(root), env=env)
        self.extra_env = env
        self.timeout = timeout
        self.echo = echo

    def _run_vagrant_command(self, args: list[Any]) -> str:
        return runner.run(self._make_vagrant_command(args), env=self.extra_env, cwd=self.root,
                          timeout=120, hint=VAGRANT_HINT).stdout

    def _call_vagrant_command(self, args: list[Any]) -> None:
        hint = None
        try:
            runner.run(self._make_vagrant_command(args), env=self.extra_env, cwd=self.root, timeout=self.timeout,
                       echo=self.echo)
        except DevclusterError as exc:
            text = str(exc)
            if "allowed ranges" in text or "networks.conf" in text:
                hint = RANGE_HINT.format(net="192.168.56.0/24")
            elif "VBoxManage" in text and "not found" in text:
                hint = VBOX_HINT
            if hint:
                raise DevclusterError(exc.message, hint) from exc
            raise

    def _make_vagrant_command(self, args: list[Any]) -> list[str]:
        exe = runner.which("vagrant")
        if exe is None:
            raise DevclusterError("`vagrant` was not found on PATH", VAGRANT_HINT)
        return [exe] + [str(a) for a in args if a is not None]


# ----------------------------------------------------------------- the provider


SessionFactory = Callable[[SshTarget], Any]


@dataclass(frozen=True)
class HostSeams:
    """What the provider reads from this machine and how it reaches the VMs: the real thing by default,
    stand-ins in tests (no VirtualBox, no VMs, no 192.168.56.x here)."""

    networks_conf: Path = NETWORKS_CONF
    memory_mib: Callable[[], int | None] = available_memory_mib
    connect: SessionFactory = SshSession
    # The API server address the host-side kubeconfig points at; None: the first control plane's.
    api_server: str | None = None


class VagrantProvider(Provider):
    name = "vagrant"

    def __init__(self, cfg: Config, state: State, seams: HostSeams | None = None) -> None:
        super().__init__(cfg, state)
        self.seams = seams or HostSeams()
        self.nodes: list[VagrantNode] = vagrant_nodes(cfg.vagrant)
        self.first = self.nodes[0]
        # `vagrant ssh-config` is slow (a Ruby start-up); its answer holds until a VM is started again.
        self._targets: dict[str, SshTarget] | None = None

    # -- wiring

    @property
    def settings_path(self) -> Path:
        return self.state.path("vagrant.json")

    @property
    def flannel_path(self) -> Path:
        return self.state.path("kube-flannel.yml")

    def vagrant_env(self) -> dict[str, str]:
        return {
            "DEVCLUSTER_VAGRANT_CONFIG": str(self.settings_path),
            "DEVCLUSTER_PROVISIONING_DIR": str(asset_dir("provisioning")),
            "VAGRANT_DOTFILE_PATH": str(self.state.path(".vagrant")),
        }

    def vagrant(self, ctx: Context | None = None) -> RunnerVagrant:
        return RunnerVagrant(asset_dir("vagrant"), self.vagrant_env(), self.cfg.vagrant.up_timeout,
                             echo=ctx.echo if ctx else None)

    def access(self) -> ClusterAccess:
        return self.state_access(f"devcluster-{self.cfg.name}")

    def ingress_address(self) -> str:
        # The last worker by default: the reference's 192.168.56.32 with the default layout.
        return self.cfg.vagrant.ingress_ip or self.nodes[-1].ip

    def access_steps(self) -> list[Step]:
        return [self.reachable_step()]

    def node_access(self) -> NodeAccess:
        self.require_cluster()
        self.ssh_targets()  # writes state/ssh_config for testinfra's paramiko backend
        return NodeAccess("paramiko", (f"--ssh-config={self.state.path('ssh_config')}",), check_eth1=True)

    def expected_nodes(self) -> int | None:
        return len(self.nodes)

    def server_url(self) -> str:
        return self.seams.api_server or f"https://{self.first.ip}:6443"

    def ssh_targets(self) -> dict[str, SshTarget]:
        if self._targets is None:
            text = self.vagrant().ssh_config()
            write_private(self.state.path("ssh_config"), text)
            self._targets = parse_ssh_config(text)
        return self._targets

    def session(self, node: str, targets: dict[str, SshTarget] | None = None) -> SshSession:
        """SSH to ``node``; pass ``targets`` to reuse one `vagrant ssh-config` (a slow call) across sessions."""
        targets = targets if targets is not None else self.ssh_targets()
        if node not in targets:
            raise DevclusterError(f"no SSH configuration for {node}", "is it running? `devcluster status`")
        return self.seams.connect(targets[node])  # type: ignore[no-any-return]

    def running(self) -> set[str]:
        return {s.name for s in self.vagrant().status() if s.state == "running"}

    # -- steps

    def hostonly_check(self) -> tuple[str, bool]:
        """The host-only /24 and whether VirtualBox will accept it (preflight and doctor)."""
        network = f"{self.cfg.vagrant.network_prefix}.0/24"
        path = self.seams.networks_conf
        conf = path.read_text() if path.is_file() else None
        return network, hostonly_allowed(conf, network)

    def memory_check(self) -> tuple[int, int | None, bool]:
        """(MiB the VMs need, MiB available or None if unknown, enough with 1 GiB left for the host)."""
        required = sum(n.memory for n in self.nodes)
        available = self.seams.memory_mib()
        return required, available, available is None or available >= required + 1024

    def _preflight(self, ctx: Context) -> None:
        runner.require("vagrant", VAGRANT_HINT)
        runner.require("VBoxManage", VBOX_HINT)
        network, allowed = self.hostonly_check()
        if not allowed:
            raise DevclusterError(f"VirtualBox will refuse the host-only network {network}",
                                  RANGE_HINT.format(net=network))
        if self.running() == {n.name for n in self.nodes}:
            return
        required, available, enough = self.memory_check()
        if not enough:
            raise DevclusterError(
                f"the VMs need {required} MiB but only {available} MiB is available on this host",
                "lower vagrant.control_plane_memory / vagrant.worker_memory or vagrant.workers, "
                "or close other VMs",
            )

    def _settings_done(self, ctx: Context) -> bool:
        if not (self.settings_path.is_file() and self.flannel_path.is_file()):
            return False
        return json.loads(self.settings_path.read_text()) == vagrant_settings(self.cfg, self.flannel_path)

    def _write_settings(self, ctx: Context) -> None:
        data = fetch.fetch(self.cfg.vagrant.flannel_manifest, self.state.path("cache"), self.cfg.vagrant.flannel_sha256)
        write_private(self.flannel_path, data)
        self.state.write_json("vagrant.json", vagrant_settings(self.cfg, self.flannel_path))

    def _first_cp_done(self, ctx: Context) -> bool:
        if self.first.name not in self.running():
            return False
        with self.session(self.first.name) as s:
            return s.run(["test", "-f", "/etc/kubernetes/admin.conf"], sudo=True, check=False).exit_status == 0

    def _up(self, ctx: Context, node: str) -> None:
        self._targets = None  # a started VM may get another forwarded SSH port
        self.vagrant(ctx).up(vm_name=node)

    def _fetch_kubeconfig(self, ctx: Context) -> None:
        with self.session(self.first.name) as s:
            admin = s.run(["cat", "/etc/kubernetes/admin.conf"], sudo=True).stdout
        write_private(self.state.kubeconfig,
                      admin_kubeconfig_for_host(admin, self.server_url(), self.access().context or ""))
        ctx.reset_kube()

    def _others_done(self, ctx: Context) -> bool:
        return {n.name for n in self.nodes} <= self.running()

    def _start_others(self, ctx: Context) -> None:
        running = self.running()
        for node in self.nodes[1:]:
            if node.name not in running:
                ctx.console.print(f"  vagrant up {node.name}")
                self._up(ctx, node.name)

    def registered(self, ctx: Context) -> set[str]:
        return {n.metadata.name for n in ctx.kube().core.list_node(_request_timeout=15).items}

    def _joined(self, ctx: Context) -> bool:
        return {n.name for n in self.nodes} <= self.registered(ctx)

    def _join(self, ctx: Context) -> None:
        missing = [n for n in self.nodes[1:] if n.name not in self.registered(ctx)]
        targets = self.ssh_targets() if missing else {}
        for node in missing:
            control_plane = node.role == "control-plane"
            flag = ["--control-plane"] if control_plane else []
            with self.session(self.first.name, targets) as cp:
                material = parse_join_material(
                    cp.run_script(asset_dir("provisioning") / "mint-join.sh", flag, {}).stdout)
            stdin = "".join(f"{k}={v}\n" for k, v in material.items())
            ctx.console.print(f"  joining {node.name} as {node.role} (fresh token"
                              + (" and certificate key)" if control_plane else ")"))
            with self.session(node.name, targets) as s:
                s.run_script(asset_dir("provisioning") / "join.sh", flag, {"NODE_IP": node.ip}, stdin_data=stdin)

    def cluster_steps(self) -> list[Step]:
        v = self.cfg.vagrant
        others = ", ".join(n.name for n in self.nodes[1:])
        layout = ", ".join(f"{n.name} {n.ip} ({n.role}, {n.memory} MiB, {n.cpus} CPU)" for n in self.nodes)
        return [
            Step("preflight", "vagrant and VBoxManage present, VirtualBox accepts "
                 f"{v.network_prefix}.0/24, enough free memory", self._preflight),
            Step("vagrant-config", f"write the VM layout for the Vagrantfile and fetch the Flannel manifest "
                 f"({v.flannel_manifest}); box {v.box} {v.box_version}: {layout}",
                 self._write_settings, self._settings_done),
            Step(f"vm-{self.first.name}", f"vagrant up {self.first.name}: containerd, kubeadm "
                 f"{v.kubernetes_package_version}, kubelet --node-ip on eth1, kubeadm init (endpoint "
                 f"{CONTROL_PLANE_ENDPOINT}:6443, --upload-certs, pod CIDR {POD_CIDR}), Flannel patched with "
                 "--iface=eth1", lambda ctx: self._up(ctx, self.first.name), self._first_cp_done,
                 hint=f"devcluster ssh {self.first.name}; sudo journalctl -u kubelet"),
            Step("kubeconfig", f"copy admin.conf from {self.first.name} to {self.state.kubeconfig} (0600), "
                 f"server {self.server_url()}", self._fetch_kubeconfig, self.kubeconfig_reachable),
            Step("vms", f"vagrant up {others} one by one (VirtualBox cannot start VMs in parallel)",
                 self._start_others, self._others_done),
            Step("join", f"join {others} with a fresh token (and certificate key for control planes) minted on "
                 f"{self.first.name}, passed on stdin over SSH", self._join, self._joined),
            nodes_ready_step(self),
        ]

    # -- other operations

    def down(self, ctx: Context) -> None:
        if not self.settings_path.is_file():
            ctx.console.print("no Vagrant cluster state: nothing to destroy")
            return
        self.vagrant(ctx).destroy()
        self.state.kubeconfig.unlink(missing_ok=True)
        ctx.console.print("destroyed the VMs")

    def tools(self) -> list[Tool]:
        return [
            Tool("vagrant", ("--version",), VAGRANT_HINT),
            Tool("VBoxManage", ("--version",), VBOX_HINT),
            HELM_TOOL,
            KUBECTL_TOOL,
        ]

    def doctor_checks(self) -> list[Finding]:
        network, ok = self.hostonly_check()
        findings = [Finding("host-only network", ok, f"{network} " + ("allowed" if ok else "refused by VirtualBox"),
                            "" if ok else RANGE_HINT.format(net=network))]
        required, available, enough = self.memory_check()
        if available is not None:
            findings.append(Finding("memory", enough, f"{available} MiB available, VMs need {required} MiB",
                                    "" if enough else "lower the VM sizes in devcluster.yaml"))
        return findings

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        states: dict[str, str] = {}
        if self.settings_path.is_file() and runner.which("vagrant"):
            try:
                states = {st.name: st.state for st in self.vagrant().status()}
            except DevclusterError as exc:
                out["vagrant_error"] = exc.message
        out["vms"] = [{"name": n.name, "role": n.role, "ip": n.ip, "state": states.get(n.name, "unknown")}
                      for n in self.nodes]
        return out

    def load_images(self, ctx: Context, images: list[str]) -> list[str]:
        """`docker save` streamed over SSH into each VM's `ctr -n k8s.io images import -` (the kubelet's
        containerd namespace), one node after another; nothing lands on disk on either side."""
        self.require_cluster()
        runner.require("docker", "install Docker: the images are read from this machine's Docker")
        targets = self.ssh_targets()
        loaded = []
        for node in self.nodes:
            ctx.console.print(f"  {node.name}: docker save {' '.join(images)} | ctr -n k8s.io images import -")
            with self.session(node.name, targets) as ssh:
                def into_node(out: Any, ssh: SshSession = ssh) -> None:
                    ssh.run_streaming(CTR_IMPORT, out, sudo=True)

                runner.stream_stdout(["docker", "save", *images], into_node,
                                     hint="is the image in this machine's Docker? `docker image ls`")
            loaded.append(node.name)
        return loaded

    def require_cluster(self) -> None:
        """`vagrant.json` is written by `up` before any VM exists: without it there is no cluster to act on,
        and running Vagrant anyway prints Ruby's errors and leaves a `.vagrant/` directory behind."""
        if not self.settings_path.is_file():
            raise DevclusterError(f"no Vagrant cluster {self.cfg.name!r} (nothing in {self.state.root})",
                                  "create it with `devcluster up --provider vagrant`")

    def ssh_interactive(self, node: str) -> int:
        self.require_cluster()
        if node not in {n.name for n in self.nodes}:
            raise DevclusterError(f"no node {node!r}", "nodes: " + ", ".join(n.name for n in self.nodes))
        exe = runner.require("vagrant", VAGRANT_HINT)
        return runner.interactive([exe, "ssh", node], env=self.vagrant_env(), cwd=str(asset_dir("vagrant")))

    def snapshot(self, action: str, name: str, ctx: Context) -> None:
        self.require_cluster()
        v = self.vagrant(ctx)
        if action == "save":
            v.snapshot_save(name)
        else:
            v.snapshot_restore(name)
