"""One writer per cluster: commands that change a cluster hold a lock in its state dir.

Two `devcluster up` runs on the same cluster race inside helm (`release: already
exists`) and can leave a release half-installed, so the second run either waits
for the first or stops at once, naming who holds the lock. The lock is an
advisory `flock` on a file in the state dir: the kernel drops it when its holder
dies, so a crashed run never leaves a lock that blocks the next one; the holder's
details written next to it are only for the message and are overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devcluster.errors import DevclusterError
from devcluster.local import flock
from devcluster.local.state import ensure_dir

LOCK_FILE = "cluster.lock"
# The state dirs whose lock this process holds: work that is only safe when no other devcluster run can be
# changing the cluster (recovering what a dead run left half-done) asks `held()`.
_held: set[Path] = set()


def held(state_root: Path) -> bool:
    """Whether this process holds the lock of the cluster whose state dir is ``state_root``."""
    return state_root.resolve() in _held


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(info: dict[str, Any], now: float | None = None) -> str:
    if not info:
        return "another devcluster process"
    since = info.get("since", 0.0)
    age = int((now if now is not None else time.time()) - since)
    started = time.strftime("%H:%M:%S", time.localtime(since))
    return f"pid {info.get('pid', '?')} (`{info.get('command', '?')}`, since {started}, {age}s ago)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def cluster_lock(state_root: Path, cluster: str, wait_seconds: float = 0.0,
                 say: Callable[[str], None] = lambda _line: None,
                 command: str | None = None, poll: float = 0.2) -> Iterator[None]:
    """Hold the cluster's lock for the body; wait up to ``wait_seconds`` for another holder, then fail."""
    ensure_dir(state_root)
    path = state_root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        seen: list[str] = []

        def busy() -> None:
            if not seen and wait_seconds > 0:
                say(f"waiting up to {wait_seconds:.0f}s for {describe_holder(_holder(path))} to release cluster "
                    f"{cluster!r}")
            seen.append("busy")

        if not flock.acquire(fd, wait_seconds, poll=poll, on_busy=busy):
            raise DevclusterError(
                f"cluster {cluster!r} is busy: {describe_holder(_holder(path))} holds its lock ({path})",
                "wait for that run to finish, or re-run with --wait-lock SECONDS to wait for it",
            )
        # A holder that finished cleared its details; details still there mean it died holding the lock.
        previous = _holder(path)
        if previous.get("pid") and not _pid_alive(int(previous["pid"])):
            say(f"took over the lock of cluster {cluster!r} left by {describe_holder(previous)}, which has exited")
        info = {"pid": os.getpid(), "command": command or shlex.join(["devcluster", *sys.argv[1:]]),
                "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _held.add(state_root.resolve())
        try:
            yield
        finally:
            _held.discard(state_root.resolve())
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
