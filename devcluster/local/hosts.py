"""A managed, reversible block in /etc/hosts.

devcluster owns only the lines between ``# BEGIN devcluster <cluster>`` and
``# END devcluster <cluster>``: everything else in the file survives byte for
byte, so ``add`` then ``remove`` gives back the original file exactly (its line
endings, a missing final newline, bytes that are not UTF-8). Writes are atomic
(temp file + rename in the directory of the real file, so a symlinked
/etc/hosts stays a symlink; mode and owner kept) with a backup, serialised by a
lock on that directory so concurrent runs cannot interleave, and fall back to
sudo only when the file is not writable by us.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devcluster.clients import runner
from devcluster.config import Config, is_ip_address, valid_hostname
from devcluster.errors import ConfigError, DevclusterError

MDNS_WARNING = (
    "{host} ends in .local and /etc/nsswitch.conf consults mdns_minimal [NOTFOUND=return] before files: "
    "lookups of {host} never reach /etc/hosts. Use a .lan name (the default forail.lan)."
)

LOCAL_WARNING = (
    "{host} ends in .local: mDNS resolvers (macOS, and most Linux desktops through nss-mdns or "
    "systemd-resolved) answer .local names themselves before /etc/hosts is read, so on many laptops {host} "
    "will not reach the cluster even when its hosts entry is right. Use a .lan name instead "
    "(the default forail.lan)."
)

# Hosts files are mostly ASCII, but a hand-written comment may be Latin-1 or
# anything else: surrogateescape carries undecodable bytes through unchanged.
_ENCODING = "utf-8"
_ERRORS = "surrogateescape"


def begin_marker(cluster: str) -> str:
    return f"# BEGIN devcluster {cluster}"


def end_marker(cluster: str) -> str:
    return f"# END devcluster {cluster}"


def disabled_prefix(cluster: str) -> str:
    """Marks a user's line that ``add --force`` commented out, so ``remove`` can put it back exactly."""
    return f"# devcluster {cluster} disabled: "


@dataclass(frozen=True)
class Entry:
    ip: str
    hostnames: tuple[str, ...]


def validate_entry(ip: str, hostnames: list[str] | tuple[str, ...]) -> Entry:
    if not is_ip_address(ip):
        raise ConfigError(f"{ip!r} is not a valid IP address")
    if not hostnames:
        raise ConfigError("at least one hostname is required")
    for name in hostnames:
        # Checked before the label rule: "10.0.0.1" is made of valid labels, and the
        # generic "not a valid hostname" would hide that the two were swapped.
        if is_ip_address(name.strip("[]")):
            raise ConfigError(f"{name!r} is an IP address, not a hostname",
                              "give the address with --ip and a name such as forail.lan as the hostname")
        if not valid_hostname(name):
            raise ConfigError(f"{name!r} is not a valid hostname")
    return Entry(ip, tuple(h.lower() for h in hostnames))


def hostname_warnings(hostname: str, nsswitch: Path = Path("/etc/nsswitch.conf")) -> list[str]:
    """Risks of a valid name, said on every machine.

    A .local name may work here and still fail on a teammate's laptop whose
    resolver asks mDNS first, so the warning does not depend on this machine's
    nsswitch.conf; when this machine has the trap too, the warning says so.
    """
    name = hostname.lower().rstrip(".")
    if not (name == "local" or name.endswith(".local")):
        return []
    warning = LOCAL_WARNING.format(host=hostname)
    if mdns_hijacks(hostname, nsswitch):
        warning += (f" This machine has the trap too: {nsswitch} consults mdns_minimal [NOTFOUND=return] "
                    "before files.")
    return [warning]


def resolve(hostname: str) -> list[str]:
    """What the system resolver really answers (hosts file, mDNS, DNS...), for doctor to compare with the block."""
    try:
        infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# ---------------------------------------------------------------------- text


