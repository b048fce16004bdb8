"""How the registry containers are doing, for `status`: state, where they listen, what their storage holds.

Two docker calls whatever the number of caches (`docker ps` filtered on devcluster's label, and
`docker system df -v` for the volumes' sizes, which docker computes itself: a volume's directory is
root's, not the user's); a storage dir on this machine is summed here. All read-only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devcluster.clients import runner
from devcluster.clients.registry import LABEL, RegistryContainer
from devcluster.clients.registry_containers import DOCKER_HINT
from devcluster.errors import CommandError


def listed() -> dict[str, dict[str, Any]]:
    """name -> `docker ps -a` row (State, Ports, Status, ...) of every devcluster registry container."""
    res = runner.run(["docker", "ps", "-a", "--no-trunc", "--filter", f"label={LABEL}", "--format", "{{json .}}"],
                     timeout=60, hint=DOCKER_HINT)
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    return {row.get("Names", ""): row for row in rows}


def volume_sizes() -> dict[str, str]:
    """volume name -> its size as docker says it (e.g. "12.6MB"); {} when docker cannot tell."""
    try:
        res = runner.run(["docker", "system", "df", "-v", "--format", "{{json .Volumes}}"], check=False, timeout=120)
    except CommandError:  # timed out (it sizes every image on the machine): the rest of `status` still shows
        return {}
    try:
        volumes = json.loads(res.stdout or "null") if res.ok else None
    except json.JSONDecodeError:
        return {}
    return {v.get("Name", ""): v.get("Size", "") for v in volumes or [] if isinstance(v, dict)}


def dir_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # removed while we walked (a cache's upload being finished)
    return total


def human_size(size: int) -> str:
    """Decimal units, as docker prints them (12.6MB), so the volumes' and the dirs' figures read alike."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.3g}{unit}"
        value /= 1000
    raise AssertionError("unreachable")


def usage(containers: list[RegistryContainer]) -> list[dict[str, Any]]:
    """One row per container the config asks for: made or not, running, published addresses, disk use."""
    rows = listed()
    sizes = volume_sizes() if any(not c.storage_dir for c in containers) else {}
    out = []
    for c in containers:
        row = rows.get(c.name)
        storage = c.storage_dir or f"volume {c.volume}"
        if c.storage_dir:
            disk = human_size(dir_size(Path(c.storage_dir))) if Path(c.storage_dir).is_dir() else "0B"
        else:
            disk = sizes.get(c.volume, "")
        out.append({
            "name": c.name,
            "role": f"cache of {c.upstream}" if c.upstream else "local registry",
            "state": (row.get("State") or "unknown") if row else "absent",
            "address": ((row.get("Ports") or f"127.0.0.1:{c.port} (not listening)") if row
                        else f"127.0.0.1:{c.port} (not made yet)"),
            "storage": storage,
            "disk": disk or "unknown",
        })
    return out
