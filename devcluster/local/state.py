"""The per-cluster state directory: kubeconfig, generated secrets, release records, the lock.

Everything here may hold credentials, so the directory is 0700 and every
file is written 0600 through a temp file + rename (no window where a secret
sits in a world-readable file, no half-written file after a crash).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from devcluster.errors import ConfigError


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


STATE_DIR_HINT = ("point DEVCLUSTER_STATE_DIR (or XDG_STATE_HOME, or state_dir in devcluster.yaml) at a directory "
                  "you can write")


def prepare_writable(root: Path) -> Path:
    """Make the state dir, or say in one line why it cannot be: a path through a file, or no write access."""
    for parent in [root, *root.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"state dir {root}: {parent} is not a directory", STATE_DIR_HINT)
            break
    try:
        ensure_dir(root)
        probe = tempfile.NamedTemporaryFile(dir=root, prefix=".write-test.")  # noqa: SIM115 (closed at once)
        probe.close()
    except OSError as exc:
        raise ConfigError(f"state dir {root} is not writable: {exc.strerror}", STATE_DIR_HINT) from exc
    return root


def write_synced(fd: int, data: bytes) -> None:
    """Write ``data`` to a new temp file's ``fd`` and close it, on disk: the rename that publishes the file
    must never leave an empty or half-written one after a crash."""
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_private(path: Path, content: str | bytes) -> Path:
    """Atomically write ``content`` readable by the owner only."""
    ensure_dir(path.parent)
    data = content.encode() if isinstance(content, str) else content
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        write_synced(fd, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


class State:
    """Files under one cluster's state directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def read_json(self, name: str) -> dict[str, Any]:
        p = self.path(name)
        if not p.is_file():
            return {}
        return json.loads(p.read_text())

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        return write_private(self.path(name), json.dumps(data, indent=2, sort_keys=True) + "\n")


