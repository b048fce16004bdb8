"""Downloads enter the cache only verified: a real HTTP server on 127.0.0.1 serves the bytes."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from devcluster.clients import fetch
from devcluster.errors import DevclusterError

GOOD = b"kind: Namespace\napiVersion: v1\nmetadata: {name: x}\n"
PIN = hashlib.sha256(GOOD).hexdigest()


class _Mirror:
    def __init__(self) -> None:
        self.body = GOOD
        self.requests = 0
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(mirror.body)))
                self.end_headers()
                self.wfile.write(mirror.body)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/m.yaml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def mirror(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Mirror]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # loopback only, never through a proxy
    m = _Mirror()
    yield m
    m.server.shutdown()
    m.server.server_close()


def test_a_tampered_download_is_not_cached_and_the_fixed_mirror_is_used_next(mirror: _Mirror, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mirror.body = GOOD[:10]  # truncated
    with pytest.raises(DevclusterError) as err:
        fetch.fetch(mirror.url, cache, PIN)
    assert err.value.hint and f"expected sha256 {PIN}" in err.value.hint
    assert f"got {hashlib.sha256(GOOD[:10]).hexdigest()} from {mirror.url}" in err.value.hint
    assert not cache.exists() or list(cache.iterdir()) == [], "nothing unverified may stay in the cache"
    mirror.body = GOOD  # the mirror is fixed
    assert fetch.fetch(mirror.url, cache, PIN) == GOOD
    assert [p.name for p in cache.iterdir()] == [hashlib.sha256(mirror.url.encode()).hexdigest()]
    assert fetch.fetch(mirror.url, cache, PIN) == GOOD
    assert mirror.requests == 2, "the verified copy is served from the cache"


def test_a_cached_file_that_fails_verification_is_discarded_and_fetched_again(mirror: _Mirror,
                                                                              tmp_path: Path) -> None:
    """What an older devcluster left behind: an unverified, truncated copy in the cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    entry = cache / hashlib.sha256(mirror.url.encode()).hexdigest()
    entry.write_bytes(b"trunc")
    assert fetch.fetch(mirror.url, cache, PIN) == GOOD
    assert entry.read_bytes() == GOOD and mirror.requests == 1
