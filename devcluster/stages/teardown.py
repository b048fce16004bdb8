"""What `down` does: remove each part of a cluster on its own, and purge its state only when all went.

One part failing (kind is missing, the hosts file is not writable) must not keep the others: each failure
is collected, in words, and the caller reports them all at the end. The state dir (generated secrets, the
kubeconfig) is the only record of a cluster that may still exist, so it is purged only when nothing failed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

from devcluster.engine.events import Observer, ignore, reported
from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError
from devcluster.local import hosts, pushed_images


@dataclass
class Teardown:
    done: list[str] = field(default_factory=list)  # what was removed, one line each
    problems: list[str] = field(default_factory=list)  # what was not, and why


def take_down(ctx: Context, observer: Observer = ignore, purge_registry: bool = False) -> Teardown:
    """Delete the cluster and remove its hosts block (with ``purge_registry`` also the local registry and
    the pull-through caches, with their volumes); the caller holds the cluster's lock. Each part is told
    to ``observer`` (`down --output json`) as a step of its own."""
    cfg = ctx.config
    result = Teardown()
    with reported(observer, "delete-cluster", f"delete the {cfg.provider} cluster {cfg.name!r}", result.problems):
        try:
            ctx.provider.down(ctx)
        except DevclusterError as exc:
            result.problems.append(f"the {cfg.provider} cluster {cfg.name!r} was not deleted: {exc.message}"
                                   + (f" ({exc.hint})" if exc.hint else ""))
    if cfg.hosts.manage:
        hf = hosts.hosts_file_for(cfg, ctx.state.root)
        with reported(observer, "hosts", f"remove the devcluster {cfg.name} block from {hf.path}", result.problems):
            try:
                if hf.remove(cfg.name):
                    result.done.append(f"removed the devcluster {cfg.name} block from {hf.path}")
            except DevclusterError as exc:
                result.problems.append(f"the hosts block in {hf.path} was not removed: {exc.message}")
    kept = ctx.provider.registry_containers()
    if kept and not purge_registry:  # shared with every cluster here, and their data is the point: say what stays
        result.done.append(f"kept {', '.join(c.name for c in kept)} (shared by every cluster on this machine; "
                           "`devcluster down --purge-registry` removes them and their data)")
    if purge_registry:
        from devcluster.providers.registry_steps import remove_containers

        with reported(observer, "purge-registry", "remove the local registry and the caches, with their volumes",
                      result.problems):
            try:
                result.done += [f"removed {item}" for item in remove_containers(cfg, purge=True)]
                pushed_images.forget(ctx.state)  # the stack's values must not name images that are gone
            except DevclusterError as exc:
                result.problems.append(f"the registry was not removed: {exc.message}")
    return result


def purge(ctx: Context, result: Teardown, observer: Observer = ignore) -> None:
    """Delete the state dir after ``take_down`` (its lock released), unless something was left behind."""
    if result.problems:
        result.problems.append(f"kept {ctx.state.root} (--purge) because the cluster may still exist")
        return
    with reported(observer, "purge", f"delete {ctx.state.root}", result.problems):
        shutil.rmtree(ctx.state.root, ignore_errors=True)
    result.done.append(f"deleted {ctx.state.root}")
