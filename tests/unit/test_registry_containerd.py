"""The hosts.toml files devcluster renders, proven with real containerd and real registries.

Nothing is stubbed: Debian's `docker-registry` (distribution 2.8) is the upstream (standing in for
docker.io under the made-up name `registry.test`) and, configured by the same REGISTRY_* environment
devcluster gives the cache container, the pull-through cache; `skopeo` pushes an OCI image built here;
Debian's `containerd` (one per "cluster", each its own root and socket) pulls with `ctr --hosts-dir` from
the files `hosts_files` renders. The upstream's access log says what reached it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devcluster.clients.registry import RegistryContainer, hosts_files, mirrors, via_host
from devcluster.config.schema import RegistryConfig, RegistryMirrorsConfig
from tests.realregistry import Containerd, Registry, free_port, oci_layout, skip_reason, skopeo_push

pytestmark = pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "runs")

UPSTREAM = "registry.test"
IMAGE = f"{UPSTREAM}/lib/app:v1"
LAYER = 300_000


@dataclass
class World:
    upstream: Registry
    cache: Registry
    mirror: RegistryContainer
    hosts_dir: Path


def write_hosts_dir(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    upstream = Registry(tmp_path / "upstream", free_port()).start()
    cache_port = free_port()
    reg = RegistryConfig(port=cache_port - 1, mirrors=RegistryMirrorsConfig(
        enabled=True, upstreams=[UPSTREAM], remotes={UPSTREAM: upstream.url}))
    (mirror,) = mirrors(reg)
    assert mirror.port == cache_port
    cache = Registry(tmp_path / "cache", cache_port, env=mirror.env()).start()
    skopeo_push(oci_layout(tmp_path / "oci", "v1", LAYER), "v1", f"127.0.0.1:{upstream.port}/lib/app:v1")
    files = hosts_files(reg, via_host("127.0.0.1"))
    hosts_dir = write_hosts_dir(tmp_path / "certs.d", files)
    try:
        yield World(upstream, cache, mirror, hosts_dir)
    finally:
        cache.stop()
        upstream.stop()


@pytest.fixture
def containerds() -> Iterator[list[Containerd]]:
    made: list[Containerd] = []
    yield made
    for c in made:
        c.stop()


def node(containerds: list[Containerd]) -> Containerd:
    made = Containerd().start()
    containerds.append(made)
    return made


def test_rendered_hosts_toml_names_the_upstream_and_the_cache(world: World) -> None:
    text = (world.hosts_dir / UPSTREAM / "hosts.toml").read_text()
    assert f'server = "{world.upstream.url}"' in text
    assert f'[host."http://127.0.0.1:{world.cache.port}"]' in text
    assert 'capabilities = ["pull", "resolve"]' in text


def test_a_second_cluster_pulls_nothing_from_the_upstream(world: World, containerds: list[Containerd]) -> None:
    """Cluster 1's pull goes through the cache (which fetches from the upstream once); cluster 2, a fresh
    containerd, and cluster 1 again after its content is gone, get every byte from the cache."""
    mark = world.upstream.mark()
    first = node(containerds)
    first.pull(IMAGE, world.hosts_dir)
    via_upstream = world.upstream.served(mark)
    assert "containerd" not in via_upstream.agents  # containerd never asked the upstream itself
    assert via_upstream.bytes > LAYER  # the cache fetched the image from the upstream once
    assert "containerd" in world.cache.served().agents

    mark, cache_mark = world.upstream.mark(), world.cache.mark()
    second = node(containerds)
    second.pull(IMAGE, world.hosts_dir)
    first.forget(IMAGE)
    first.pull(IMAGE, world.hosts_dir)
    assert world.upstream.served(mark).bytes == 0
    assert world.cache.served(cache_mark).bytes > 2 * LAYER  # both pulls were served, from the cache


def test_a_cache_that_is_down_does_not_stop_a_pull(world: World, containerds: list[Containerd]) -> None:
    world.cache.stop()
    mark = world.upstream.mark()
    node(containerds).pull(IMAGE, world.hosts_dir)
    direct = world.upstream.served(mark)
    assert "containerd" in direct.agents and direct.bytes > LAYER
