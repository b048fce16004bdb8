"""Pinned downloads that can be redirected to a local file or a mirror.

Every manifest devcluster applies comes from a pinned URL or a path in
devcluster.yaml; an optional sha256 makes a tampered or moved mirror fail
loudly, and a cache in the state dir keeps re-runs offline-friendly. Only
verified bytes enter the cache, so a fixed mirror is picked up by the next run.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from devcluster.errors import DevclusterError
from devcluster.local.state import write_private


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _mismatch(source: str, expected: str, got: str, where: str) -> DevclusterError:
    return DevclusterError(
        f"{source}: sha256 {got} does not match the pinned {expected.lower()} ({where})",
        f"expected sha256 {expected.lower()}, got {got} from {source}: a truncated download, a mirror serving "
        "another version, or a changed file; fix the source or the pinned sha256 in devcluster.yaml",
    )


def _download(source: str, cached: Path, sha256: str, timeout: float) -> bytes:
    """Download into a temp file beside the cache entry and rename it there only once it is verified, so a
    truncated or tampered download is never cached (and a crash leaves no half-written entry)."""
    try:
        with urllib.request.urlopen(source, timeout=timeout) as resp:
            data = resp.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DevclusterError(
            f"cannot download {source}: {exc}",
            "offline? download it elsewhere and point devcluster.yaml at the local file",
        ) from exc
    got = hashlib.sha256(data).hexdigest()
    if sha256 and got != sha256.lower():
        raise _mismatch(source, sha256, got, "downloaded, not cached")
    write_private(cached, data)  # verified first, then in place atomically: a bad download is never cached
    return data


def fetch(source: str, cache_dir: Path, sha256: str = "", timeout: float = 60) -> bytes:
    if source.startswith("file://"):
        source = source[len("file://") :]
    if not is_url(source):
        path = Path(source).expanduser()
        if not path.is_file():
            raise DevclusterError(f"{source} does not exist", "fix the path in devcluster.yaml")
        data = path.read_bytes()
        got = hashlib.sha256(data).hexdigest()
        if sha256 and got != sha256.lower():
            raise _mismatch(source, sha256, got, "local file")
        return data
    cached = cache_dir / hashlib.sha256(source.encode()).hexdigest()
    if cached.is_file():
        data = cached.read_bytes()
        if not sha256 or hashlib.sha256(data).hexdigest() == sha256.lower():
            return data
        cached.unlink()  # cached by an older devcluster before it was verified, or the pin changed: fetch again
    return _download(source, cached, sha256, timeout)


def load_manifest(data: bytes) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(data) if isinstance(doc, dict) and doc.get("kind")]
