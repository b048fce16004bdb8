"""One hosts file: read it, and change devcluster's block in it under the lock, with a backup.

The text editing (block.py), the conflict analysis (shadowing.py), the lock (lock.py) and the writing
(write.py) are each their own module; this one puts them in order and collects what the user should hear.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from devcluster.config import Config
from devcluster.errors import DevclusterError
from devcluster.local.hosts import block, shadowing, write
from devcluster.local.hosts.lock import locked
from devcluster.local.hosts.names import Entry


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
            with open(target, encoding=write.ENCODING, errors=write.ERRORS, newline="") as fh:
                return fh.read()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise DevclusterError(f"cannot read {target}: {exc.strerror}",
                                  "hosts files are normally world-readable (mode 644): check its mode") from exc

    def show(self, cluster: str) -> list[Entry]:
        return block.read_block(self.read(), cluster)

    def shadowing(self, cluster: str, hostnames: Iterable[str]) -> list[tuple[int, str]]:
        """Lines that defeat this cluster's block for ``hostnames`` (see ``shadowing_lines``), e.g. for doctor."""
        return shadowing.shadowing_lines(self.read(), cluster, hostnames)

    def add(self, cluster: str, entries: list[Entry], force: bool = False) -> bool:
        """Make the block hold exactly ``entries``; returns whether the file changed.

        Lines elsewhere that map the same names would win over the block, so
        each one is reported in ``messages``; with ``force`` those outside
        devcluster blocks are commented out instead (``remove`` restores them).
        """
        target = self._target()
        with locked(target, self.lock_timeout):
            text = self.read()
            new = block.with_block(text, cluster, entries)
            conflicts = shadowing.conflicts(new, cluster, [h for e in entries for h in e.hostnames])
            first_block_line = new.count("\n", 0, len(block.split(new, cluster)[0])) + 1
            if force:
                new = block.disable_lines(new, cluster, [c.lineno for c in conflicts if c.owner is None])
            for conflict in conflicts:
                self.messages.append(shadowing.conflict_message(self.path, conflict, force,
                                                                conflict.lineno < first_block_line))
            return self._write_if_changed(target, text, new)

    def remove(self, cluster: str) -> bool:
        """Drop the block and put back any lines ``add --force`` commented out."""
        target = self._target()
        with locked(target, self.lock_timeout):
            text = self.read()
            return self._write_if_changed(target, text,
                                          block.restore_disabled(block.without_block(text, cluster), cluster))

    def _write_if_changed(self, target: str, old: str, new: str) -> bool:
        if old == new:
            return False
        write.backup(self.backup_dir, self.path.name, old)
        write.write(target, self.path, new.encode(write.ENCODING, write.ERRORS), self.use_sudo, self.messages.append)
        return True


def hosts_file_for(cfg: Config, state_root: Path, path: str | None = None) -> HostsFile:
    """The hosts file a cluster's config names (or ``path``), with backups beside the clusters' state dirs."""
    return HostsFile(Path(path or cfg.hosts.file), state_root.parent / "hosts-backups")
