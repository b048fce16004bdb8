"""What this machine must offer VirtualBox: an allowed host-only range, memory, and the CPU's
virtualization extensions to itself.

KVM and VirtualBox cannot both hold AMD-V/VT-x: a running libvirtd (even only socket-activated) or a
live KVM guest kills every VM with "Guru Meditation VERR_SVM_IN_USE", or wedges their boots. That is
refused before anything is created, with the commands that fix it.
"""

from __future__ import annotations

import ipaddress
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devcluster.clients import runner
from devcluster.clients.registry_containers import address_present
from devcluster.clients.ssh import SshSession, SshTarget
from devcluster.providers.doctor import busy_ports

VBOX_DEFAULT_HOSTONLY = ipaddress.ip_network("192.168.56.0/21")
NETWORKS_CONF = Path("/etc/vbox/networks.conf")
PROC_MODULES = Path("/proc/modules")
RANGE_HINT = (
    "VirtualBox only allows host-only addresses listed in /etc/vbox/networks.conf (192.168.56.0/21 when the "
    "file does not exist). Add a line such as `* {net}` to /etc/vbox/networks.conf (as root), or set "
    "vagrant.network_prefix to a range inside 192.168.56.0/21"
)
LIBVIRTD_FIX = (
    "sudo systemctl disable --now libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket && "
    "sudo systemctl mask libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket "
    "(and `vagrant plugin uninstall vagrant-libvirt` if installed); do not blacklist the kvm modules"
)
KVM_GUEST_FIX = (
    "shut the KVM guests down (`virsh list --all`, `pgrep -af 'qemu-system.*-accel kvm'`); "
    "`lsmod | grep ^kvm_` must then show a refcount of 0"
)


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


def kvm_holders(proc_modules: str) -> dict[str, int]:
    """kvm_amd / kvm_intel with a non-zero use count in /proc/modules' text: a live KVM guest holds them."""
    holders = {}
    for line in proc_modules.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] in ("kvm_amd", "kvm_intel") and words[2].isdigit() and int(words[2]) > 0:
            holders[words[0]] = int(words[2])
    return holders


def libvirtd_active() -> bool:
    """`systemctl is-active libvirtd`; False where there is no systemd (macOS) or no such unit."""
    if runner.which("systemctl") is None:
        return False
    return runner.run(["systemctl", "is-active", "--quiet", "libvirtd"], timeout=15, check=False).ok


def virtualization_conflicts(proc_modules: Path, libvirtd: Callable[[], bool]) -> list[tuple[str, str]]:
    """(problem, fix) for everything that would take the CPU's virtualization extensions from VirtualBox."""
    problems = []
    if libvirtd():
        problems.append(("libvirtd is active: it takes AMD-V/VT-x from VirtualBox as soon as it starts a guest, "
                         "and its socket activation starts it without asking", LIBVIRTD_FIX))
    text = proc_modules.read_text() if proc_modules.is_file() else ""
    for module, count in kvm_holders(text).items():
        problems.append((f"{module} is in use ({count} holder(s)): a KVM guest is running and holds the "
                         "virtualization extensions", KVM_GUEST_FIX))
    return problems


@dataclass(frozen=True)
class HostSeams:
    """What the provider reads from this machine and how it reaches the VMs: the real thing by default,
    stand-ins in tests (no VirtualBox, no VMs, no 192.168.56.x here)."""

    networks_conf: Path = NETWORKS_CONF
    memory_mib: Callable[[], int | None] = available_memory_mib
    proc_modules: Path = PROC_MODULES
    libvirtd_active: Callable[[], bool] = libvirtd_active
    connect: Callable[[SshTarget], Any] = SshSession
    # The API server address the host-side kubeconfig points at; None: the first control plane's.
    api_server: str | None = None
    # Whether this machine has a docker client (the registry and caches are docker containers).
    has_docker: Callable[[], bool] = lambda: runner.which("docker") is not None
    # Whether this machine has an address now (the host-only one, to publish the registry containers on).
    has_address: Callable[[str], bool] = address_present
    # Ports something already listens on (doctor: the registry's ports).
    busy_ports: Callable[[str, list[int]], list[int]] = busy_ports
