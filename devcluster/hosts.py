"""A managed, reversible block in /etc/hosts.

devcluster owns only the lines between ``# BEGIN devcluster <cluster>`` and
``# END devcluster <cluster>``: everything else in the file survives byte for
byte. Writes are atomic (temp file + rename, mode and owner kept) with a
backup, serialised by a lock so concurrent runs cannot interleave, and fall
back to sudo only when the file is not writable by us.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devcluster import runner
from devcluster.config import valid_hostname
from devcluster.errors import ConfigError, DevclusterError

MDNS_WARNING = (
    "{host} ends in .local and /etc/nsswitch.conf consults mdns_minimal [NOTFOUND=return] before files: "
    "lookups of {host} never reach /etc/hosts. Use a .lan name (the default forail.lan)."
)


def begin_marker(cluster: str) -> str:
    return f"# BEGIN devcluster {cluster}"


def end_marker(cluster: str) -> str:
    return f"# END devcluster {cluster}"


@dataclass(frozen=True)
class Entry:
    ip: str
    hostnames: tuple[str, ...]


def validate_entry(ip: str, hostnames: list[str] | tuple[str, ...]) -> Entry:
    try:
        ipaddress.ip_address(ip)
    except ValueError as exc:
        raise ConfigError(f"{ip!r} is not a valid IP address") from exc
    if not hostnames:
        raise ConfigError("at least one hostname is required")
    for name in hostnames:
        if not valid_hostname(name):
            raise ConfigError(f"{name!r} is not a valid hostname")
    return Entry(ip, tuple(h.lower() for h in hostnames))


def _split(text: str, cluster: str) -> tuple[str, str | None, str]:
    """Return (before, block, after); block includes both markers and their newlines."""
    begin, end = begin_marker(cluster), end_marker(cluster)
    pattern = re.compile(
        r"(?m)^" + re.escape(begin) + r"[ \t]*\r?\n(?:.*\r?\n)*?" + re.escape(end) + r"[ \t]*(?:\r?\n|\Z)"
    )
    m = pattern.search(text)
    if not m:
        if re.search(r"(?m)^" + re.escape(begin) + r"[ \t]*$", text):
            raise DevclusterError(
                f"the hosts file has '{begin}' without a matching '{end}'",
                "fix the file by hand; devcluster will not guess where its block ends",
            )
        return text, None, ""
    return text[: m.start()], m.group(0), text[m.end() :]


def render_block(cluster: str, entries: list[Entry]) -> str:
    lines = [begin_marker(cluster)]
    lines += [f"{e.ip}\t{' '.join(e.hostnames)}" for e in entries]
    lines.append(end_marker(cluster))
    return "\n".join(lines) + "\n"


def with_block(text: str, cluster: str, entries: list[Entry]) -> str:
    """``text`` with this cluster's block replaced (or appended); nothing else changes."""
    before, block, after = _split(text, cluster)
    new_block = render_block(cluster, entries)
    if block is not None:
        return before + new_block + after
    if text and not text.endswith("\n"):
        return text + "\n" + new_block
    return text + new_block


def without_block(text: str, cluster: str) -> str:
    before, block, after = _split(text, cluster)
    if block is None:
        return text
    return before + after


def read_block(text: str, cluster: str) -> list[Entry]:
    _, block, _ = _split(text, cluster)
    if block is None:
        return []
    entries = []
    for line in block.splitlines()[1:-1]:
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            entries.append(Entry(parts[0], tuple(parts[1:])))
    return entries


