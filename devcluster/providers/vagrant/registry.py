"""How the Vagrant VMs reach the local registry and the pull-through caches: through this machine's host-only
address, `<vagrant.network_prefix>.1` (what VirtualBox gives the host on vboxnetN).

The containers are the same ones kind uses (one per machine, shared); for the VMs they are published on the
host-only address as well as on 127.0.0.1. That address exists only once VirtualBox made the interface
(the first `vagrant up` on this machine), and docker cannot bind an address the host lacks, so the
containers before the first VM publish on it only if it is here already, and `registry-hostonly` after the
first VM adds it. kubeadm VMs get containerd's hosts.toml files by provisioning (a directory written here,
uploaded by the Vagrantfile, installed by provisioning/registry-mirrors.sh); k3s VMs get registries.yaml
from k3s.py's install. A cache the VMs cannot reach yet (a first-ever cp1) costs nothing but speed:
containerd and k3s fall back to the upstream.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from devcluster.clients.registry import hosts_files, k3s_registries, via_host
from devcluster.config.schema import Config, RegistryConfig, VagrantConfig
from devcluster.engine.steps import Step
from devcluster.providers import registry_steps

HOSTS_DIR = "registry-hosts"  # under the cluster's state dir
HOSTS_UPLOAD = "/tmp/devcluster-registry-hosts"  # where the Vagrantfile's file provisioner puts it in a VM
HOSTONLY_STEP = "registry-hostonly"


def host_address(v: VagrantConfig) -> str:
    return f"{v.network_prefix}.1"


def vm_hosts_files(reg: RegistryConfig, v: VagrantConfig) -> dict[str, str]:
    """containerd's hosts.toml per registry (relative path -> content), pointing at the host-only address."""
    return hosts_files(reg, via_host(host_address(v)))


def k3s_registries_yaml(reg: RegistryConfig, v: VagrantConfig) -> str:
    """/etc/rancher/k3s/registries.yaml for the VMs ('' when the registry and the caches are off)."""
    doc = k3s_registries(reg, via_host(host_address(v)))
    return yaml.safe_dump(doc, sort_keys=False) if doc else ""


def read_tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> text); {} when there is no such directory."""
    if not root.is_dir():
        return {}
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


def write_tree(root: Path, files: dict[str, str]) -> None:
    """``root`` holds exactly ``files`` afterwards (a removed upstream's file is gone too); none: no ``root``."""
    if root.exists():
        shutil.rmtree(root)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def container_steps(cfg: Config, has_address: Callable[[str], bool]) -> list[Step]:
    address = host_address(cfg.vagrant)
    return registry_steps.container_steps(
        cfg, lambda: (address,) if has_address(address) else (),
        f" and {address}:{cfg.registry.port}+ if this machine has that address yet (VirtualBox makes it with "
        "the first VM; until then the VMs fall back to the upstreams)")


def hostonly_steps(cfg: Config, after: str) -> list[Step]:
    return registry_steps.rebind_step(
        cfg, HOSTONLY_STEP, host_address(cfg.vagrant),
        f"how the VMs reach them; {after} made the host-only interface, a no-op when already published there")
