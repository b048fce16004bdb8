"""Pinned downloads that can be redirected to a local file or a mirror.

Every manifest devcluster applies comes from a pinned URL or a path in
devcluster.yaml; an optional sha256 makes a tampered or moved mirror fail
loudly, and a cache in the state dir keeps re-runs offline-friendly.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from devcluster.errors import DevclusterError
from devcluster.local.state import ensure_dir


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch(source: str, cache_dir: Path, sha256: str = "", timeout: float = 60) -> bytes:
    if source.startswith("file://"):
        source = source[len("file://") :]
    if not is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DevclusterError(f"{source} does not exist", "fix the path in devcluster.yaml")
        data = path.read_bytes()
    else:
        cached = cache_dir / hashlib.sha256(source.encode()).hexdigest()
        if cached.is_file():
            data = cached.read_bytes()
        else:
            try:
                with urllib.request.urlopen(source, timeout=timeout) as resp:
                    data = resp.read()
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise DevclusterError(
                    f"cannot download {source}: {exc}",
                    "offline? download it elsewhere and point devcluster.yaml at the local file",
                ) from exc
            ensure_dir(cache_dir)
            cached.write_bytes(data)
    if sha256 and hashlib.sha256(data).hexdigest() != sha256.lower():
        raise DevclusterError(
            f"{source}: sha256 {hashlib.sha256(data).hexdigest()} does not match the pinned {sha256}",
            "the file changed upstream or the mirror serves another version",
        )
    return data


def load_manifest(data: bytes) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(data) if isinstance(doc, dict) and doc.get("kind")]
