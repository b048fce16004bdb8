"""Where the Vagrant VMs go: names, roles and host-only addresses derived from the config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from devcluster.config.schema import VagrantConfig


@dataclass(frozen=True)
class VagrantNode:
    name: str
    role: Literal["control-plane", "worker"]
    ip: str
    memory: int
    cpus: int


def vagrant_nodes(v: VagrantConfig) -> list[VagrantNode]:
    """cpN at .1N and wN at .3N: with the defaults w2 is 192.168.56.32, the reference's ingress address."""
    nodes = [
        VagrantNode(f"cp{i}", "control-plane", f"{v.network_prefix}.{10 + i}", v.control_plane_memory,
                    v.control_plane_cpus)
        for i in range(1, v.control_planes + 1)
    ]
    nodes += [
        VagrantNode(f"w{i}", "worker", f"{v.network_prefix}.{30 + i}", v.worker_memory, v.worker_cpus)
        for i in range(1, v.workers + 1)
    ]
    return nodes
