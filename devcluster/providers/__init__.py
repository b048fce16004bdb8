"""Cluster providers: kind (CI), vagrant (4-VM kubeadm on VirtualBox), existing (your kubeconfig)."""

from __future__ import annotations

from devcluster.config import Config
from devcluster.local.state import State
from devcluster.providers.base import Provider


def get_provider(cfg: Config, state: State) -> Provider:
    if cfg.provider == "kind":
        from devcluster.providers.kind import KindProvider

        return KindProvider(cfg, state)
    if cfg.provider == "vagrant":
        from devcluster.providers.vagrant import VagrantProvider

        return VagrantProvider(cfg, state)
    from devcluster.providers.existing import ExistingProvider

    return ExistingProvider(cfg, state)
