"""From config to the ordered list of steps `up` runs (config -> plan -> steps -> cluster)."""

from __future__ import annotations

from devcluster.config import Config
from devcluster.prereqs import prerequisite_steps
from devcluster.providers.base import Provider
from devcluster.steps import Step


def up_steps(cfg: Config, provider: Provider, skip_stack: bool = False) -> list[Step]:
    steps = provider.cluster_steps() + prerequisite_steps(cfg, provider.bundles_local_path_provisioner())
    if cfg.stack.enabled and not skip_stack and cfg.stack.releases:
        from devcluster.stack import stack_steps

        steps += stack_steps(cfg)
    names = [s.name for s in steps]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise AssertionError(f"duplicate step names: {duplicates}")
    return steps
