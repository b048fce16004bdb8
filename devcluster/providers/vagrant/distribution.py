"""What the Vagrant provider asks of a Kubernetes distribution, and the narrow view of the VMs it gives one.

The provider owns the VMs: booting them, SSH, images, snapshots, logs. A distribution (kubeadm.py, k3s.py)
owns Kubernetes on them: how the first control plane is bootstrapped, how the others join, and the facts
that differ between distributions, so the provider never asks which one it has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from devcluster.clients.ssh import SshSession, SshTarget
from devcluster.config import VagrantConfig, VagrantNode
from devcluster.config.schema import RegistryConfig
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import State


@dataclass(frozen=True)
class Download:
    """A file the VMs' provisioning reads, fetched on this machine and checked against its sha256."""

    what: str
    url: str
    sha256: str
    path: Path


@dataclass(frozen=True)
class Machines:
    """The VMs as a distribution sees them: their settings and layout, the cluster's state directory, and
    SSH into them; never the provider itself."""

    settings: VagrantConfig
    state: State
    nodes: list[VagrantNode]
    # `vagrant ssh-config` parsed (cached by the provider until a VM is started again).
    targets: Callable[[], dict[str, SshTarget]]
    connect: Callable[[SshTarget], SshSession]
    # The local registry and the caches the VMs' container runtime is pointed at.
    registry: RegistryConfig = field(default_factory=RegistryConfig)

    @property
    def first(self) -> VagrantNode:
        return self.nodes[0]

    def session(self, node: str, targets: dict[str, SshTarget] | None = None) -> SshSession:
        """SSH to ``node``; pass ``targets`` to reuse one `vagrant ssh-config` (a slow call) across sessions."""
        targets = targets if targets is not None else self.targets()
        if node not in targets:
            raise DevclusterError(f"no SSH configuration for {node}", "is it running? `devcluster status`")
        return self.connect(targets[node])


class Distribution(Protocol):
    """Kubernetes on the VMs: the steps and the answers that differ between kubeadm and k3s."""

    name: str
    # The admin kubeconfig on the first control plane, copied to this machine by the `kubeconfig` step.
    admin_conf: str
    # Reads `docker save` on stdin into the containerd namespace the kubelet uses.
    image_import: list[str]
    # (namespace, Deployment) of the local-path-provisioner it ships for rancher.io/local-path, or None.
    bundled_local_path: tuple[str, str] | None
    # The VMs' provisioning installs containerd's hosts.toml for the registry and caches (kubeadm); False: the
    # distribution points its runtime at them itself (k3s: registries.yaml in its install).
    provisions_registry_hosts: bool

    def pulls_from_local_registry(self, port: int) -> list[str]:
        """A command on a node that exits 0 when its runtime pulls localhost:<port>/... from the local registry."""

    @property
    def vm_download(self) -> Download | None:
        """A file the VMs' provisioning reads (kubeadm: the CNI manifest), fetched by the `vagrant-config` step."""

    def prepare_steps(self) -> list[Step]:
        """Steps on this machine before any VM starts."""

    def first_vm_done(self, ctx: Context) -> bool:
        """The first VM runs: has its own provisioning done this distribution's part too?"""

    def bootstrap_steps(self) -> list[Step]:
        """Steps that make the first control plane, once its VM runs."""

    def join(self, ctx: Context, node: VagrantNode) -> None:
        """Make ``node`` (a started VM) a member of the cluster; raise DevclusterError when it did not join."""

    def first_vm_summary(self) -> str:
        """What `vagrant up` of the first VM does, for the plan."""

    def join_summary(self) -> str:
        """How the other nodes join, for the plan."""
