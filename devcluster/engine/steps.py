"""`up` as an ordered list of named, idempotent steps.

Each step knows how to tell whether it is already done, so a re-run on a
ready cluster only checks; ``--from`` resumes after a failure; ``--dry-run``
prints what each step would do without touching anything. After a step runs
its check is asked again, so a command that "succeeded" without doing its
job (kind --wait exits 0 on timeout) is still caught here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from devcluster.engine.events import Observer, StepEvent, ignore
from devcluster.errors import ConfigError, DevclusterError, StepError, expected_errors

if TYPE_CHECKING:  # types only: the engine runs steps without knowing what they touch
    from devcluster.clients.access import ClusterAccess
    from devcluster.clients.kube import Kube
    from devcluster.config import Config
    from devcluster.local.state import State


class Target(Protocol):
    """The little the engine uses of the cluster's provider: a name for the plan's title and the access its
    API client is made from. The engine declares it, so it never depends on the providers that fill it."""

    @property
    def name(self) -> str: ...

    def access(self) -> ClusterAccess: ...


# Steps are written against the whole provider interface; the engine itself needs only a Target.
P = TypeVar("P", bound=Target)


@dataclass
class Context(Generic[P]):
    config: Config
    state: State
    console: Console
    provider: P
    dry_run: bool = False
    assume_yes: bool = False
    # The command line that resumes this run (`--from STEP` is appended): the provider and cluster options
    # the run used, so the hint never silently switches to the default provider.
    resume_command: str = "devcluster up"
    _kube: Kube | None = field(default=None, repr=False)

    def kube(self) -> Kube:
        """The API client, built on first use: the cluster may not exist when the context is made."""
        if self._kube is None:
            from devcluster.clients.kube import Kube

            self._kube = Kube(self.provider.access())
        return self._kube

    def echo(self, line: str) -> None:
        """One line of a long command's output, shown dimmed under the step."""
        self.console.print(f"  [dim]{escape(line)}[/dim]", highlight=False)

    def reset_kube(self) -> None:
        self._kube = None


@dataclass
class Step:
    name: str
    summary: str
    action: Callable[[Context[Any]], None]
    check: Callable[[Context[Any]], bool] | None = None
    hint: str = ""
    # A step that establishes that the cluster exists and answers (a provider's kubeconfig/target step):
    # `--from` never skips it, since every later step would act on a cluster that may not be there.
    gate: bool = False

    def is_done(self, ctx: Context) -> bool:
        return self.check(ctx) if self.check is not None else False


@dataclass
class Outcome:
    name: str
    status: str  # "done", "ran", "would run"
    seconds: float


def plan_table(steps: list[Step], title: str) -> Table:
    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("what it does")
    for i, step in enumerate(steps, 1):
        table.add_row(str(i), step.name, step.summary)
    return table


def select(steps: list[Step], start_from: str | None) -> list[Step]:
    if start_from is None:
        return steps
    names = [s.name for s in steps]
    if start_from not in names:
        raise ConfigError(f"--from {start_from}: no such step", "steps: " + ", ".join(names))
    return steps[names.index(start_from) :]


def gates_before(steps: list[Step], start_from: str | None) -> list[Step]:
    """The gate steps ``--from`` would skip: they still run."""
    skipped = steps[: len(steps) - len(select(steps, start_from))]
    return [s for s in skipped if s.gate]


def pass_gate(step: Step, ctx: Context, start_from: str) -> Outcome:
    """A gate before the resume point: its check must pass (a check-less gate runs its action, which only
    checks). It is never made here: the steps before it, which ``--from`` skips, may be what is missing."""
    start = time.monotonic()
    with ctx.console.status(f"{step.name}: checking"):
        if step.check is None:
            step.action(ctx)
        elif not step.is_done(ctx):
            raise StepError(
                f"--from {start_from} skips the steps that make the cluster, but step '{step.name}' is not done "
                f"({step.summary})",
                f"resume from an earlier step: {ctx.resume_command} --from {step.name}, or run "
                f"{ctx.resume_command} without --from")
    ctx.console.print(f"[green]✓[/green] {step.name} [dim](checked: --from never skips it)[/dim]")
    return Outcome(step.name, "done", time.monotonic() - start)


def failed(step: Step, exc: BaseException, ctx: Context) -> StepError:
    """Which step failed, why, and the command that resumes there."""
    hint = (step.hint + "; " if step.hint else "") + f"then resume with: {ctx.resume_command} --from {step.name}"
    detail = str(exc)
    if isinstance(exc, DevclusterError) and exc.hint:
        hint = exc.hint + "; " + hint
        detail = exc.message
    return StepError(f"step '{step.name}' failed: {detail}", hint)


def _failure(observer: Observer, step: Step, ctx: Context, start: float, error: StepError) -> StepError:
    observer(StepEvent(step.name, "failure", time.monotonic() - start, error.message,
                       f"{ctx.resume_command} --from {step.name}"))
    return error


@contextmanager
def _reported(observer: Observer, step: Step, ctx: Context, start: float) -> Iterator[None]:
    """A gate and a step fail alike: the observer hears of it, and an expected error becomes the StepError
    that names the step and how to resume. Anything else is a bug: it reaches the CLI as one, with its traceback."""
    try:
        yield
    except StepError as exc:
        _failure(observer, step, ctx, start, exc)
        raise
    except expected_errors() as exc:
        raise _failure(observer, step, ctx, start, failed(step, exc, ctx)) from exc


def execute(steps: list[Step], ctx: Context, start_from: str | None = None,
            observer: Observer = ignore) -> list[Outcome]:
    chosen = select(steps, start_from)
    gates = gates_before(steps, start_from)
    outcomes: list[Outcome] = []
    if ctx.dry_run:
        ctx.console.print(plan_table(gates + chosen, f"dry run: {ctx.provider.name} cluster {ctx.config.name!r}"))
        ctx.console.print("[yellow]dry run: nothing was checked or changed[/yellow]")
        for s in gates + chosen:
            observer(StepEvent(s.name, "plan", detail=s.summary))
        return [Outcome(s.name, "would run", 0.0) for s in gates + chosen]
    for gate in gates:
        start = time.monotonic()
        with _reported(observer, gate, ctx, start):
            outcomes.append(pass_gate(gate, ctx, start_from or ""))
        observer(StepEvent(gate.name, "skip", outcomes[-1].seconds, "checked: --from never skips it"))
    for step in chosen:
        start = time.monotonic()
        with _reported(observer, step, ctx, start):
            with ctx.console.status(f"{step.name}: checking"):
                done = step.is_done(ctx)
            if done:
                outcomes.append(Outcome(step.name, "done", time.monotonic() - start))
                ctx.console.print(f"[green]✓[/green] {step.name} [dim](already done)[/dim]")
                observer(StepEvent(step.name, "skip", outcomes[-1].seconds, "already done"))
                continue
            ctx.console.print(f"[cyan]→[/cyan] {step.name}: {step.summary}")
            observer(StepEvent(step.name, "start", time.monotonic() - start, step.summary))
            step.action(ctx)
            if step.check is not None and not step.is_done(ctx):
                raise DevclusterError(f"{step.name} ran but its check still fails")
        elapsed = time.monotonic() - start
        outcomes.append(Outcome(step.name, "ran", elapsed))
        observer(StepEvent(step.name, "finish", elapsed, step.summary))
        ctx.console.print(f"[green]✓[/green] {step.name} [dim]({elapsed:.1f}s)[/dim]")
    return outcomes
