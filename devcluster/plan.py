"""From config to the ordered list of steps `up` runs (config -> plan -> steps -> cluster).

The one place the actions list is built, in order: the provider's steps that make the cluster exist,
the prerequisites every provider gets, then the stack. Each part is its own module; this only joins them.
"""

from __future__ import annotations

from devcluster.config import Config
from devcluster.engine.steps import Step
from devcluster.providers.base import Provider
from devcluster.stages.prerequisites import prerequisite_steps
from devcluster.stages.registry import advertise_step


def up_steps(cfg: Config, provider: Provider, skip_stack: bool = False) -> list[Step]:
    steps = provider.cluster_steps()
    steps += prerequisite_steps(cfg, provider.ingress_address(), provider.bundled_local_path())
    steps += advertise_step(provider.registry_hosting())
    if cfg.stack.enabled and not skip_stack and cfg.stack.releases:
        from devcluster.stages.stack import stack_steps

        steps += stack_steps(cfg)
    names = [s.name for s in steps]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise AssertionError(f"duplicate step names: {duplicates}")
    return steps


def stack_install_steps(cfg: Config, provider: Provider) -> list[Step]:
    """`stack install`: the cluster must already be there; only the stack's steps do work."""
    from devcluster.stages.stack import stack_steps

    return provider.access_steps() + stack_steps(cfg)


def verify_steps(cfg: Config, provider: Provider) -> list[Step]:
    """`stack verify`: the cluster must be there; the stack's verify steps (ping, CRDs, sample, job)."""
    from devcluster.stages.stack import stack_steps

    names = ("operator-token", "verify", "verify-job")
    return provider.access_steps() + [s for s in stack_steps(cfg) if s.name in names]
