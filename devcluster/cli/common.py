"""What every command shares: the app, output that survives a closed pipe, the options that pick a
cluster, and the one path from options to a context (config -> provider -> context).

A leaf of the package: command modules import from here, nothing here imports a command module.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from devcluster import __version__

if TYPE_CHECKING:  # loaded by the commands that use them: `--help` stays fast (docs/performance.md)
    from rich.console import Console

    from devcluster import config
    from devcluster.engine.steps import Context


class _ClosableStdout:
    """stdout that goes quiet when the reader goes away (`devcluster plan | head`).

    A closed pipe must not turn into exit code 1 or abort a run half-way: the work goes on and only the
    output is dropped, so the exit code still says whether the command did its job.
    """

    closed_by_reader = False

    def write(self, text: str) -> int:
        if not self.closed_by_reader:
            try:
                return sys.stdout.write(text)
            except BrokenPipeError:
                self.closed_by_reader = True
                _silence_stdout()
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_reader:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                self.closed_by_reader = True
                _silence_stdout()

    def isatty(self) -> bool:
        return sys.stdout.isatty()

    def fileno(self) -> int:
        return sys.stdout.fileno()


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class _LazyConsole:
    """A rich Console made on first use: importing rich costs more than `--help` may take.

    Not on a terminal (a pipe, a CI log) nothing is hard-wrapped: rich would otherwise break every line at
    80 columns, splitting commands and URLs mid-word. On a terminal, prose wraps; commands a user should
    copy are printed with ``soft_wrap=True`` (one line, however wide).
    """

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _get(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            try:
                terminal = stream.isatty()
            except (AttributeError, ValueError):
                terminal = False
            self._console = Console(stderr=True, highlight=False, soft_wrap=not terminal) if self._stderr else \
                Console(file=_stdout, highlight=False, soft_wrap=not terminal)  # type: ignore[arg-type]
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


def escape(text: str) -> str:
    """Print ``text`` as it is, even when it holds [brackets] rich would read as markup."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


_stdout = _ClosableStdout()
console: Console = _LazyConsole(stderr=False)  # type: ignore[assignment]
err_console: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]


def out(text: str) -> None:
    """Machine-readable output (paths, YAML, JSON, hosts lines) exactly as given: no wrapping, no markup."""
    _stdout.write(text if text.endswith("\n") else text + "\n")
    _stdout.flush()


