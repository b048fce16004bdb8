"""Vagrant itself: python-vagrant through devcluster's runner, the settings the Vagrantfile reads, and
booting one VM with retries.

About one VirtualBox boot in five wedges on affected hosts (rcu_preempt stalls, systemd-networkd hangs,
sshd never answers) while a healthy boot reaches sshd in ~40 s. Vagrant gives up after
`vagrant.boot_timeout`; the VM is then destroyed and made again, up to `vagrant.retries` times, and each
failure shows the last lines of the VM's serial console so a wedge is diagnosable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import vagrant as python_vagrant
from devcluster.clients import runner
from devcluster.config import Config, VagrantNode, vagrant_nodes
from devcluster.engine.steps import Context
from devcluster.errors import CommandError, DevclusterError
from devcluster.providers.vagrant.host import RANGE_HINT

VAGRANT_HINT = "install Vagrant (https://developer.hashicorp.com/vagrant/install) and make sure it is on PATH"
VBOX_HINT = "install VirtualBox 7 (https://www.virtualbox.org/wiki/Downloads); VBoxManage must be on PATH"
CONTROL_PLANE_ENDPOINT = "k8s-api.devcluster"
POD_CIDR = "10.244.0.0/16"
SERIAL_TAIL_LINES = 20
VAGRANTFILE_ERROR = "error loading a Vagrantfile"  # what Vagrant prints before the Vagrantfile's exception


class RunnerVagrant(python_vagrant.Vagrant):  # type: ignore[misc]
    """python-vagrant, but every command goes through devcluster.runner."""

    def __init__(self, root: Path, env: dict[str, str], timeout: float, echo: Any = None) -> None:
        super().__init__(root=str(root), env=env)
        self.extra_env = env
        self.timeout = timeout
        self.echo = echo

    def _run_vagrant_command(self, args: list[Any]) -> str:
        try:
            return runner.run(self._make_vagrant_command(args), env=self.extra_env, cwd=self.root,
                              timeout=120, hint=VAGRANT_HINT).stdout
        except CommandError as exc:  # Vagrant is there (a missing one keeps VAGRANT_HINT): say what failed
            raise DevclusterError(exc.message, self.failure_hint(exc)) from exc

    def failure_hint(self, exc: CommandError) -> str:
        """Vagrant ran and failed: the Vagrantfile (with the settings devcluster wrote), or the command."""
        output = exc.stderr + exc.stdout
        settings = self.extra_env.get("DEVCLUSTER_VAGRANT_CONFIG", "")
        if VAGRANTFILE_ERROR in output:
            return (f"Vagrant could not load {Path(self.root) / 'Vagrantfile'} with the settings in {settings} "
                    "(its error is above); `vagrant validate` in that directory, with DEVCLUSTER_VAGRANT_CONFIG "
                    "set, shows it again")
        verb = "timed out" if exc.timed_out else "failed"
        return f"Vagrant is installed but `vagrant {exc.argv[1] if len(exc.argv) > 1 else ''}` {verb} " \
               "(its output is above); `devcluster doctor` checks the host"

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
            elif isinstance(exc, CommandError) and VAGRANTFILE_ERROR in exc.stderr + exc.stdout:
                hint = self.failure_hint(exc)  # the Vagrantfile will not load on another try either
            if hint:
                raise DevclusterError(exc.message, hint) from exc
            raise

    def _make_vagrant_command(self, args: list[Any]) -> list[str]:
        exe = runner.which("vagrant")
        if exe is None:
            raise DevclusterError("`vagrant` was not found on PATH", VAGRANT_HINT)
        return [exe] + [str(a) for a in args if a is not None]


def vagrant_settings(cfg: Config, flannel_manifest: Path | None, serial_log_dir: Path,
                     registry_hosts_dir: Path | None = None) -> dict[str, Any]:
    """What the Vagrantfile reads (through DEVCLUSTER_VAGRANT_CONFIG) instead of being edited; the manifest is
    the distribution's (None: its VMs apply none); the hosts dir holds containerd's hosts.toml files for the
    registry and the caches, which every node's provisioning installs (None: nothing to install)."""
    v = cfg.vagrant
    return {
        "box": v.box,
        "box_version": v.box_version,
        "box_url": v.box_url,
        "kubernetes_package_version": v.kubernetes_package_version,
        "kubernetes_apt_repo": v.kubernetes_apt_repo,
        "control_plane_endpoint": CONTROL_PLANE_ENDPOINT,
        "pod_cidr": POD_CIDR,
        "flannel_manifest": str(flannel_manifest) if flannel_manifest is not None else "",
        "distribution": v.distribution,
        "boot_timeout": v.boot_timeout,
        "serial_log_dir": str(serial_log_dir),
        "virtualbox_tweaks": v.virtualbox_tweaks,
        "registry_hosts_dir": str(registry_hosts_dir) if registry_hosts_dir is not None else "",
        "nodes": [{"name": n.name, "role": n.role, "ip": n.ip, "memory": n.memory, "cpus": n.cpus}
                  for n in vagrant_nodes(v)],
    }


def serial_tail(path: Path, lines: int = SERIAL_TAIL_LINES) -> str:
    """The last lines of a VM's serial console log, or why there are none."""
    if not path.is_file():
        return f"(no serial log at {path})"
    text = path.read_bytes().decode(errors="replace").replace("\r", "")
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(tail) if tail else "(the serial log is empty: the console is set up on the first boot " \
                                       "and written from the next one on)"


def boot_with_retries(ctx: Context, vagrant: Any, node: VagrantNode, retries: int, serial_log: Path,
                      before_try: Any = None) -> None:
    """`vagrant up NODE`; on failure show the serial console's tail, destroy the VM and make it again."""
    for attempt in range(1, retries + 1):
        if before_try is not None:
            before_try()
        try:
            vagrant.up(vm_name=node.name)
            return
        except DevclusterError as exc:
            if exc.hint:
                raise  # a diagnosed host problem (host-only range, VirtualBox missing): another try cannot help
            reason = exc.message.splitlines()[0]
            ctx.console.print(f"  [yellow]{node.name}: try {attempt}/{retries} failed[/yellow]: {reason}")
            ctx.console.print(f"  last lines of {node.name}'s serial console ({serial_log}):")
            for line in serial_tail(serial_log).splitlines():
                ctx.echo(line)
            if attempt == retries:
                raise DevclusterError(
                    f"VM {node.name} did not come up in {retries} tries: {reason}",
                    f"its serial console: {serial_log}; `devcluster logs --collect DIR` adds VirtualBox's "
                    "VBox.log; a host with KVM/libvirtd active breaks every VM (devcluster doctor)") from exc
            ctx.console.print(f"  destroying {node.name} to make it again (a wedged boot does not recover)")
            vagrant.destroy(vm_name=node.name)
