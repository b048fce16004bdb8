"""Kubeconfig files: where the default one is, reading one (errors naming the file), the context and
server it selects, and merging the cluster's into the user's on request (`devcluster kubeconfig --merge`).

devcluster keeps its own kubeconfig in the state dir so it never edits
~/.kube/config behind the user's back; merging replaces only the entries
with the same names, keeps a backup, and writes 0600.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from devcluster.clients.access import ClusterAccess
from devcluster.errors import DevclusterError
from devcluster.local.state import write_private

SECTIONS = ("clusters", "users", "contexts")

KUBECONFIG_HINT = "check --kubeconfig/--context, or run `devcluster up` to create the cluster"


def kubeconfig_location(kubeconfig: Path | None) -> Path:
    """The file the client reads when none is given: $KUBECONFIG's first entry, else ~/.kube/config."""
    if kubeconfig is not None:
        return kubeconfig.expanduser()
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    try:
        return Path(first or "~/.kube/config").expanduser()
    except RuntimeError as exc:  # no HOME and no passwd entry
        raise DevclusterError(f"cannot find the default kubeconfig: {exc} (HOME is not set)",
                              "set HOME or KUBECONFIG, or pass --kubeconfig") from exc


def read_kubeconfig(kubeconfig: Path | None) -> dict[str, Any]:
    """The kubeconfig as a mapping, or an error naming the file: the client's own errors on a missing
    or malformed file are a bare 'Invalid kube-config' or a TypeError from deep inside it."""
    path = kubeconfig_location(kubeconfig)
    if not path.is_file():
        raise DevclusterError(f"no kubeconfig at {path}", KUBECONFIG_HINT)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DevclusterError(f"cannot read kubeconfig {path}: {exc}", KUBECONFIG_HINT) from exc
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        raise DevclusterError(f"{path} is not a kubeconfig: expected a YAML mapping with clusters, contexts and "
                              "users", KUBECONFIG_HINT)
    return data



def missing_context(name: str, path: Path, contexts: list[dict[str, Any]]) -> DevclusterError:
    names = ", ".join(str(c.get("name")) for c in contexts) or "none"
    what = f"context {name!r} is not in {path}" if name else f"{path} names no current context"
    return DevclusterError(what, f"available contexts: {names}; pick one with --context (or existing.context)")


def require_context(access: ClusterAccess, data: dict[str, Any]) -> None:
    """The client's own error for a missing context is "Invalid kube-config file. Expected object with name ..."."""
    contexts = [c for c in data.get("contexts") or [] if isinstance(c, dict)]
    wanted = access.context or data.get("current-context")
    if not wanted or not any(c.get("name") == wanted for c in contexts):
        raise missing_context(access.context or "", kubeconfig_location(access.kubeconfig), contexts)


def kubeconfig_server(access: ClusterAccess) -> tuple[str, str]:
    """(context name, server URL) the kubeconfig selects, for the safety check: from the one parse of the file
    (the client's own context listing would read and parse it again)."""
    data = read_kubeconfig(access.kubeconfig)
    require_context(access, data)
    wanted = access.context or data.get("current-context")
    chosen = next(c for c in data.get("contexts") or [] if isinstance(c, dict) and c.get("name") == wanted)
    cluster_name = chosen["context"]["cluster"]
    for cl in data.get("clusters", []):
        if cl["name"] == cluster_name:
            return chosen["name"], cl["cluster"]["server"]
    raise DevclusterError(f"cluster {cluster_name!r} of context {chosen['name']!r} is not in the kubeconfig")



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
