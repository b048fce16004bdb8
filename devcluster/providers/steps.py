"""The steps every provider builds the same way: the cluster answers, all its nodes are Ready, and after a
start the API server answers again.

Functions of the provider, not methods of its interface: base.py says what a provider is, this module
what the providers share.
"""

from __future__ import annotations

from devcluster.engine.steps import Context, Step
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError
from devcluster.providers.base import Provider


def kubeconfig_reachable(ctx: Context[Provider]) -> bool:
    """The check of a provider's `kubeconfig` step: the file is there and its API server answers."""
    return ctx.provider.state.kubeconfig.is_file() and ctx.kube().reachable()[0]


def reachable_step(provider: Provider) -> Step:
    """For `stack install` on a cluster `up` made: it must be there and answer; nothing is created."""
    def fail(ctx: Context[Provider]) -> None:
        kubeconfig = provider.state.kubeconfig
        detail = ctx.kube().reachable()[1] if kubeconfig.is_file() else f"no kubeconfig at {kubeconfig}"
        raise DevclusterError(f"{provider.name} cluster {provider.cfg.name!r} is not reachable: {detail}",
                              f"create it with `devcluster up --provider {provider.name}`")

    return Step("reachable", f"the {provider.name} cluster {provider.cfg.name!r} exists and its API answers", fail,
                kubeconfig_reachable, gate=True)


def nodes_ready_probe(ctx: Context[Provider], expected: int | None) -> tuple[bool, str]:
    ready, not_ready = ctx.kube().nodes_summary()
    total = len(ready) + len(not_ready)
    count_ok = expected is None or total >= expected
    detail = f"{len(ready)}/{expected if expected is not None else total} Ready"
    if not_ready:
        detail += f"; not ready: {', '.join(sorted(not_ready))}"
    return bool(ready) and not not_ready and count_ok, detail


def nodes_ready_step(provider: Provider) -> Step:
    """All nodes Ready, counted ourselves: `kind create --wait` only waits for control planes."""
    expected = provider.expected_nodes()

    def check(ctx: Context[Provider]) -> bool:
        ok, _ = ctx.kube().reachable()
        return ok and nodes_ready_probe(ctx, expected)[0]

    def act(ctx: Context[Provider]) -> None:
        ctx.reset_kube()
        wait_for(f"{expected or 'all'} nodes to be Ready", lambda: nodes_ready_probe(ctx, expected),
                 timeout=ctx.config.timeouts.nodes_ready, console=ctx.console,
                 hint="kubectl describe nodes; a CNI that is not running keeps nodes NotReady")

    return Step("nodes-ready", f"wait until all {expected or ''} nodes are Ready".replace("  ", " "), act, check)


# What a start cannot repair: the way out both providers name.
RECREATE = "devcluster down, then devcluster up (the state dir and generated secrets are kept)"


def wait_api(ctx: Context, hint: str) -> None:
    """Until the restarted API server answers (a new client: the kubeconfig may have just been rewritten)."""
    ctx.reset_kube()
    wait_for("the API server to answer", lambda: ctx.kube().reachable(), timeout=ctx.config.timeouts.nodes_ready,
             console=ctx.console, hint=f"{hint}; if it never answers: {RECREATE}")


def api_step(hint: str) -> Step:
    """The start steps' wait for the API server; ``hint``: where to look when it never answers."""
    return Step("api", "wait until the API server answers", lambda ctx: wait_api(ctx, hint), kubeconfig_reachable)
