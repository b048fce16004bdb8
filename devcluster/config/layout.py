"""Where the Vagrant VMs go: names, roles and host-only addresses derived from the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from devcluster.config.schema import VAGRANT_PROFILES, VagrantConfig


@dataclass(frozen=True)
class VagrantNode:
    name: str
    role: Literal["control-plane", "worker"]
    ip: str
    memory: int
    cpus: int


def vagrant_counts(v: VagrantConfig) -> tuple[int, int]:
    """(control planes, workers): the profile's, unless given explicitly."""
    control_planes, workers = VAGRANT_PROFILES[v.profile]
    return (v.control_planes if v.control_planes is not None else control_planes,
            v.workers if v.workers is not None else workers)


def vagrant_nodes(v: VagrantConfig) -> list[VagrantNode]:
    """cpN at .1N and wN at .3N: with the defaults w2 is 192.168.56.32, the reference's ingress address."""
    nodes = [
        VagrantNode(f"cp{i}", "control-plane", f"{v.network_prefix}.{10 + i}", v.control_plane_memory,
                    v.control_plane_cpus)
        for i in range(1, vagrant_counts(v)[0] + 1)
    ]
    nodes += [
        VagrantNode(f"w{i}", "worker", f"{v.network_prefix}.{30 + i}", v.worker_memory, v.worker_cpus)
        for i in range(1, vagrant_counts(v)[1] + 1)
    ]
    return nodes