def line_ending(text: str) -> str:
    """The line ending most lines of ``text`` use (the first line's on a tie), so our block matches the file."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    if crlf != lf:
        return "\r\n" if crlf > lf else "\n"
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _block_eol(block: str) -> str:
    return "\r\n" if block.split("\n", 1)[0].endswith("\r") else "\n"


# The BEGIN marker of a block appended to a file without a final newline says so: devcluster ended the user's
# last line to start the block, and ``without_block`` takes that line ending back.
NEWLINE_NOTE = " (devcluster ended the line above)"

# After an END marker: the end of its line, or text glued onto it (`echo ... >> /etc/hosts` on a file whose block
# had no final newline) that cannot be the rest of a longer cluster name: that text is the user's own line.
_END_TAIL = r"(?:[ \t]*(?:\r?\n|\Z)|(?![a-z0-9-]*[ \t]*(?:\r?\n|\Z))(?=[^\r\n]))"


def _split(text: str, cluster: str) -> tuple[str, str | None, str]:
    """Return (before, block, after); block includes both markers and the END marker's line ending.

    The block lacks a final line ending when text was glued onto its END marker (that text starts
    ``after``) or when an older devcluster wrote it at the end of a file without a final newline.
    """
    begin, end = begin_marker(cluster), end_marker(cluster)
    pattern = re.compile(
        r"(?m)^" + re.escape(begin) + r"(?:" + re.escape(NEWLINE_NOTE) + r")?[ \t]*\r?\n(?:.*\r?\n)*?"
        + re.escape(end) + _END_TAIL
    )
    m = pattern.search(text)
    if not m:
        # \r? so that an unterminated block in a CRLF file is refused too, not duplicated.
        if re.search(r"(?m)^" + re.escape(begin) + r"(?:" + re.escape(NEWLINE_NOTE) + r")?[ \t]*\r?$", text):
            raise DevclusterError(
                f"the hosts file has '{begin}' without a matching '{end}'",
                "fix the file by hand; devcluster will not guess where its block ends",
            )
        return text, None, ""
    return text[: m.start()], m.group(0), text[m.end() :]


def _ended_users_line(block: str, after: str) -> bool:
    """Whether devcluster added the line ending before this block (so removing it takes that ending back)."""
    if block.split("\n", 1)[0].rstrip("\r").rstrip(" \t").endswith(NEWLINE_NOTE):
        return after == ""
    return not block.endswith("\n") and after == ""  # written by an older devcluster: block ends the file


def render_block(cluster: str, entries: list[Entry], eol: str = "\n", ended_users_line: bool = False) -> str:
    lines = [begin_marker(cluster) + (NEWLINE_NOTE if ended_users_line else "")]
    lines += [f"{e.ip}\t{' '.join(e.hostnames)}" for e in entries]
    lines.append(end_marker(cluster))
    return eol.join(lines) + eol


def with_block(text: str, cluster: str, entries: list[Entry], eol: str | None = None) -> str:
    """``text`` with this cluster's block replaced (or appended); nothing else changes.

    An existing block keeps its place and its line ending; a new one takes the file's. The block always
    ends with a line ending, so a line appended later (`echo ... >> /etc/hosts`) is a line of its own;
    on a file without a final newline the BEGIN marker notes that devcluster ended the last line, so
    ``without_block`` can give back the original bytes.
    """
    before, block, after = _split(text, cluster)
    if block is not None:
        eol = eol or _block_eol(block)
        return before + render_block(cluster, entries, eol, _ended_users_line(block, after)) + after
    eol = eol or line_ending(text)
    if text == "" or text.endswith("\n"):
        return text + render_block(cluster, entries, eol)
    return text + eol + render_block(cluster, entries, eol, ended_users_line=True)


def without_block(text: str, cluster: str) -> str:
    """``text`` without this cluster's block: the exact inverse of ``with_block`` appending it."""
    before, block, after = _split(text, cluster)
    if block is None:
        return text
    if _ended_users_line(block, after):
        # Nothing follows the block: take back the line ending we gave the user's last line.
        eol = _block_eol(block)
        if before.endswith(eol):
            before = before[: -len(eol)]
        elif before.endswith("\n"):
            before = before[:-1]
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


