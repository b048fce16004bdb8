"""`devcluster check nodes`: the testinfra suite in tests/nodes against every node.

Vagrant nodes are reached over SSH with paramiko using `vagrant ssh-config`;
kind nodes through testinfra's docker backend (they are containers). What
each node should look like (role, the InternalIP the API reports, the
provider) travels to the suite as JSON in DEVCLUSTER_NODES.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from devcluster.engine.steps import Context
from devcluster.suites import run_suite


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str
    internal_ip: str
    provider: str
    check_eth1: bool


def node_specs(ctx: Context, check_eth1: bool) -> list[NodeSpec]:
    """Nodes as the API sees them; eth1 checks apply where the provider's nodes have one (Vagrant VMs)."""
    specs = []
    for n in ctx.kube().list("/api/v1/nodes"):
        labels = n["metadata"].get("labels") or {}
        role = "control-plane" if "node-role.kubernetes.io/control-plane" in labels else "worker"
        ip = next((a["address"] for a in (n.get("status") or {}).get("addresses") or [] if a["type"] == "InternalIP"),
                  "")
        specs.append(NodeSpec(n["metadata"]["name"], role, ip, ctx.provider.name, check_eth1))
    return specs


def testinfra_hosts(backend: str, specs: list[NodeSpec]) -> list[str]:
    return [f"{backend}://{s.name}" for s in specs]


def suite_env(specs: list[NodeSpec], ctx: Context) -> dict[str, str]:
    env = {
        "DEVCLUSTER_NODES": json.dumps({s.name: asdict(s) for s in specs}),
        "DEVCLUSTER_HOSTNAME": ctx.config.hostname,
        "DEVCLUSTER_INGRESS_ADDRESS": ctx.provider.ingress_address(),
        "DEVCLUSTER_PROVIDER": ctx.provider.name,
    }
    return {**env, **ctx.provider.access().env()}


def run_checks(ctx: Context, junitxml: Path | None, extra: list[str]) -> int:
    access = ctx.provider.node_access()
    specs = node_specs(ctx, access.check_eth1)
    args = [f"--hosts={','.join(testinfra_hosts(access.backend, specs))}", *access.extra_args]
    return run_suite("nodes", args + extra, suite_env(specs, ctx), junitxml)
