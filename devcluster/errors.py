"""Errors that reach the user.

Every failure devcluster reports says what failed and what to try next, so
the CLI can print it without a traceback. Exit codes follow the usual CLI
convention: 2 for bad input (nothing was touched), 1 for everything else.
"""

from __future__ import annotations


class DevclusterError(Exception):
    """A failure with a hint: the CLI prints both and exits with ``exit_code``."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(DevclusterError):
    """Bad configuration or command-line input; raised before anything is changed."""

    exit_code = 2


class CommandError(DevclusterError):
    """An external command failed or timed out; names the command and keeps its output."""

    def __init__(
        self,
        argv: list[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
        hint: str | None = None,
        timed_out: bool = False,
    ) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        shown = " ".join(argv)
        message = f"command timed out: {shown}" if timed_out else f"command failed (exit {returncode}): {shown}"
        tail = (stderr or stdout).strip().splitlines()[-15:]
        if tail:
            message += "\n    " + "\n    ".join(tail)
        super().__init__(message, hint)


class StepError(DevclusterError):
    """A step of `up` failed: says which one and how to resume."""


# The failures of the outside world a caller may expect and handle: the API (kubernetes' ApiException and
# its config errors), the network (urllib3, websockets of the exec API, SSH), the OS (files, sockets,
# processes; ConnectionError and TimeoutError are OSErrors) and devcluster's own errors (the runner's
# timeouts are CommandErrors). Anything else is a bug, and must reach the user as one.
_EXPECTED_ELSEWHERE = (
    ("kubernetes.client.exceptions", "ApiException"),
    ("kubernetes.config.config_exception", "ConfigException"),
    ("urllib3.exceptions", "HTTPError"),
    ("websocket._exceptions", "WebSocketException"),
    ("paramiko.ssh_exception", "SSHException"),
)


def expected_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean "the outside world failed", not "devcluster has a bug".

    Read from modules already imported, never importing them: an exception of a module nobody loaded
    cannot be raised, and importing the kubernetes client costs a second (docs/performance.md).
    Usable directly in an ``except`` clause, which evaluates it only when something was raised.
    """
    import subprocess
    import sys

    found: list[type[BaseException]] = [DevclusterError, OSError, subprocess.TimeoutExpired]
    for module, name in _EXPECTED_ELSEWHERE:
        loaded = sys.modules.get(module)
        cls = getattr(loaded, name, None) if loaded is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)
