"""The one place devcluster starts processes.

Why a single module: every external command gets an argument list (never a
shell string), a timeout, captured output and an error that names the
command; secrets passed on stdin never appear in logs; and tests can swap the
executable search path to point at recording fakes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devcluster.errors import CommandError, DevclusterError

DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def which(tool: str) -> str | None:
    return shutil.which(tool)


def require(tool: str, hint: str) -> str:
    """Resolve a tool on PATH or fail with an install hint before anything starts."""
    path = which(tool)
    if path is None:
        raise DevclusterError(f"`{tool}` was not found on PATH", hint)
    return path


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    hint: str | None = None,
    stream: bool = False,
) -> Result:
    """Run ``argv`` and return its output; raise CommandError on failure when ``check``.

    ``stream`` lets long commands (vagrant up, kind create) show their output
    live; the output is then not captured, so errors carry only the exit code.
    """
    args = [str(a) for a in argv]
    if not args:
        raise ValueError("empty command")
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            args,
            input=input_text,
            capture_output=not stream,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError as exc:
        raise DevclusterError(f"`{args[0]}` was not found", hint or f"install {args[0]} and retry") from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        err = exc.stderr if isinstance(exc.stderr, str) else ""
        raise CommandError(args, None, out, err, hint=hint, timed_out=True) from exc
    result = Result(args, proc.returncode, proc.stdout or "", proc.stderr or "")
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, result.stdout, result.stderr, hint=hint)
    return result
