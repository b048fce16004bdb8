"""One devcluster run at a time edits a hosts file: a flock on the directory that holds it.

Any user who can read the directory can lock it, whoever locked it before (a lock file left by
``sudo devcluster`` would be root's); its inode survives our atomic replaces; and nothing is left
behind in /tmp. The waiting is local/flock.py's, shared with the cluster lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from devcluster.errors import DevclusterError
from devcluster.local import flock


@contextlib.contextmanager
def locked(target: str, timeout: float) -> Iterator[None]:
    """Hold the lock on ``target``'s directory for the body; fail after ``timeout`` seconds of waiting."""
    directory = os.path.dirname(target) or "."
    hint = (f"devcluster locks {directory} while it edits {target}; make that directory readable for you, "
            "or point --hosts-file at a file in a directory you can read")
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise DevclusterError(f"cannot lock {directory} to edit {target}: {exc.strerror}", hint) from exc
    try:
        try:
            got = flock.acquire(fd, timeout, poll=0.05, first_pause=0.001)
        except OSError as exc:
            raise DevclusterError(f"cannot lock {directory} to edit {target}: {exc.strerror}", hint) from exc
        if not got:
            raise DevclusterError(
                f"gave up after {timeout:g}s waiting for the lock on {directory} to edit {target}",
                "another devcluster run is editing it (perhaps waiting for a sudo password): "
                f"let it finish and retry; `fuser -v {directory}` shows who holds it",
            )
        yield
    finally:
        os.close(fd)  # also releases the lock
