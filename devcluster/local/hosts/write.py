"""Putting new bytes into a hosts file without losing the old ones or breaking the file for a reader.

Three ways, in order of preference: an atomic replace (temp file + rename in the directory of the real
file, mode and owner kept), a rewrite in place when the file cannot be replaced (a bind mount, an
unwritable directory), and sudo when the file itself is not writable by us (staged beside the file, then
moved; every command through clients/runner.py). A backup of the old text comes first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devcluster.clients import runner
from devcluster.errors import DevclusterError
from devcluster.local.state import write_private, write_synced

# Hosts files are mostly ASCII, but a hand-written comment may be Latin-1 or
# anything else: surrogateescape carries undecodable bytes through unchanged.
ENCODING = "utf-8"
ERRORS = "surrogateescape"
KEEP_BACKUPS = 10


def needs_sudo(target: str, use_sudo: bool | None) -> bool:
    """Sudo only when we cannot write the file itself: an unwritable directory is worked around in place."""
    if use_sudo is not None:
        return use_sudo
    if os.path.exists(target):
        return not os.access(target, os.W_OK)
    return not os.access(os.path.dirname(target), os.W_OK)


def backup(backup_dir: Path, name: str, text: str) -> None:
    """Keep ``text`` (0600) as the newest of the last ``KEEP_BACKUPS`` copies of ``name``."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    write_private(backup_dir / f"{name}.{stamp}.{os.getpid()}", text.encode(ENCODING, ERRORS))
    backups = sorted(backup_dir.glob(f"{name}.*"), key=lambda p: p.stat().st_mtime)
    for old in backups[:-KEEP_BACKUPS]:
        old.unlink(missing_ok=True)


def cannot_write(target: str, exc: OSError) -> DevclusterError:
    return DevclusterError(f"cannot write {target}: {exc.strerror}",
                           f"run as a user that can write {target}, or use --hosts-file / hosts.manage: false")


def write_atomic(target: str, data: bytes) -> None:
    st = os.stat(target) if os.path.exists(target) else None
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.devcluster.")
    except OSError as exc:
        # The directory is not writable (a 0666 hosts file in root's /etc):
        # the file itself is, so rewrite it in place, still under the lock.
        if st is None:
            raise cannot_write(target, exc) from exc
        write_in_place(target, data)
        return
    try:
        write_synced(fd, data)
        os.chmod(tmp, (st.st_mode & 0o7777) if st else 0o644)
        if st is not None and os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        try:
            os.replace(tmp, target)
        except OSError:
            # A bind-mounted file (containers) cannot be replaced: rewrite
            # it in place, still under the lock.
            write_in_place(target, data)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_in_place(target: str, data: bytes) -> None:
    """Not atomic (a reader may see a mix for a moment), so only when replacing the file is impossible."""
    try:
        fd = os.open(target, os.O_WRONLY)
    except OSError as exc:
        raise cannot_write(target, exc) from exc
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    except OSError as exc:
        raise cannot_write(target, exc) from exc
    finally:
        os.close(fd)


def write_with_sudo(target: str, shown_path: Path, data: bytes, say: Callable[[str], None]) -> None:
    """``shown_path``: the path the user gave (``target`` is the file a symlink points to)."""
    sudo = shutil.which("sudo")
    if sudo is None:
        raise DevclusterError(
            f"{shown_path} is not writable and sudo is not available",
            f"run as a user that can write {target}, or use --hosts-file / hosts.manage: false",
        )
    shown = str(shown_path) if target == str(shown_path) else f"{shown_path} (a link to {target})"
    say(f"{shown} is not writable by you: using sudo to update it")
    st = os.stat(target) if os.path.exists(target) else None
    owner = ["-o", str(st.st_uid), "-g", str(st.st_gid)] if st else []
    mode = oct(st.st_mode & 0o7777)[2:] if st else "644"
    fd, tmp = tempfile.mkstemp(prefix="devcluster-hosts.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # Staged beside the real file so the final mv is a rename on one filesystem.
        staged = f"{target}.devcluster-new"
        runner.run([sudo, "install", "-m", mode, *owner, tmp, staged], timeout=120)
        try:
            runner.run([sudo, "mv", "-f", staged, target], timeout=60)
        except DevclusterError:
            runner.run([sudo, "cp", staged, target], timeout=60)
            runner.run([sudo, "rm", "-f", staged], timeout=60, check=False)  # best effort: the copy is in place
    finally:
        os.unlink(tmp)


def write(target: str, shown_path: Path, data: bytes, use_sudo: bool | None, say: Callable[[str], None]) -> None:
    """The best of the three ways this user has for ``target``."""
    if needs_sudo(target, use_sudo):
        write_with_sudo(target, shown_path, data, say)
    else:
        write_atomic(target, data)
