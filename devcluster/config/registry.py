"""The `registry:` section's rules: checked with the rest of the config, before anything runs.

Kept apart from loader.py so the registry's rules live next to nothing else; the loader calls
``validate_registry`` with its ``fail`` (which raises ConfigError naming the dotted key, exit 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from devcluster.config.schema import RegistryConfig

# A registry's name as containerd and Docker spell it: DNS labels (or an address), an optional :port.
_REGISTRY_HOST_RE = re.compile(r"^(?=.{1,253}(:|$))[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
                               r"(:[0-9]{1,5})?$")
# The ports a registry may publish on: unprivileged, and below the ephemeral range most kernels hand out.
PORT_RANGE = (1024, 32767)

Fail = Callable[..., None]


def valid_registry_host(name: str) -> bool:
    if not _REGISTRY_HOST_RE.match(name):
        return False
    port = name.rpartition(":")[2] if ":" in name else ""
    return not port or 0 < int(port) <= 65535


def validate_registry(reg: RegistryConfig, fail: Fail) -> None:
    low, high = PORT_RANGE
    if not low <= reg.port <= high:
        fail("registry.port", f"{reg.port} is outside {low}-{high}", "the default is 5001")
    if reg.host and not valid_registry_host(reg.host):
        fail("registry.host", f"{reg.host!r} is not a registry host[:port]",
             "give it as containerd and docker name it, e.g. registry.example.lan:5000 (no http://, no path)")
    if not reg.image or any(c.isspace() for c in reg.image):
        fail("registry.image", f"{reg.image!r} is not an image reference",
             "the distribution registry's image, name:tag@sha256:..., or your mirror's copy of it")
    mirrors = reg.mirrors
    for i, upstream in enumerate(mirrors.upstreams):
        if not valid_registry_host(upstream):
            fail(f"registry.mirrors.upstreams[{i}]", f"{upstream!r} is not a registry host[:port]",
                 "upstreams are registry names as images spell them: docker.io, ghcr.io, registry.k8s.io, quay.io")
    if len(set(mirrors.upstreams)) != len(mirrors.upstreams):
        fail("registry.mirrors.upstreams", "each upstream may appear once")
    if mirrors.enabled and not mirrors.upstreams:
        fail("registry.mirrors.upstreams", "is empty while registry.mirrors.enabled is true",
             "list the upstreams to cache, or set registry.mirrors.enabled: false")
    if mirrors.enabled and reg.port + len(mirrors.upstreams) > high:
        fail("registry.port", f"the caches publish on {reg.port + 1}-{reg.port + len(mirrors.upstreams)}, "
             f"past {high}", "choose a lower registry.port")
    for upstream, url in mirrors.remotes.items():
        if upstream not in mirrors.upstreams:
            fail(f"registry.mirrors.remotes.{upstream}", "is not one of registry.mirrors.upstreams")
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+/?$", url):
            fail(f"registry.mirrors.remotes.{upstream}", f"{url!r} is not a registry URL",
                 "scheme and host[:port] only, e.g. https://mirror.example.lan")
    if mirrors.storage_dir and Path(mirrors.storage_dir).expanduser().is_file():
        fail("registry.mirrors.storage_dir", f"{mirrors.storage_dir} is a file", "name a directory (made if missing)")
