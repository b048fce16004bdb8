"""`devcluster stop` / `start`: each provider's way of pausing a cluster and bringing it back.

Kept beside the Provider interface rather than in it: a provider that cannot stop (existing) refuses here,
and the CLI gets the steps without asking which provider it has.
"""

from __future__ import annotations

from typing import Literal, Protocol

from devcluster.engine.steps import Step
from devcluster.errors import ConfigError
from devcluster.providers.base import Provider

PowerState = Literal["running", "stopped", "partly stopped", "absent", "unknown"]


class Lifecycle(Protocol):
    def stop_steps(self) -> list[Step]:
        """Steps that stop every node, keeping all cluster state for `start`."""

    def start_steps(self) -> list[Step]:
        """Steps that start the nodes, repair what a restart breaks and wait until the nodes are Ready."""

    def power_state(self) -> PowerState:
        """Whether the nodes run, read without touching the API (a stopped cluster does not answer)."""


class Refusal:
    """A cluster devcluster did not make (existing): it is not devcluster's to stop."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    def _refuse(self) -> list[Step]:
        raise ConfigError(f"provider `{self.provider.name}` cannot stop or start its cluster: devcluster did not "
                          "make it and does not own its nodes",
                          "stop it with the tool that made it; `stop`/`start` work for kind and vagrant")

    def stop_steps(self) -> list[Step]:
        return self._refuse()

    def start_steps(self) -> list[Step]:
        return self._refuse()

    def power_state(self) -> PowerState:
        return "unknown"


def lifecycle_for(provider: Provider) -> Lifecycle:
    from devcluster.providers.kind import KindProvider
    from devcluster.providers.vagrant.provider import VagrantProvider

    if isinstance(provider, KindProvider):
        from devcluster.providers.kind_lifecycle import KindLifecycle

        return KindLifecycle(provider)
    if isinstance(provider, VagrantProvider):
        from devcluster.providers.vagrant.lifecycle import VagrantLifecycle

        return VagrantLifecycle(provider)
    return Refusal(provider)
