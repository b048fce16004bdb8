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
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devcluster.clients.registry import hosts_files, mirrors, via_host  # noqa: E402
from devcluster.config.schema import RegistryConfig, RegistryMirrorsConfig  # noqa: E402
from tests import realdocker  # noqa: E402
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
    image_load_rows = image_load(args.layer_kib) if realdocker.skip_reason() == "" else []
    docker_rows = status_and_offline_cache() if realdocker.skip_reason() == "" else []
    print("| pulls | bytes the upstream served | bytes the cache served | seconds |")
    print("|---|---:|---:|---:|")
    for label, up, via_cache, seconds in rows:
        print(f"| {label} | {up:,} | {via_cache:,} | {seconds:.2f} |")
    if image_load_rows:
        print("\n| `image load` with the registry on (real dockerd) | blob uploads (PATCH/PUT) | seconds |")
        print("|---|---:|---:|")
        for label, count, seconds in image_load_rows:
            print(f"| {label} | {count} | {seconds:.2f} |")
    if docker_rows:
        print("\n| registry containers (real dockerd) | seconds |")
        print("|---|---:|")
        for label, seconds in docker_rows:
            print(f"| {label} | {seconds:.3f} |")


def status_and_offline_cache() -> list[tuple[str, float]]:
    """How long `up` takes to say a cache whose upstream does not answer (offline) is down and go on, a re-run's
    check of it, and `status`'s registry section (median of 10). The upstream is a closed port on the dockerd's
    own bridge: nothing leaves the machine."""
    import io
    import os
    import socket
    import statistics

    from rich.console import Console

    from devcluster.clients import registry_usage
    from devcluster.clients.registry import containers
    from devcluster.config.schema import Config
    from devcluster.engine.steps import Context, execute
    from devcluster.local.state import State
    from devcluster.providers.kind import KindProvider
    from devcluster.providers.registry_steps import container_steps, remove_containers

    dockerd = realdocker.Dockerd().start()
    try:
        os.environ["DOCKER_HOST"] = dockerd.host
        with socket.socket() as s:
            s.bind((realdocker.BRIDGE_ADDRESS, 0))
            closed = s.getsockname()[1]
        cfg = Config(registry=RegistryConfig(
            enabled=True, port=free_port_below(31000), image=dockerd.import_registry_image(),
            mirrors=RegistryMirrorsConfig(enabled=True, upstreams=[UPSTREAM],
                                          remotes={UPSTREAM: f"http://{realdocker.BRIDGE_ADDRESS}:{closed}"})))
        with tempfile.TemporaryDirectory() as tmp:
            state = State(Path(tmp) / "state")
            ctx = Context(cfg, state, Console(file=io.StringIO()), KindProvider(cfg, state))
            steps = container_steps(cfg)
            start = time.perf_counter()
            execute(steps, ctx)
            first = time.perf_counter() - start
            start = time.perf_counter()
            execute(steps, ctx)
            rerun = time.perf_counter() - start
            times = []
            for _ in range(10):
                start = time.perf_counter()
                registry_usage.usage(containers(cfg.registry))
                times.append(time.perf_counter() - start)
            remove_containers(cfg, purge=True)
        return [("up: registry + an offline cache (warned, not failed)", first),
                ("re-run: both only checked", rerun),
                ("status: the registry section (2 docker calls, median of 10)", statistics.median(times))]
    finally:
        dockerd.stop()


def image_load(layer_kib: int) -> list[tuple[str, int, float]]:
    """push_images of one image, then of the unchanged image, then of a rebuilt one, into the registry
    container devcluster runs (dockerd of its own; tests/realdocker.py)."""
    import io
    import os
    import tarfile

    from rich.console import Console

    from devcluster.config.schema import Config, RegistryConfig
    from devcluster.engine.steps import Context, execute
    from devcluster.local.state import State
    from devcluster.providers.image_loading import push_images
    from devcluster.providers.kind import KindProvider
    from devcluster.providers.registry_steps import container_steps, remove_containers

    dockerd = realdocker.Dockerd().start()
    try:
        os.environ["DOCKER_HOST"] = dockerd.host
        cfg = Config(registry=RegistryConfig(enabled=True, port=free_port_below(32000),
                                             image=dockerd.import_registry_image(),
                                             mirrors=RegistryMirrorsConfig(enabled=False)))
        with tempfile.TemporaryDirectory() as tmp:
            state = State(Path(tmp) / "state")
            execute(container_steps(cfg), Context(cfg, state, Console(file=io.StringIO()), KindProvider(cfg, state)))
            ref = "ghcr.io/forail-platform/forail-backend:dev"

            def build(seed: int) -> None:
                tar_path = Path(tmp) / "image.tar"
                with tarfile.open(tar_path, "w") as tar:
                    data = random.Random(seed).randbytes(layer_kib * 1024)
                    info = tarfile.TarInfo("payload.bin")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                dockerd.docker("import", str(tar_path), ref)

            def uploads() -> int:
                logs = dockerd.docker("logs", "devcluster-registry")
                text = (logs.stdout + logs.stderr).decode()
                return sum(1 for line in text.splitlines() if '"PUT /v2/' in line or '"PATCH /v2/' in line)

            rows = []
            for label, seed in (("first push", 1), ("unchanged image", 1), ("rebuilt image", 2)):
                if label != "unchanged image":
                    build(seed)
                before, start = uploads(), time.perf_counter()
                push_images(cfg, [ref], lambda _: None)
                rows.append((label, uploads() - before, time.perf_counter() - start))
            remove_containers(cfg, purge=True)
            return rows
    finally:
        dockerd.stop()


def free_port_below(limit: int) -> int:
    import socket

    rnd = random.Random()
    while True:
        port = rnd.randrange(20000, limit)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


if __name__ == "__main__":
    main()
