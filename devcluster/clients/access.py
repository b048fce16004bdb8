"""How every client reaches one cluster: a kubeconfig file and a context in it; and how the node checks
reach its nodes.

One value each, made by the provider and handed to the Kubernetes client, helm and the test suites, so no
code picks the kubeconfig, the context or the node backend on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ClusterAccess:
    # None: the client's own default ($KUBECONFIG, else ~/.kube/config).
    kubeconfig: Path | None = None
    # None: the kubeconfig's current context.
    context: str | None = None

    def env(self) -> dict[str, str]:
        """The same cluster for a child process (kubectl, pytest suites): KUBECONFIG and the context."""
        env = {}
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        if self.context:
            env["DEVCLUSTER_CONTEXT"] = self.context
        return env

    def helm_args(self) -> list[str]:
        args = ["--kubeconfig", str(self.kubeconfig)] if self.kubeconfig is not None else []
        return args + (["--kube-context", self.context] if self.context else [])


@dataclass(frozen=True)
class NodeAccess:
    """How the testinfra node checks reach the nodes: a testinfra backend and its extra pytest arguments."""

    backend: str
    extra_args: tuple[str, ...] = ()
    # The VMs' host-only interface: only Vagrant nodes have one.
    check_eth1: bool = False
