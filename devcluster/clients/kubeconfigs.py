"""Merging the cluster's kubeconfig into the user's, on request (`devcluster kubeconfig --merge`).

devcluster keeps its own kubeconfig in the state dir so it never edits
~/.kube/config behind the user's back; merging replaces only the entries
with the same names, keeps a backup, and writes 0600.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from devcluster.errors import DevclusterError
from devcluster.local.state import write_private

SECTIONS = ("clusters", "users", "contexts")


def merged(dest: dict[str, Any], src: dict[str, Any], use_context: bool) -> dict[str, Any]:
    out = dict(dest) if dest else {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for section in SECTIONS:
        incoming = {e["name"]: e for e in src.get(section) or []}
        kept = [e for e in out.get(section) or [] if e["name"] not in incoming]
        out[section] = kept + list(incoming.values())
    if use_context or not out.get("current-context"):
        out["current-context"] = src.get("current-context", "")
    return out


def merge_into(src: Path, dest: Path, use_context: bool = False) -> Path | None:
    """Merge ``src`` into ``dest``; returns the backup path (None when ``dest`` did not exist)."""
    if not src.is_file():
        raise DevclusterError(f"no kubeconfig at {src}", "run `devcluster up` first")
    source = yaml.safe_load(src.read_text()) or {}
    target: dict[str, Any] = {}
    backup = None
    if dest.is_file():
        target = yaml.safe_load(dest.read_text()) or {}
        backup = dest.with_name(f"{dest.name}.devcluster-backup-{time.strftime('%Y%m%dT%H%M%S')}")
        shutil.copy2(dest, backup)
        backup.chmod(0o600)
    write_private(dest, yaml.safe_dump(merged(target, source, use_context), sort_keys=False))
    return backup
