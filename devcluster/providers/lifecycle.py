"""`devcluster stop` / `start`: each provider's way of pausing a cluster and bringing it back.

Each provider hands out its own (`Provider.lifecycle()`); one that cannot stop (existing) hands out the
Refusal, so the CLI gets the steps without asking which provider it has. Nothing here imports a provider.
"""

from __future__ import annotations

from typing import Literal, Protocol

from devcluster.engine.steps import Step
from devcluster.errors import ConfigError

PowerState = Literal["running", "stopped", "partly stopped", "absent", "unknown"]
def power_of(running: list[bool]) -> PowerState:
    """A cluster's state from whether each of its nodes runs (no nodes: there is no cluster)."""
    if not running:
        return "absent"
    if all(running):
        return "running"
    return "stopped" if not any(running) else "partly stopped"


class Lifecycle(Protocol):
    def stop_steps(self) -> list[Step]:
        """Steps that stop every node, keeping all cluster state for `start`."""

    def start_steps(self) -> list[Step]:
        """Steps that start the nodes, repair what a restart breaks and wait until the nodes are Ready."""

    def power_state(self) -> PowerState:
        """Whether the nodes run, read without touching the API (a stopped cluster does not answer)."""


class Refusal:
    """A cluster devcluster did not make (existing): it is not devcluster's to stop."""

    def __init__(self, provider_name: str) -> None:
        self.provider_name = provider_name

    def _refuse(self) -> list[Step]:
        raise ConfigError(f"provider `{self.provider_name}` cannot stop or start its cluster: devcluster did not "
                          "make it and does not own its nodes",
                          "stop it with the tool that made it; `stop`/`start` work for kind and vagrant")

    def stop_steps(self) -> list[Step]:
        return self._refuse()

    def start_steps(self) -> list[Step]:
        return self._refuse()

    def power_state(self) -> PowerState:
        return "unknown"
