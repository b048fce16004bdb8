"""`devcluster check nodes`: the testinfra suite in tests/nodes against every node.

Vagrant nodes are reached over SSH with paramiko using `vagrant ssh-config`;
kind nodes through testinfra's docker backend (they are containers). What
each node should look like (role, the InternalIP the API reports, the
provider) travels to the suite as JSON in DEVCLUSTER_NODES.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from devcluster.steps import Context
from devcluster.suites import suite_dir


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str
    internal_ip: str
    provider: str
    check_eth1: bool


def node_specs(ctx: Context) -> list[NodeSpec]:
    """Nodes as the API sees them; eth1 checks apply to Vagrant VMs only."""
    specs = []
    for n in ctx.kube().core.list_node(_request_timeout=15).items:
        labels = n.metadata.labels or {}
        role = "control-plane" if "node-role.kubernetes.io/control-plane" in labels else "worker"
        ip = next((a.address for a in n.status.addresses or [] if a.type == "InternalIP"), "")
        specs.append(NodeSpec(n.metadata.name, role, ip, ctx.provider.name, ctx.provider.name == "vagrant"))
    return specs


def testinfra_hosts(provider: str, specs: list[NodeSpec]) -> list[str]:
    scheme = "docker" if provider == "kind" else "paramiko"
    return [f"{scheme}://{s.name}" for s in specs]


def pytest_argv(hosts: list[str], ssh_config: Path | None, junitxml: Path | None, extra: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "pytest", str(suite_dir("nodes")), "-p", "no:cacheprovider", "-ra",
            "--rootdir", str(suite_dir("nodes")), f"--hosts={','.join(hosts)}"]
    if ssh_config is not None:
        argv.append(f"--ssh-config={ssh_config}")
    if junitxml is not None:
        argv.append(f"--junitxml={junitxml}")
    return argv + extra


def suite_env(specs: list[NodeSpec], ctx: Context) -> dict[str, str]:
    env = {
        "DEVCLUSTER_NODES": json.dumps({s.name: asdict(s) for s in specs}),
        "DEVCLUSTER_HOSTNAME": ctx.config.hostname,
        "DEVCLUSTER_INGRESS_ADDRESS": ctx.config.ingress_ip(),
        "DEVCLUSTER_PROVIDER": ctx.provider.name,
    }
    kc = ctx.provider.kubeconfig()
    if kc is not None:
        env["KUBECONFIG"] = str(kc)
    if ctx.provider.context():
        env["DEVCLUSTER_CONTEXT"] = ctx.provider.context() or ""
    return env


def run_checks(ctx: Context, junitxml: Path | None, extra: list[str]) -> int:
    specs = node_specs(ctx)
    ssh_config = None
    if ctx.provider.name == "vagrant":
        ctx.provider.ssh_targets()  # type: ignore[attr-defined]  # writes state/ssh_config
        ssh_config = ctx.state.path("ssh_config")
    argv = pytest_argv(testinfra_hosts(ctx.provider.name, specs), ssh_config, junitxml, extra)
    env = dict(os.environ)
    env.update(suite_env(specs, ctx))
    # pytest reports straight to the user's terminal; it is the user's foreground job.
    return subprocess.call(argv, env=env)