def mdns_hijacks(hostname: str, nsswitch: Path = Path("/etc/nsswitch.conf")) -> bool:
    """True when .local lookups for ``hostname`` are answered by mDNS before /etc/hosts is read."""
    if not hostname.lower().endswith(".local"):
        return False
    try:
        text = nsswitch.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("hosts:"):
            continue
        words = line[len("hosts:") :].split()
        for i, word in enumerate(words):
            if word == "files":
                return False
            if re.fullmatch(r"mdns[46]?_minimal", word) and words[i + 1 : i + 2] == ["[NOTFOUND=return]"]:
                return True
        return False
    return False


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise devcluster runs editing the same file (a lock beside it would need root too)."""
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    lock = Path(tempfile.gettempdir()) / f"devcluster-hosts-{digest}.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class HostsFile:
    """Reads and rewrites one hosts file; ``backup_dir`` keeps the last copies before each change."""

    def __init__(self, path: Path, backup_dir: Path, use_sudo: bool | None = None) -> None:
        self.path = path
        self.backup_dir = backup_dir
        self.use_sudo = use_sudo
        self.messages: list[str] = []

    def read(self) -> str:
        try:
            with open(self.path, newline="") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""

    def show(self, cluster: str) -> list[Entry]:
        return read_block(self.read(), cluster)

    def add(self, cluster: str, entries: list[Entry]) -> bool:
        """Make the block hold exactly ``entries``; returns whether the file changed."""
        with _locked(self.path):
            text = self.read()
            new = with_block(text, cluster, entries)
            return self._write_if_changed(text, new)

    def remove(self, cluster: str) -> bool:
        with _locked(self.path):
            text = self.read()
            return self._write_if_changed(text, without_block(text, cluster))

    # ------------------------------------------------------------------ writing

    def _needs_sudo(self) -> bool:
        if self.use_sudo is not None:
            return self.use_sudo
        target = self.path if self.path.exists() else self.path.parent
        return not (os.access(target, os.W_OK) and os.access(self.path.parent, os.W_OK))

    def _backup(self, text: str) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = self.backup_dir / f"{self.path.name}.{stamp}.{os.getpid()}"
        dest.write_text(text)
        os.chmod(dest, 0o600)
        backups = sorted(self.backup_dir.glob(f"{self.path.name}.*"), key=lambda p: p.stat().st_mtime)
        for old in backups[:-10]:
            old.unlink(missing_ok=True)

    def _write_if_changed(self, old: str, new: str) -> bool:
        if old == new:
            return False
        self._backup(old)
        if self._needs_sudo():
            self._write_with_sudo(new)
        else:
            self._write_atomic(new)
        return True

    def _write_atomic(self, text: str) -> None:
        st = self.path.stat() if self.path.exists() else None
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.devcluster.")
        try:
            with os.fdopen(fd, "w", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            mode = (st.st_mode & 0o7777) if st else 0o644
            os.chmod(tmp, mode)
            if st is not None and os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
            try:
                os.replace(tmp, self.path)
            except OSError:
                # A bind-mounted file (containers) cannot be replaced: rewrite
                # it in place, still under the lock.
                with open(self.path, "w", newline="") as fh:
                    fh.write(text)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _write_with_sudo(self, text: str) -> None:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise DevclusterError(
                f"{self.path} is not writable and sudo is not available",
                f"run as a user that can write {self.path}, or use --hosts-file / hosts.manage: false",
            )
        self.messages.append(f"{self.path} is not writable by you: using sudo to update it")
        st = self.path.stat()
        fd, tmp = tempfile.mkstemp(prefix="devcluster-hosts.")
        try:
            with os.fdopen(fd, "w", newline="") as fh:
                fh.write(text)
            staged = f"{self.path}.devcluster-new"
            runner.run(
                [sudo, "install", "-m", oct(st.st_mode & 0o7777)[2:], "-o", str(st.st_uid), "-g",
                 str(st.st_gid), tmp, staged],
                timeout=120,
            )
            try:
                runner.run([sudo, "mv", "-f", staged, str(self.path)], timeout=60)
            except DevclusterError:
                runner.run([sudo, "cp", staged, str(self.path)], timeout=60)
                subprocess.run([sudo, "rm", "-f", staged], check=False)
        finally:
            os.unlink(tmp)
