"""Bytes the upstream serves with the pull-through cache: first pull, a second cluster's pull, and an
unchanged `image load` (issue 15). Real components only: Debian's docker-registry as the upstream and as
the cache (configured by devcluster's REGISTRY_* environment), skopeo pushing OCI images built here, and
one Debian containerd per "cluster" pulling with the hosts.toml files devcluster renders. Loopback only.

Needs root and `apt-get install -y containerd docker-registry skopeo`. Prints a Markdown table for
docs/performance.md.

Usage: python benchmarks/registry_cache.py [--images N] [--layer-kib K]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devcluster.clients.registry import hosts_files, mirrors, via_host  # noqa: E402
from devcluster.config.schema import RegistryConfig, RegistryMirrorsConfig  # noqa: E402
from tests.realregistry import (  # noqa: E402
    Containerd,
    Registry,
    free_port,
    oci_layout,
    skip_reason,
    skopeo_push,
)

UPSTREAM = "registry.test"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--layer-kib", type=int, default=2048)
    args = parser.parse_args()
    if skip_reason():
        raise SystemExit(skip_reason())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        upstream = Registry(root / "upstream", free_port()).start()
        cache_port = free_port()
        reg = RegistryConfig(port=cache_port - 1, mirrors=RegistryMirrorsConfig(
            enabled=True, upstreams=[UPSTREAM], remotes={UPSTREAM: upstream.url}))
        (mirror,) = mirrors(reg)
        cache = Registry(root / "cache", cache_port, env=mirror.env()).start()
        refs = []
        for i in range(args.images):
            layout = oci_layout(root / f"oci{i}", "v1", args.layer_kib * 1024, seed=i, layers=2)
            skopeo_push(layout, "v1", f"127.0.0.1:{upstream.port}/lib/app{i}:v1")
            refs.append(f"{UPSTREAM}/lib/app{i}:v1")
        hosts = root / "certs.d"
        for rel, text in hosts_files(reg, via_host("127.0.0.1")).items():
            (hosts / rel).parent.mkdir(parents=True, exist_ok=True)
            (hosts / rel).write_text(text)
        rows = []
        nodes: list[Containerd] = []
        try:
            for label in ("first cluster, cold cache", "second cluster, warm cache"):
                node = Containerd().start()
                nodes.append(node)
                mark, cache_mark = upstream.mark(), cache.mark()
                start = time.perf_counter()
                for ref in refs:
                    node.pull(ref, hosts)
                seconds = time.perf_counter() - start
                rows.append((label, upstream.served(mark).bytes, cache.served(cache_mark).bytes, seconds))
            cache.stop()
            node = Containerd().start()
            nodes.append(node)
            mark = upstream.mark()
            start = time.perf_counter()
            for ref in refs:
                node.pull(ref, hosts)
            rows.append(("third cluster, cache stopped (fallback)", upstream.served(mark).bytes, 0,
                         time.perf_counter() - start))
        finally:
            for node in nodes:
                node.stop()
            cache.stop()
            upstream.stop()
    print(f"{args.images} images x 2 layers x {args.layer_kib} KiB (random, incompressible)\n")
    print("| pulls | bytes the upstream served | bytes the cache served | seconds |")
    print("|---|---:|---:|---:|")
    for label, up, via_cache, seconds in rows:
        print(f"| {label} | {up:,} | {via_cache:,} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