_ANY_BLOCK = re.compile(
    r"(?m)^# BEGIN devcluster (?P<name>\S+)(?:" + re.escape(NEWLINE_NOTE) + r")?[ \t]*\r?\n(?:.*\r?\n)*?"
    r"# END devcluster (?P=name)" + _END_TAIL
)


def _block_owners(text: str) -> dict[int, str]:
    """0-based line index -> cluster, for every line inside any devcluster block."""
    owners: dict[int, str] = {}
    for m in _ANY_BLOCK.finditer(text):
        first = text.count("\n", 0, m.start())
        count = m.group(0).count("\n") + (0 if m.group(0).endswith("\n") else 1)
        for i in range(first, first + count):
            owners[i] = m.group("name")
    return owners


def _mapped_names(line: str) -> list[str]:
    """The names a hosts line maps, lower-cased; [] for comments and lines resolvers skip."""
    fields = line.split("#", 1)[0].split()
    if len(fields) < 2 or not is_ip_address(fields[0].split("%", 1)[0]):
        return []
    return [f.lower() for f in fields[1:]]


def _shadowing(text: str, cluster: str, hostnames: Iterable[str]) -> list[tuple[int, str, list[str], str | None]]:
    """(line number, line, our names it maps, owning cluster or None) for each conflicting line."""
    wanted = {h.lower() for h in hostnames}
    owners = _block_owners(text)
    found = []
    for i, raw in enumerate(text.split("\n")):
        owner = owners.get(i)
        if owner == cluster:
            continue
        names = [n for n in _mapped_names(raw) if n in wanted]
        if names:
            found.append((i + 1, raw.removesuffix("\r"), list(dict.fromkeys(names)), owner))
    return found


def shadowing_lines(text: str, cluster: str, hostnames: Iterable[str]) -> list[tuple[int, str]]:
    """Lines outside this cluster's block that map one of ``hostnames`` too: (1-based line number, line).

    Resolvers take the first match in the file (getaddrinfo may return all), so
    such a line silently defeats the block: a stale hand-written entry, or
    another cluster's block for the same name.
    """
    return [(lineno, line) for lineno, line, _, _ in _shadowing(text, cluster, hostnames)]


def disable_lines(text: str, cluster: str, linenos: Iterable[int]) -> str:
    """Comment out the given 1-based lines in place, marked so that ``restore_disabled`` undoes it exactly."""
    lines = text.split("\n")
    for n in set(linenos):
        lines[n - 1] = disabled_prefix(cluster) + lines[n - 1]
    return "\n".join(lines)


def restore_disabled(text: str, cluster: str) -> str:
    """Undo ``disable_lines`` for this cluster, byte for byte (line endings were never touched)."""
    prefix = disabled_prefix(cluster)
    if prefix not in text:
        return text
    return "\n".join(line.removeprefix(prefix) for line in text.split("\n"))


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


# ---------------------------------------------------------------------- locking


