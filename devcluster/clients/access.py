"""How every client reaches one cluster: a kubeconfig file and a context in it.

One value, made by the provider and handed to the Kubernetes client, helm and the test suites, so no
code picks the kubeconfig or the context on its own.
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