app = typer.Typer(
    name="devcluster",
    help="One command for a throw-away Kubernetes cluster with the Forail platform installed.\n\n"
    "Quick start: devcluster up --provider kind, then devcluster e2e; devcluster down when done. "
    "Settings live in ./devcluster.yaml (see docs/configuration.md).",
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (default ./devcluster.yaml).")]
ProviderOpt = Annotated[str | None, typer.Option("--provider", "-p",
                                                  help="kind | vagrant | existing (overrides the config).")]
KubeconfigOpt = Annotated[Path | None, typer.Option(
    "--kubeconfig", help="Kubeconfig of an existing cluster (implies --provider existing).")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Context in --kubeconfig to use.")]
YesOpt = Annotated[bool, typer.Option(
    "--yes", "-y", help="Connect to an existing cluster that is not local or private (refused otherwise).")]
WaitLockOpt = Annotated[float, typer.Option(
    "--wait-lock", metavar="SECONDS",
    help="When another devcluster run is changing this cluster, wait up to SECONDS for it (default: fail at once).")]


ImageTagOpt = Annotated[str | None, typer.Option(
    "--image-tag", metavar="TAG",
    help="Forail backend and frontend image tag (overrides stack.image_tag), e.g. a build loaded with "
         "`devcluster image load`.")]
BackendTagOpt = Annotated[str | None, typer.Option(
    "--backend-tag", metavar="TAG", help="Forail backend image tag only (overrides stack.image_tags.backend).")]
FrontendTagOpt = Annotated[str | None, typer.Option(
    "--frontend-tag", metavar="TAG", help="Forail frontend image tag only (overrides stack.image_tags.frontend).")]


def image_tag_overrides(image_tag: str | None, backend_tag: str | None, frontend_tag: str | None
                        ) -> tuple[dict[str, str | None], list[str]]:
    """The config overrides of the image-tag options, and the same options for a resume command."""
    overrides = {"stack.image_tag": image_tag, "stack.image_tags.backend": backend_tag,
                 "stack.image_tags.frontend": frontend_tag}
    argv: list[str] = []
    for flag, value in (("--image-tag", image_tag), ("--backend-tag", backend_tag),
                        ("--frontend-tag", frontend_tag)):
        if value:
            argv += [flag, value]
    return overrides, argv


def load_config(config_file: Path | None, provider: str | None = None, kubeconfig: Path | None = None,
                context: str | None = None, extra: dict[str, Any] | None = None) -> config.Config:
    from devcluster import config

    if provider is None and (kubeconfig is not None or context is not None):
        provider = "existing"
    overrides: dict[str, Any] = {"provider": provider, **(extra or {})}
    if kubeconfig is not None:
        overrides["existing.kubeconfig"] = str(kubeconfig)
    if context is not None:
        overrides["existing.context"] = context
    cfg = config.load(config_file, overrides)
    for warning in config.warnings(cfg):
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    return cfg


def make_context(cfg: config.Config, dry_run: bool = False, assume_yes: bool = False,
                 resume_command: str = "devcluster up") -> Context:
    from devcluster.engine.steps import Context
    from devcluster.local.state import State
    from devcluster.providers import get_provider

    # The state dir is made by the first write into it (0700), so read-only commands leave no trace.
    state = State(cfg.state_path)
    return Context(cfg, state, console, get_provider(cfg, state), dry_run=dry_run, assume_yes=assume_yes,
                   resume_command=resume_command)


def open_context(config_file: Path | None = None, provider: str | None = None, kubeconfig: Path | None = None,
                 context: str | None = None, *, dry_run: bool = False, assume_yes: bool = False,
                 resume_command: str = "devcluster up", extra: dict[str, Any] | None = None,
                 connects: bool = False) -> Context:
    """The one way a command gets from its options to a cluster context: config, then provider.

    ``connects``: the command talks to the cluster, so a non-local one is refused here, before any
    connection (kubernetes client, helm or a test suite), unless ``assume_yes``.
    """
    cfg = load_config(config_file, provider, kubeconfig, context, extra)
    ctx = make_context(cfg, dry_run=dry_run, assume_yes=assume_yes, resume_command=resume_command)
    if connects:
        ctx.provider.refuse_unsafe_target(assume_yes)
    return ctx


@contextlib.contextmanager
def changing(ctx: Context, wait_lock: float) -> Iterator[None]:
    """Hold the cluster's lock while a command changes it (see clusterlock)."""
    from devcluster.local.clusterlock import cluster_lock
    from devcluster.local.state import prepare_writable

    prepare_writable(ctx.state.root)

    def say(line: str) -> None:
        err_console.print(escape(line), highlight=False)

    with cluster_lock(ctx.state.root, ctx.config.name, wait_lock, say):
        yield


def command_line(command: list[str], config_file: Path | None, provider: str | None, kubeconfig: Path | None,
                 context: str | None, yes: bool = False, extra: list[str] | None = None) -> str:
    """The command as the user would re-type it, with the options that pick the cluster."""
    argv = ["devcluster", *command]
    if provider is not None:
        argv += ["--provider", provider]
    if config_file is not None:
        argv += ["--config", str(config_file)]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    if context is not None:
        argv += ["--context", context]
    if yes:
        argv.append("--yes")
    return shlex.join(argv + (extra or []))


def _version_callback(value: bool) -> None:
    if value:
        out(f"devcluster {__version__}")
        raise typer.Exit()


DEBUG_ENV = "DEVCLUSTER_DEBUG"


def debugging() -> bool:
    """Whether errors show their traceback: `--debug` (a global option, before the command) or DEVCLUSTER_DEBUG=1."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes")


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Print the traceback of an error (or set DEVCLUSTER_DEBUG=1).")] = False,
) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"  # also seen by anything this run starts that is devcluster too
