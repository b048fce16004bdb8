"""The `devcluster` command line: a leaf on top of the package.

Commands only parse options, build the context (cli/common.py) and hand over to the modules that do the
work; every DevclusterError is printed with its hint and turned into an exit code (2 for bad input,
1 otherwise) instead of a traceback. Anything else is a bug: one line says so (exit 1), and `--debug` (or
DEVCLUSTER_DEBUG=1) prints the traceback, of a bug and of every error. Each command group lives in its own
module and registers itself on the app when imported here.
"""

from __future__ import annotations

import os
import sys

# Plain click help: rich-rendered help costs ~250 ms per `--help` (docs/performance.md).
# TYPER_USE_RICH=1 brings the panels back.
os.environ.setdefault("TYPER_USE_RICH", "0")

from devcluster.cli import cluster, hosts, lifecycle, nodes, stack  # noqa: F401  (register their commands)
from devcluster.cli.common import _silence_stdout, app, debugging, err_console, escape
from devcluster.errors import DevclusterError, expected_errors

__all__ = ["app", "main"]


def main() -> None:
    """Standalone click handles usage errors, --help and typer.Exit codes; devcluster's own errors end here."""
    try:
        app()
    except DevclusterError as exc:
        if debugging():
            _traceback(exc)
        # soft_wrap: messages and hints carry commands to copy (the resume command) and paths, one line each.
        err_console.print(f"[bold red]error:[/bold red] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"[yellow]hint:[/yellow] {escape(exc.hint)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted: re-run `devcluster up` (steps are idempotent) or use --from", soft_wrap=True)
        sys.exit(130)
    except BrokenPipeError:
        # The reader of our output went away (`| head`): nothing is wrong with the command itself.
        _silence_stdout()
        sys.exit(0)
    except Exception as exc:  # the outermost frame: whatever no layer below expected
        if debugging():
            _traceback(exc)
            sys.exit(1)
        what = (f"{type(exc).__name__} that no step handled" if isinstance(exc, expected_errors())
                else f"a bug in devcluster ({type(exc).__name__})")
        err_console.print(f"[bold red]error:[/bold red] {escape(what)}: {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
        err_console.print("[yellow]hint:[/yellow] re-run with `devcluster --debug ...` (or DEVCLUSTER_DEBUG=1) "
                          "for the traceback, and report it", highlight=False, soft_wrap=True)
        sys.exit(1)


def _traceback(exc: BaseException) -> None:
    import traceback

    sys.stderr.write("".join(traceback.format_exception(exc)))
    sys.stderr.flush()
