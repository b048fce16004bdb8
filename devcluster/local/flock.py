"""Waiting for an exclusive `flock`: the one retry loop behind the cluster lock and the hosts-file lock.

A blocking flock cannot be given a deadline, so the lock is tried without blocking and retried until
``wait_seconds`` have passed; the kernel drops a flock when its holder dies, so nothing stale is left.
"""

from __future__ import annotations

import errno
import fcntl
import time
from collections.abc import Callable

_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR)


def acquire(fd: int, wait_seconds: float, *, poll: float = 0.2, first_pause: float | None = None,
            on_busy: Callable[[], None] = lambda: None) -> bool:
    """Lock ``fd`` exclusively; False when another holder still has it after ``wait_seconds``.

    ``on_busy`` runs at every busy attempt (to name the holder, or announce the wait); the pause between
    attempts starts at ``first_pause`` (default ``poll``) and doubles up to ``poll``. An OSError other
    than "busy" (a file system without locks) is raised: waiting would not help.
    """
    deadline = time.monotonic() + wait_seconds
    pause = poll if first_pause is None else first_pause
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if exc.errno not in _BUSY:
                raise
        on_busy()
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, poll)
