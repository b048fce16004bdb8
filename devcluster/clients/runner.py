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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO

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


def _not_runnable(tool: str, exc: OSError, hint: str | None) -> DevclusterError:
    """A missing tool, or one behind a PATH entry this user may not read (PermissionError), is the same
    problem to the user: the command cannot be started."""
    detail = "" if isinstance(exc, FileNotFoundError) else " (or is not executable by this user)"
    return DevclusterError(f"`{tool}` was not found{detail}", hint or f"install {tool} and retry")


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    hint: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> Result:
    """Run ``argv`` and return its output; raise CommandError on failure when ``check``.

    ``echo`` receives each output line as it arrives (stderr merged into
    stdout), so long commands (vagrant up, kind create) show progress while
    their output is still captured for the error message.
    """
    args = [str(a) for a in argv]
    if not args:
        raise ValueError("empty command")
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    if echo is not None:
        return _run_echoing(args, timeout, check, input_text, full_env, cwd, hint, echo)
    try:
        proc = subprocess.run(
            args,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise _not_runnable(args[0], exc, hint) from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        err = exc.stderr if isinstance(exc.stderr, str) else ""
        raise CommandError(args, None, out, err, hint=hint, timed_out=True) from exc
    result = Result(args, proc.returncode, proc.stdout or "", proc.stderr or "")
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, result.stdout, result.stderr, hint=hint)
    return result


def _run_echoing(args: list[str], timeout: float, check: bool, input_text: str | None,
                 env: dict[str, str] | None, cwd: str | None, hint: str | None,
                 echo: Callable[[str], None]) -> Result:
    try:
        proc = subprocess.Popen(args, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=cwd)
    except (FileNotFoundError, PermissionError) as exc:
        raise _not_runnable(args[0], exc, hint) from exc
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            echo(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if input_text is not None and proc.stdin is not None:
        proc.stdin.write(input_text)
        proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        reader.join(5)
        raise CommandError(args, None, "".join(lines), "", hint=hint, timed_out=True) from exc
    reader.join(5)
    result = Result(args, proc.returncode, "".join(lines), "")
    if check and proc.returncode != 0:
        raise CommandError(args, proc.returncode, result.stdout, "", hint=hint)
    return result


def stream_stdout(argv: Sequence[str], consume: Callable[[IO[bytes]], None], *, timeout: float = 1800,
                  hint: str | None = None) -> None:
    """Run ``argv`` and hand its stdout, as a byte stream, to ``consume`` while it runs (`docker save`
    into an SSH channel); stderr is kept for the error. Raises CommandError when ``argv`` fails.

    ``timeout`` covers the whole run: a process that prints nothing and a consumer that stops reading
    (a wedged SSH channel) are both cut off at the deadline. So ``consume`` runs in its own thread; on
    timeout the process is killed and the caller's cleanup (closing the channel) ends the consumer.
    An exception ``consume`` raises is re-raised here with its traceback.
    """
    args = [str(a) for a in argv]
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (FileNotFoundError, PermissionError) as exc:
        raise _not_runnable(args[0], exc, hint) from exc
    assert proc.stdout is not None and proc.stderr is not None
    stdout = proc.stdout
    errors: list[bytes] = []
    failures: list[BaseException] = []
    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def feed() -> None:
        try:
            consume(stdout)
        except BaseException as exc:  # handed to the caller's thread below
            failures.append(exc)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        feeder.join(max(0.0, deadline - time.monotonic()))
        if feeder.is_alive():
            raise subprocess.TimeoutExpired(args, timeout)
        if failures:
            raise failures[0]
        stdout.close()
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.wait()
        raise CommandError(args, None, "", "", hint=hint, timed_out=True) from exc
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    reader.join(5)
    if proc.returncode != 0:
        raise CommandError(args, proc.returncode, "", b"".join(errors).decode(errors="replace"), hint=hint)


def interactive(argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None) -> int:
    """A command the user drives (a shell on a node): inherited terminal, no capture, no timeout."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        return subprocess.call([str(a) for a in argv], env=full_env, cwd=cwd)
    except (FileNotFoundError, PermissionError) as exc:
        raise _not_runnable(str(argv[0]), exc, None) from exc
