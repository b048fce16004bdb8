"""`devcluster stop` / `start`, and what the long-running commands share for `--output json`.

With `--output json` stdout carries only JSON Lines step events (reports/events.py) and everything meant
for a person goes to stderr, so a CI step can pipe stdout into `jq` and still show progress in its log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from devcluster.cli.common import (
    ConfigOpt,
    ProviderOpt,
    WaitLockOpt,
    app,
    changing,
    command_line,
    console,
    err_console,
    open_context,
    out,
)
from devcluster.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from devcluster.engine.events import Observer
    from devcluster.engine.steps import Context

OutputOpt = Annotated[str, typer.Option(
    "--output", "-o", help="text, or json: JSON Lines step events on stdout, human output on stderr.")]
KubernetesVersionOpt = Annotated[str | None, typer.Option(
    "--kubernetes-version", metavar="MINOR", help="Kubernetes minor: 1.30 (default), 1.31, 1.32 or 1.33 "
    "(overrides kubernetes_version).")]


def event_output(ctx: Context, output: str, command: str) -> tuple[Observer, Console]:
    """The observer execute() reports to, and the console for everything else the command prints."""
    from devcluster.engine.events import ignore

    if output not in ("text", "json"):
        raise ConfigError(f"--output {output}: expected text or json")
    if output == "text":
        return ignore, console
    from devcluster.reports.events import JsonLines

    ctx.console = err_console
    return JsonLines(out, command, ctx.config.name), err_console


def _run_lifecycle(verb: str, config_file: Path | None, provider: str | None, output: str,
                   wait_lock: float) -> None:
    from devcluster.engine.steps import execute


    resume = command_line([verb], config_file, provider, None, None)
    ctx = open_context(config_file, provider, resume_command=resume)
    observer, human = event_output(ctx, output, verb)
    lifecycle = ctx.provider.lifecycle()
    steps = lifecycle.stop_steps() if verb == "stop" else lifecycle.start_steps()
    with changing(ctx, wait_lock):
        outcomes = execute(steps, ctx, observer=observer)
    seconds = sum(o.seconds for o in outcomes)
    what = "stopped" if verb == "stop" else "running"
    human.print(f"[bold green]cluster {ctx.config.name!r} is {what}[/bold green] ({seconds:.0f}s)")


@app.command()
def stop(config_file: ConfigOpt = None, provider: ProviderOpt = None, output: OutputOpt = "text",
         wait_lock: WaitLockOpt = 0.0) -> None:
    """Stop the cluster's nodes, keeping everything: `devcluster start` (or `up`) brings it back.

    kind: docker stop the node containers; vagrant: vagrant halt, workers first. An existing cluster
    is refused (exit 2): devcluster did not make it.

    Example: devcluster stop && devcluster start
    """
    _run_lifecycle("stop", config_file, provider, output, wait_lock)


@app.command()
def start(config_file: ConfigOpt = None, provider: ProviderOpt = None, output: OutputOpt = "text",
          wait_lock: WaitLockOpt = 0.0) -> None:
    """Start a stopped cluster (also after a reboot), repair what the restart broke, wait for Ready nodes.

    kind: docker start the node containers (control planes first), re-export the kubeconfig when the
    API server's port moved, check every node's address; vagrant: vagrant up --no-provision, control
    planes first, with vagrant.retries tries, then the host-only network is checked. What was repaired
    is said; what cannot be repaired says the cluster must be recreated, and why.

    Example: devcluster start --output json
    """
    _run_lifecycle("start", config_file, provider, output, wait_lock)
