"""Halting and starting the Vagrant VMs, in dependency order, and what a host reboot breaks.

`vagrant halt` goes workers first and control planes last (cp1, which the others joined, last of all) so
etcd loses members one at a time in the reverse of how they joined; `vagrant up --no-provision` starts
control planes first (cp1 first: etcd needs a quorum before a kubelet can register) and never runs the
provisioners again. A VM that fails to start is powered off and tried again (vagrant.retries tries), never
destroyed: unlike a first boot, it holds the cluster's etcd data.

What a host reboot breaks on VirtualBox: the host-only adapter (vboxnetN) is made again by Vagrant when a VM
starts, but a VM whose NIC still names an adapter that no longer exists, or comes back without its
192.168.56.x address, cannot reach the other nodes (etcd and the kubelets talk over eth1). That is checked
on every node after the start; such a VM must be recreated (forail-dev-cluster learned the same lesson).
The registry and caches the VMs pull through are published on the host-only address again after the VMs
start (docker, restarting them at boot before vboxnetN existed, could not bind it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from devcluster.config import VagrantNode
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.providers.lifecycle import power_of
from devcluster.providers.steps import RECREATE, api_step, nodes_ready_step

if TYPE_CHECKING:
    from pathlib import Path

    from devcluster.clients.ssh import SshTarget
    from devcluster.config import Config
    from devcluster.providers.lifecycle import PowerState
    from devcluster.providers.vagrant.distribution import Machines
    from devcluster.providers.vagrant.driver import RunnerVagrant


class VagrantCluster(Protocol):
    """What the lifecycle needs of the Vagrant provider (a narrow handle, not the provider: no import cycle)."""

    cfg: Config
    nodes: list[VagrantNode]
    machines: Machines
    settings_path: Path
    _targets: dict[str, SshTarget] | None

    def vagrant(self, ctx: Context | None = None) -> RunnerVagrant: ...
    def running(self) -> set[str]: ...
    def require_cluster(self) -> None: ...
    def serial_log(self, node: str) -> Path: ...
    def ssh_targets(self) -> dict[str, SshTarget]: ...
    def registry_hostonly_steps(self, after: str) -> list[Step]: ...

HALTED = ("poweroff", "saved", "aborted")


class VagrantLifecycle:
    def __init__(self, provider: VagrantCluster) -> None:
        self.provider = provider
        self.nodes = provider.nodes
        # cp1 first, then the other control planes, then the workers: the order `up` made them in.
        self.start_order: list[VagrantNode] = sorted(self.nodes, key=lambda n: n.role != "control-plane")

    def states(self) -> dict[str, str]:
        return {s.name: s.state for s in self.provider.vagrant().status()}

    def power_state(self) -> PowerState:
        if not self.provider.settings_path.is_file():
            return "absent"
        states = self.states()
        wanted = [states.get(n.name, "not_created") for n in self.nodes]
        if all(s == "not_created" for s in wanted):
            return "absent"
        return power_of([s == "running" for s in wanted])

    # Without vagrant.json there is no cluster, and Vagrant cannot even load the Vagrantfile: the checks
    # say "not done" and the actions refuse with require_cluster's message.
    def _none_running(self, ctx: Context) -> bool:
        return self.provider.settings_path.is_file() and not self.provider.running()

    def _all_running(self, ctx: Context) -> bool:
        return self.provider.settings_path.is_file() and {n.name for n in self.nodes} <= self.provider.running()

    def _halt(self, ctx: Context) -> None:
        self.provider.require_cluster()
        vagrant = self.provider.vagrant(ctx)
        running = self.provider.running()
        for node in reversed(self.start_order):
            if node.name in running:
                ctx.console.print(f"  vagrant halt {node.name}")
                vagrant.halt(vm_name=node.name)

    def _start(self, ctx: Context) -> None:
        self.provider.require_cluster()
        states = self.states()  # one `vagrant status`: starting one VM changes no other's state
        for node in self.start_order:
            if states.get(node.name, "not_created") in HALTED:
                self.start_node(ctx, node)

    def start_node(self, ctx: Context, node: VagrantNode) -> None:
        """`vagrant up --no-provision NODE`; a failed start is powered off and tried again, not destroyed."""
        vagrant = self.provider.vagrant(ctx)
        retries = self.provider.cfg.vagrant.retries
        for attempt in range(1, retries + 1):
            ctx.console.print(f"  vagrant up --no-provision {node.name}")
            self.provider._targets = None  # a started VM may get another forwarded SSH port
            try:
                vagrant.up(vm_name=node.name, no_provision=True)
                break
            except DevclusterError as exc:
                if exc.hint or attempt == retries:
                    raise DevclusterError(
                        f"VM {node.name} did not start in {attempt} tries: {exc.message.splitlines()[0]}",
                        exc.hint or f"its serial console: {self.provider.serial_log(node.name)}; if it never "
                        f"boots again: {RECREATE}") from exc
                ctx.console.print(f"  [yellow]{node.name}: try {attempt}/{retries} failed[/yellow]; powering "
                                  "it off to try again (not destroyed: it holds the cluster's data)")
                vagrant.halt(vm_name=node.name, force=True)

    def hostonly_problems(self) -> list[str]:
        """Nodes whose eth1 lacks the host-only address they were made with."""
        targets = self.provider.ssh_targets()
        wrong = []
        for node in self.nodes:
            with self.provider.machines.session(node.name, targets) as ssh:
                out = ssh.run(["ip", "-4", "-o", "addr", "show", "dev", "eth1"], check=False).stdout
            if f" {node.ip}/" not in out:
                wrong.append(f"{node.name} has no {node.ip} on eth1 ({out.strip() or 'no eth1 address'})")
        return wrong

    def _hostonly_ok(self, ctx: Context) -> bool:
        return not self.hostonly_problems()

    def _hostonly_fail(self, ctx: Context) -> None:
        raise DevclusterError("the host-only network did not come back after the restart: " +
                              "; ".join(self.hostonly_problems()) +
                              " (the VM's NIC names a VirtualBox host-only adapter that was made again)", RECREATE)

    def stop_steps(self) -> list[Step]:
        order = ", ".join(n.name for n in reversed(self.start_order))
        return [Step("halt-vms", f"vagrant halt {order} (workers first)", self._halt, self._none_running)]

    def start_steps(self) -> list[Step]:
        order = ", ".join(n.name for n in self.start_order)
        retries = self.provider.cfg.vagrant.retries
        return [
            Step("start-vms", f"vagrant up --no-provision {order} one by one (control planes first), {retries} "
                 "tries each", self._start, self._all_running),
            # after a host reboot docker may have started the containers before vboxnet had its address,
            # and then failed to bind it: re-ensured now that the VMs brought the interface back
            *self.provider.registry_hostonly_steps("start-vms"),
            Step("host-only-network", "every VM has its host-only address on eth1 again", self._hostonly_fail,
                 self._hostonly_ok, hint=RECREATE),
            api_step(f"devcluster ssh {self.nodes[0].name}"),
            nodes_ready_step(self.provider),
        ]