@contextlib.contextmanager
def _locked(target: str, timeout: float) -> Iterator[None]:
    """Serialise devcluster runs editing ``target`` with a flock on the directory that holds it.

    Any user who can read the directory can lock it, whoever locked it before
    (a lock file left by ``sudo devcluster`` would be root's); its inode
    survives our atomic replaces; and nothing is left behind in /tmp.
    """
    directory = os.path.dirname(target) or "."
    hint = (f"devcluster locks {directory} while it edits {target}; make that directory readable for you, "
            "or point --hosts-file at a file in a directory you can read")
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise DevclusterError(f"cannot lock {directory} to edit {target}: {exc.strerror}", hint) from exc
    try:
        deadline = time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EINTR):
                    raise DevclusterError(f"cannot lock {directory} to edit {target}: {exc.strerror}",
                                          hint) from exc
            if time.monotonic() >= deadline:
                raise DevclusterError(
                    f"gave up after {timeout:g}s waiting for the lock on {directory} to edit {target}",
                    "another devcluster run is editing it (perhaps waiting for a sudo password): "
                    f"let it finish and retry; `fuser -v {directory}` shows who holds it",
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        yield
    finally:
        os.close(fd)  # also releases the lock


# ---------------------------------------------------------------------- the file


class HostsFile:
    """Reads and rewrites one hosts file; ``backup_dir`` keeps the last copies before each change.

    ``path`` may be a symlink: reads, the lock and writes all go to the file it
    points to. ``messages`` collects what the user should be told (sudo used,
    lines that shadow the block).
    """

    def __init__(self, path: Path, backup_dir: Path, use_sudo: bool | None = None,
                 lock_timeout: float = 120.0) -> None:
        self.path = path
        self.backup_dir = backup_dir
        self.use_sudo = use_sudo
        self.lock_timeout = lock_timeout
        self.messages: list[str] = []

    def _target(self) -> str:
        """The real file: replacing a symlink by a regular file would leave the linked file unchanged."""
        return os.path.realpath(self.path)

    def read(self) -> str:
        target = self._target()
        try:
            with open(target, encoding=_ENCODING, errors=_ERRORS, newline="") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise DevclusterError(f"cannot read {target}: {exc.strerror}",
                                  "hosts files are normally world-readable (mode 644): check its mode") from exc

    def show(self, cluster: str) -> list[Entry]:
        return read_block(self.read(), cluster)

    def shadowing(self, cluster: str, hostnames: Iterable[str]) -> list[tuple[int, str]]:
        """Lines that defeat this cluster's block for ``hostnames`` (see ``shadowing_lines``), e.g. for doctor."""
        return shadowing_lines(self.read(), cluster, hostnames)

    def add(self, cluster: str, entries: list[Entry], force: bool = False) -> bool:
        """Make the block hold exactly ``entries``; returns whether the file changed.

        Lines elsewhere that map the same names would win over the block, so
        each one is reported in ``messages``; with ``force`` those outside
        devcluster blocks are commented out instead (``remove`` restores them).
        """
        target = self._target()
        with _locked(target, self.lock_timeout):
            text = self.read()
            new = with_block(text, cluster, entries)
            names = [h for e in entries for h in e.hostnames]
            conflicts = _shadowing(new, cluster, names)
            first_block_line = new.count("\n", 0, len(_split(new, cluster)[0])) + 1
            if force:
                new = disable_lines(new, cluster, [c[0] for c in conflicts if c[3] is None])
            for lineno, line, mapped, owner in conflicts:
                self.messages.append(self._conflict_message(cluster, lineno, line, mapped, owner, force,
                                                            lineno < first_block_line))
            return self._write_if_changed(target, text, new)

    def remove(self, cluster: str) -> bool:
        """Drop the block and put back any lines ``add --force`` commented out."""
        target = self._target()
        with _locked(target, self.lock_timeout):
            text = self.read()
            return self._write_if_changed(target, text, restore_disabled(without_block(text, cluster), cluster))

    def _conflict_message(self, cluster: str, lineno: int, line: str, mapped: list[str], owner: str | None,
                          force: bool, first: bool) -> str:
        where = f'{self.path}:{lineno}: "{line}"'
        name = ", ".join(mapped)
        if owner is None and force:
            others = [n for n in _mapped_names(line) if n not in mapped]
            also = f"; it also mapped {', '.join(others)}, which this file no longer resolves" if others else ""
            return (f"commented out {where}: it mapped {name} too and would have won over devcluster's block"
                    f"{also}; `devcluster hosts remove` puts it back")
        wins = ("comes first, so it wins over devcluster's block" if first else
                "comes after devcluster's block, but resolvers that return every match may still answer with it")
        if owner is not None:
            return (f"warning: {where} maps {name} too and {wins}; it is in devcluster's block for cluster "
                    f"{owner}: remove that cluster's block (devcluster hosts remove with its config)")
        return (f"warning: {where} maps {name} too and {wins}; remove that line, or re-run with --force to "
                "comment it out (reversibly)")

    # ------------------------------------------------------------------ writing

    def _needs_sudo(self, target: str) -> bool:
        """Sudo only when we cannot write the file itself: an unwritable directory is worked around in place."""
        if self.use_sudo is not None:
            return self.use_sudo
        if os.path.exists(target):
            return not os.access(target, os.W_OK)
        return not os.access(os.path.dirname(target), os.W_OK)

    def _backup(self, text: str) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        dest = self.backup_dir / f"{self.path.name}.{stamp}.{os.getpid()}"
        dest.write_bytes(text.encode(_ENCODING, _ERRORS))
        os.chmod(dest, 0o600)
        backups = sorted(self.backup_dir.glob(f"{self.path.name}.*"), key=lambda p: p.stat().st_mtime)
        for old in backups[:-10]:
            old.unlink(missing_ok=True)

    def _write_if_changed(self, target: str, old: str, new: str) -> bool:
        if old == new:
            return False
        self._backup(old)
        data = new.encode(_ENCODING, _ERRORS)
        if self._needs_sudo(target):
            self._write_with_sudo(target, data)
        else:
            self._write_atomic(target, data)
        return True

    def _cannot_write(self, target: str, exc: OSError) -> DevclusterError:
        return DevclusterError(f"cannot write {target}: {exc.strerror}",
                               f"run as a user that can write {target}, or use --hosts-file / hosts.manage: false")

    def _write_atomic(self, target: str, data: bytes) -> None:
        st = os.stat(target) if os.path.exists(target) else None
        try:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=f".{os.path.basename(target)}.devcluster.")
        except OSError as exc:
            # The directory is not writable (a 0666 hosts file in root's /etc):
            # the file itself is, so rewrite it in place, still under the lock.
            if st is None:
                raise self._cannot_write(target, exc) from exc
            self._write_in_place(target, data)
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, (st.st_mode & 0o7777) if st else 0o644)
            if st is not None and os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
            try:
                os.replace(tmp, target)
            except OSError:
                # A bind-mounted file (containers) cannot be replaced: rewrite
                # it in place, still under the lock.
                self._write_in_place(target, data)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _write_in_place(self, target: str, data: bytes) -> None:
        """Not atomic (a reader may see a mix for a moment), so only when replacing the file is impossible."""
        try:
            fd = os.open(target, os.O_WRONLY)
        except OSError as exc:
            raise self._cannot_write(target, exc) from exc
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        except OSError as exc:
            raise self._cannot_write(target, exc) from exc
        finally:
            os.close(fd)

    def _write_with_sudo(self, target: str, data: bytes) -> None:
        sudo = shutil.which("sudo")
        if sudo is None:
            raise DevclusterError(
                f"{self.path} is not writable and sudo is not available",
                f"run as a user that can write {target}, or use --hosts-file / hosts.manage: false",
            )
        shown = str(self.path) if target == str(self.path) else f"{self.path} (a link to {target})"
        self.messages.append(f"{shown} is not writable by you: using sudo to update it")
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
                subprocess.run([sudo, "rm", "-f", staged], check=False)
        finally:
            os.unlink(tmp)


def hosts_file_for(cfg: Config, state_root: Path, path: str | None = None) -> HostsFile:
    """The hosts file a cluster's config names (or ``path``), with backups beside the clusters' state dirs."""
    return HostsFile(Path(path or cfg.hosts.file), state_root.parent / "hosts-backups")
