"""Vagrant + VirtualBox: the first control plane is made first, then the other VMs are started and joined.

The distribution (kubeadm.py or k3s.py, the protocol in distribution.py) decides how the first node is
bootstrapped, how the others join, and answers what differs between them; it reaches the VMs only through
a `Machines` handle. This module owns the VMs: their layout, booting each with retries (driver.py), the
host checks (host.py), SSH access and the node operations (images, snapshots, shells, logs). The VMs start
one after another: VirtualBox is not a parallel-capable Vagrant provider (`vagrant up --parallel` is
ignored for it) and concurrent linked-clone imports of the same box race.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from devcluster.assets import asset_dir
from devcluster.clients import fetch, runner
from devcluster.clients.access import ClusterAccess, NodeAccess
from devcluster.clients.registry import switched
from devcluster.clients.ssh import SshSession, SshTarget, parse_ssh_config
from devcluster.config import Config, VagrantNode, vagrant_nodes
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import State, ensure_dir, write_private
from devcluster.providers import image_loading, registry_steps
from devcluster.providers.base import Provider
from devcluster.providers.doctor import HELM_TOOL, KUBECTL_TOOL, Finding, Tool
from devcluster.providers.steps import kubeconfig_reachable, nodes_ready_step, reachable_step
from devcluster.providers.vagrant import registry as vagrant_registry
from devcluster.providers.vagrant.distribution import Distribution, Machines
from devcluster.providers.vagrant.driver import (
    VAGRANT_HINT,
    VBOX_HINT,
    RunnerVagrant,
    boot_with_retries,
    vagrant_settings,
)
from devcluster.providers.vagrant.host import RANGE_HINT, HostSeams, hostonly_allowed, virtualization_conflicts
from devcluster.providers.vagrant.k3s import K3s
from devcluster.providers.vagrant.kubeadm import Kubeadm
from devcluster.providers.vagrant.lifecycle import HALTED, VagrantLifecycle

DISTRIBUTIONS: dict[str, Callable[[Machines], Distribution]] = {d.name: d for d in (Kubeadm, K3s)}
VBOX_LOG_TAIL = 300
NO_DOCKER = ("no docker on this machine: no local registry or caches, the VMs pull from the upstreams (install "
             "Docker for them, or set registry.enabled and registry.mirrors.enabled to false to say so)")


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


# ----------------------------------------------------------------- the provider


class VagrantProvider(Provider):
    name = "vagrant"

    def __init__(self, cfg: Config, state: State, seams: HostSeams | None = None) -> None:
        super().__init__(cfg, state)
        self.seams = seams or HostSeams()
        # The registry and caches are docker containers on this machine: without Docker (which VirtualBox does
        # not need) the VMs pull from the upstreams, said in the plan and by preflight, rather than `up` failing.
        self.registry_skipped = (cfg.registry.enabled or cfg.registry.mirrors.enabled) and not self.seams.has_docker()
        if self.registry_skipped:
            cfg = self.cfg = dataclasses.replace(cfg, registry=switched(cfg.registry, on=False))
        self.nodes: list[VagrantNode] = vagrant_nodes(cfg.vagrant)
        self.first = self.nodes[0]
        self.machines = Machines(cfg.vagrant, state, self.nodes, self.ssh_targets, self.seams.connect, cfg.registry)
        self.distribution: Distribution = DISTRIBUTIONS[cfg.vagrant.distribution](self.machines)
        # `vagrant ssh-config` is slow (a Ruby start-up); its answer holds until a VM is started again.
        self._targets: dict[str, SshTarget] | None = None

    # -- wiring

    @property
    def settings_path(self) -> Path:
        return self.state.path("vagrant.json")

    @property
    def serial_dir(self) -> Path:
        return self.state.path("serial")

    def serial_log(self, node: str) -> Path:
        return self.serial_dir / f"{node}-serial.log"

    def vagrant_env(self) -> dict[str, str]:
        return {
            "DEVCLUSTER_VAGRANT_CONFIG": str(self.settings_path),
            "DEVCLUSTER_PROVISIONING_DIR": str(asset_dir("provisioning")),
            "VAGRANT_DOTFILE_PATH": str(self.state.path(".vagrant")),
        }

    def vagrant(self, ctx: Context | None = None) -> RunnerVagrant:
        return RunnerVagrant(asset_dir("vagrant"), self.vagrant_env(), self.cfg.vagrant.up_timeout,
                             echo=ctx.echo if ctx else None)

    @property
    def registry_hosts_dir(self) -> Path:
        return self.state.path(vagrant_registry.HOSTS_DIR)

    def registry_hosts_files(self) -> dict[str, str]:
        """The hosts.toml files the VMs' provisioning installs ({}: the registry and caches are off, or the
        distribution points its runtime at them itself)."""
        if not self.distribution.provisions_registry_hosts:
            return {}
        return vagrant_registry.vm_hosts_files(self.cfg.registry, self.cfg.vagrant)

    def settings(self) -> dict[str, Any]:
        download = self.distribution.vm_download
        hosts = self.registry_hosts_dir if self.registry_hosts_files() else None
        return vagrant_settings(self.cfg, download.path if download else None, self.serial_dir, hosts)

    def access(self) -> ClusterAccess:
        return self.state_access(f"devcluster-{self.cfg.name}")

    def ingress_address(self) -> str:
        # The last worker by default: the reference's 192.168.56.32 with the default layout.
        return self.cfg.vagrant.ingress_ip or self.nodes[-1].ip

    def bundled_local_path(self) -> tuple[str, str] | None:
        return self.distribution.bundled_local_path

    def access_steps(self) -> list[Step]:
        return [reachable_step(self)]

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

    def running(self) -> set[str]:
        return {name for name, state in self.lifecycle().states().items() if state == "running"}

    # -- host checks

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
        if self.registry_skipped:
            ctx.console.print(f"  [yellow]note:[/yellow] {NO_DOCKER}")
        runner.require("vagrant", VAGRANT_HINT)
        runner.require("VBoxManage", VBOX_HINT)
        conflicts = virtualization_conflicts(self.seams.proc_modules, self.seams.libvirtd_active)
        if conflicts:
            raise DevclusterError(
                "VirtualBox cannot have the CPU's virtualization extensions: " + "; ".join(p for p, _ in conflicts),
                "; ".join(fix for _, fix in conflicts))
        network, allowed = self.hostonly_check()
        if not allowed:
            raise DevclusterError(f"VirtualBox will refuse the host-only network {network}",
                                  RANGE_HINT.format(net=network))
        registry_steps.refuse_taken_ports(self.cfg, self.seams.busy_ports)
        if self.running() == {n.name for n in self.nodes}:
            return
        required, available, enough = self.memory_check()
        if not enough:
            raise DevclusterError(
                f"the VMs need {required} MiB but only {available} MiB is available on this host",
                "lower vagrant.control_plane_memory / vagrant.worker_memory, pick a smaller vagrant.profile "
                "(minimal, single), or close other VMs",
            )

    # -- steps

    def _settings_done(self, ctx: Context) -> bool:
        if not self.settings_path.is_file():
            return False
        download = self.distribution.vm_download
        if download is not None and not download.path.is_file():
            return False
        if vagrant_registry.read_tree(self.registry_hosts_dir) != self.registry_hosts_files():
            return False
        return json.loads(self.settings_path.read_text()) == self.settings()

    def _write_settings(self, ctx: Context) -> None:
        download = self.distribution.vm_download
        if download is not None:
            write_private(download.path, fetch.fetch(download.url, self.state.path("cache"), download.sha256))
        ensure_dir(self.serial_dir)
        vagrant_registry.write_tree(self.registry_hosts_dir, self.registry_hosts_files())
        self.state.write_json("vagrant.json", self.settings())

    def boot(self, ctx: Context, node: VagrantNode, state: str | None = None) -> None:
        """`vagrant up NODE`, destroyed and made again when it fails (vagrant.retries tries). ``state``: the
        VM's `vagrant status` when the caller has just read it (asking costs a Ruby start-up per VM)."""
        ensure_dir(self.serial_dir)

        def forget_targets() -> None:
            self._targets = None  # a started VM may get another forwarded SSH port

        lifecycle = self.lifecycle()
        if state is None:
            state = lifecycle.states().get(node.name, "not_created")
        if state in HALTED:  # stopped by `devcluster stop` or a reboot: started, never recreated
            lifecycle.start_node(ctx, node)
            return
        boot_with_retries(ctx, self.vagrant(ctx), node, self.cfg.vagrant.retries, self.serial_log(node.name),
                          before_try=forget_targets)

    def _first_done(self, ctx: Context) -> bool:
        if self.first.name not in self.running():
            return False
        return self.distribution.first_vm_done(ctx)

    def _fetch_kubeconfig(self, ctx: Context) -> None:
        with self.machines.session(self.first.name) as s:
            admin = s.run(["cat", self.distribution.admin_conf], sudo=True).stdout
        write_private(self.state.kubeconfig,
                      admin_kubeconfig_for_host(admin, self.server_url(), self.access().context or ""))
        ctx.reset_kube()

    def _others_done(self, ctx: Context) -> bool:
        return {n.name for n in self.nodes} <= self.running()

    def _start_others(self, ctx: Context) -> None:
        states = self.lifecycle().states()  # one `vagrant status`: starting one VM changes no other's state
        for node in self.nodes[1:]:
            state = states.get(node.name, "not_created")
            if state != "running":
                ctx.console.print(f"  vagrant up {node.name}")
                self.boot(ctx, node, state)

    def registered(self, ctx: Context) -> set[str]:
        return {n["metadata"]["name"] for n in ctx.kube().list("/api/v1/nodes")}

    def _joined(self, ctx: Context) -> bool:
        return {n.name for n in self.nodes} <= self.registered(ctx)

    def _join(self, ctx: Context) -> None:
        retries = self.cfg.vagrant.retries
        for node in [n for n in self.nodes[1:] if n.name not in self.registered(ctx)]:
            for attempt in range(1, retries + 1):
                try:
                    self.distribution.join(ctx, node)
                    break
                except DevclusterError as exc:
                    reason = exc.message.splitlines()[0]
                    ctx.console.print(f"  [yellow]{node.name}: join try {attempt}/{retries} failed[/yellow]: {reason}")
                    self._forget_node(ctx, node)
                    if attempt == retries:
                        raise DevclusterError(
                            f"{node.name} did not join in {retries} tries: {reason}",
                            f"its serial console: {self.serial_log(node.name)}; devcluster ssh {node.name}") from exc
                    ctx.console.print(f"  destroying {node.name} to join a fresh VM (never half-joined)")
                    self.vagrant(ctx).destroy(vm_name=node.name)
                    self.boot(ctx, node, "not_created")  # just destroyed: no need to ask Vagrant

    def _forget_node(self, ctx: Context, node: VagrantNode) -> None:
        """A node that failed to join leaves no Node object behind (its scripts undo their own part)."""
        kube = ctx.kube()
        if kube.read(f"/api/v1/nodes/{node.name}") is not None:
            kube.core.delete_node(node.name)

    def cluster_steps(self) -> list[Step]:
        v = self.cfg.vagrant
        others = ", ".join(n.name for n in self.nodes[1:]) or "(none)"
        control_planes = sum(1 for n in self.nodes if n.role == "control-plane")
        layout = ", ".join(f"{n.name} {n.ip} ({n.role}, {n.memory} MiB, {n.cpus} CPU)" for n in self.nodes)
        shape = (f"profile {v.profile}: {control_planes} control plane(s) + {len(self.nodes) - control_planes} "
                 f"worker(s), distribution {v.distribution}, boot_timeout {v.boot_timeout}s, {v.retries} tries per "
                 f"VM, up_timeout {v.up_timeout}s")
        download = self.distribution.vm_download
        manifest = f" and fetch {download.what} ({download.url})" if download else ""
        files = self.registry_hosts_files()
        hosts = (f", {len(files)} containerd hosts.toml for the registry/caches (every node's provisioning installs "
                 f"them under /etc/containerd/certs.d before kubeadm pulls) in {self.registry_hosts_dir}"
                 if files else "")
        return [
            Step("preflight", f"{shape}; vagrant and VBoxManage present, no KVM/libvirtd holding the virtualization "
                 f"extensions, VirtualBox accepts {v.network_prefix}.0/24, enough free memory"
                 + (f"; {NO_DOCKER}" if self.registry_skipped else ""), self._preflight),
            Step("vagrant-config", f"write the VM layout for the Vagrantfile{manifest}{hosts}; box {v.box} "
                 f"{v.box_version}: {layout}", self._write_settings, self._settings_done),
            *self.distribution.prepare_steps(),
            *vagrant_registry.container_steps(self.cfg, self.seams.has_address),
            Step(f"vm-{self.first.name}", f"vagrant up {self.first.name} ({v.retries} tries, serial console in "
                 f"{self.serial_dir}): {self.distribution.first_vm_summary()}",
                 lambda ctx: self.boot(ctx, self.first), self._first_done,
                 hint=f"devcluster ssh {self.first.name}; its serial console: {self.serial_log(self.first.name)}"),
            *self.registry_hostonly_steps(f"vm-{self.first.name}"),
            *self.distribution.bootstrap_steps(),
            Step("kubeconfig", f"copy {self.distribution.admin_conf} from {self.first.name} to "
                 f"{self.state.kubeconfig} (0600), server {self.server_url()}", self._fetch_kubeconfig,
                 kubeconfig_reachable, gate=True),
            Step("vms", f"vagrant up {others} one by one (VirtualBox cannot start VMs in parallel), {v.retries} "
                 "tries each", self._start_others, self._others_done),
            Step("join", f"join {others}: {self.distribution.join_summary()}", self._join, self._joined),
            nodes_ready_step(self),
        ]

    # -- other operations

    def registry_from_cluster_network(self) -> str:
        return f"{vagrant_registry.host_address(self.cfg.vagrant)}:{self.cfg.registry.port}"

    def registry_hostonly_steps(self, after: str) -> list[Step]:
        """The registry and caches published on the host-only address (once it exists), for the VMs."""
        return vagrant_registry.hostonly_steps(self.cfg, after)

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
        conflicts = virtualization_conflicts(self.seams.proc_modules, self.seams.libvirtd_active)
        findings = [Finding("virtualization", False, problem, fix) for problem, fix in conflicts]
        if not conflicts:
            findings.append(Finding("virtualization", True, "no libvirtd or KVM guest competing for AMD-V/VT-x"))
        network, ok = self.hostonly_check()
        findings += [Finding("host-only network", ok, f"{network} " + ("allowed" if ok else "refused by VirtualBox"),
                            "" if ok else RANGE_HINT.format(net=network))]
        required, available, enough = self.memory_check()
        if available is not None:
            findings.append(Finding("memory", enough, f"{available} MiB available, VMs need {required} MiB",
                                    "" if enough else "lower the VM sizes in devcluster.yaml"))
        return findings + registry_steps.port_findings(self.cfg, self.seams.busy_ports)

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
        """With the registry on: pushed to it (only changed layers travel), and the VMs pull
        localhost:<port>/... through their hosts.toml / registries.yaml. Without: `docker save` streamed over
        SSH into each VM's `ctr -n k8s.io images import -` (the kubelet's containerd namespace), one node after
        another; nothing lands on disk on either side."""
        self.require_cluster()
        runner.require("docker", "install Docker: the images are read from this machine's Docker")
        targets = self.ssh_targets() if self.cfg.registry.enabled else {}
        if self.cfg.registry.enabled and self._pulls_from_registry(targets):
            image_loading.push_and_record(self.cfg, self.state, images, ctx.console.print, ctx.echo)
            return [n.name for n in self.nodes]
        if self.cfg.registry.enabled:
            ctx.console.print(f"  {self.first.name} was made without the registry (its runtime does not pull "
                              f"localhost:{self.cfg.registry.port}): loading into every VM instead; "
                              "`devcluster down`, `up` for the registry")
        targets = targets or self.ssh_targets()
        importer = self.distribution.image_import
        loaded = []
        for node in self.nodes:
            ctx.console.print(f"  {node.name}: docker save {' '.join(images)} | {' '.join(importer)}")
            with self.machines.session(node.name, targets) as ssh:
                def into_node(out: Any, ssh: SshSession = ssh) -> None:
                    ssh.run_streaming(importer, out, sudo=True)

                runner.stream_stdout(["docker", "save", *images], into_node,
                                     hint="is the image in this machine's Docker? `docker image ls`")
            loaded.append(node.name)
        return loaded

    def _pulls_from_registry(self, targets: dict[str, SshTarget]) -> bool:
        """The VMs' container runtime is pointed at the local registry (provisioning or the k3s install did it
        when they were made; a VM made before the registry was on is not)."""
        probe = self.distribution.pulls_from_local_registry(self.cfg.registry.port)
        with self.machines.session(self.first.name, targets) as s:
            return s.run(probe, sudo=True, check=False).exit_status == 0

    def collect_host_logs(self, dest: Path) -> list[str]:
        """Each VM's serial console and the tail of its VirtualBox VBox.log: what explains a VM that never
        reached SSH, when the cluster's own logs cannot be had."""
        written = []
        out = dest / "vagrant"
        out.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            serial = self.serial_log(node.name)
            if serial.is_file():
                (out / serial.name).write_bytes(serial.read_bytes())
                written.append(serial.name)
            vbox_log = self._vbox_log(node.name)
            if vbox_log is not None:
                lines = vbox_log.read_bytes().decode(errors="replace").splitlines()[-VBOX_LOG_TAIL:]
                (out / f"{node.name}-VBox.log").write_text("\n".join(lines) + "\n")
                written.append(f"{node.name}-VBox.log")
        return written

    def _vbox_log(self, node: str) -> Path | None:
        if runner.which("VBoxManage") is None:
            return None
        res = runner.run(["VBoxManage", "showvminfo", f"devcluster-{node}", "--machinereadable"], timeout=60,
                         check=False)
        m = re.search(r'^CfgFile="(.+)"$', res.stdout, re.M) if res.ok else None
        log = Path(m.group(1)).parent / "Logs" / "VBox.log" if m else None
        return log if log is not None and log.is_file() else None

    def lifecycle(self) -> VagrantLifecycle:
        return VagrantLifecycle(self)

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
