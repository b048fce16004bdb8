"""The registry and cache containers, made by devcluster's steps through the REAL docker client and a real
dockerd (the test's own data root, socket and bridge; tests/realdocker.py).

The image is Debian's distribution 2.8 `docker import`ed (nothing can be pulled here), named through the
documented `registry.image` key. The cache's upstream is Debian's docker-registry on the test's own bridge
address, named `registry.test` via `registry.mirrors.remotes`: the cache container pings it when it
starts and fetches from it, and no packet leaves the machine (dockerd's DNS is 127.0.0.1).
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from devcluster.clients import registry_containers, runner
from devcluster.clients.registry import containers, mirrors
from devcluster.config import load
from devcluster.engine.steps import Context, execute
from devcluster.errors import CommandError, DevclusterError
from devcluster.local.state import State
from devcluster.providers.kind import KindProvider
from devcluster.providers.registry_steps import container_steps, network_step, refuse_taken_ports, remove_containers
from tests import realdocker, realregistry
from tests.realdocker import BRIDGE_ADDRESS, Dockerd
from tests.realregistry import Registry, free_port, oci_layout, skopeo_push
from tests.unit.test_stack import needs_helm, render, values_for

pytestmark = pytest.mark.skipif(bool(realdocker.skip_reason() or realregistry.skip_reason()),
                                reason=realdocker.skip_reason() or realregistry.skip_reason() or "runs")


@pytest.fixture(scope="module")
def dockerd() -> Iterator[Dockerd]:
    d = Dockerd().start()
    try:
        d.import_registry_image()
        yield d
    finally:
        d.stop()


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(tmp_path / "upstream", free_port(), address=BRIDGE_ADDRESS).start()
    skopeo_push(oci_layout(tmp_path / "oci", "v1", 100_000), "v1", f"{BRIDGE_ADDRESS}:{reg.port}/lib/app:v1")
    yield reg
    reg.stop()


def two_free_ports() -> int:
    """registry.port and the next one (the cache's), free on loopback, inside registry.port's range."""
    rnd = random.Random()
    while True:
        port = rnd.randrange(20000, 32000)
        if port_free(port) and port_free(port + 1):
            return port


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture
def setup(dockerd: Dockerd, upstream: Registry, write_config, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    port = two_free_ports()
    cfg = load(write_config(
        f"registry:\n  enabled: true\n  port: {port}\n  image: {realdocker.REGISTRY_IMAGE}\n"
        f"  mirrors:\n    enabled: true\n    upstreams: [registry.test]\n"
        f"    remotes:\n      registry.test: {upstream.url}\n"))
    state = State(cfg.state_path)
    ctx = Context(cfg, state, Console(file=io.StringIO(), width=200), KindProvider(cfg, state))
    yield cfg, ctx
    remove_containers(cfg, purge=True)


def inspect(dockerd: Dockerd, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(dockerd.docker("container", "inspect", name).stdout)[0]


def test_steps_run_the_registry_and_the_cache_and_a_rerun_only_checks(setup, dockerd, upstream, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg, ctx = setup
    steps = container_steps(cfg)
    assert [s.name for s in steps] == ["registry", "mirror-registry-test"]
    assert [o.status for o in execute(steps, ctx)] == ["ran", "ran"]
    with urllib.request.urlopen(f"http://127.0.0.1:{cfg.registry.port}/v2/", timeout=5) as resp:
        assert resp.status == 200
    local = inspect(dockerd, "devcluster-registry")
    assert local["HostConfig"]["RestartPolicy"]["Name"] == "always"
    assert [m["Name"] for m in local["Mounts"]] == ["devcluster-registry-data"]
    # a pull through the cache container: it fetches from the upstream named by registry.mirrors.remotes
    (cache,) = mirrors(cfg.registry)
    mark = upstream.mark()
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://127.0.0.1:{cache.port}/lib/app:v1",
                    "dir:" + str(tmp_path / "pulled")], check=True, capture_output=True, timeout=60)
    assert upstream.served(mark).bytes > 100_000
    assert [o.status for o in execute(steps, ctx)] == ["done", "done"]


def test_a_stopped_or_changed_container_is_started_or_replaced_keeping_its_volume(setup, dockerd) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    (local,) = [c for c in containers(cfg.registry) if not c.upstream]
    assert registry_containers.ensure(local) == "created"
    dockerd.docker("stop", local.name)
    assert not registry_containers.is_running(local)
    assert registry_containers.ensure(local) == "started"
    dockerd.docker("rm", "-f", local.name)
    dockerd.docker("run", "-d", "--name", local.name, "-v", f"{local.volume}:/var/lib/registry",
                   "-p", f"127.0.0.1:{local.port + 1}:5000", realdocker.REGISTRY_IMAGE)  # another port
    assert not registry_containers.is_running(local)
    assert registry_containers.ensure(local) == "replaced"
    assert registry_containers.is_running(local)


def test_upstream_credentials_reach_the_cache_only_through_the_environment(setup, dockerd, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    cfg, _ = setup
    monkeypatch.setenv("DEVCLUSTER_MIRROR_REGISTRY_TEST_USERNAME", "robot")
    monkeypatch.setenv("DEVCLUSTER_MIRROR_REGISTRY_TEST_PASSWORD", "s3cr3t-value")
    argvs: list[list[str]] = []
    real_run = runner.run

    def spy(argv, **kw):  # type: ignore[no-untyped-def]
        argvs.append([str(a) for a in argv])
        return real_run(argv, **kw)

    monkeypatch.setattr(runner, "run", spy)
    (cache,) = mirrors(cfg.registry)
    registry_containers.ensure(cache)
    env = inspect(dockerd, cache.name)["Config"]["Env"]
    assert "REGISTRY_PROXY_PASSWORD=s3cr3t-value" in env and "REGISTRY_PROXY_USERNAME=robot" in env
    run_argv = next(a for a in argvs if a[:2] == ["docker", "run"])
    assert "REGISTRY_PROXY_PASSWORD" in run_argv  # the bare name: docker takes the value from its environment
    assert not any("s3cr3t-value" in arg for a in argvs for arg in a)


def test_the_containers_join_the_kind_network_and_purge_removes_the_volumes(setup, dockerd) -> None:  # type: ignore[no-untyped-def]
    cfg, ctx = setup
    execute(container_steps(cfg), ctx)
    dockerd.docker("network", "create", "kind")  # what `kind create cluster` makes
    try:
        steps = network_step(cfg)
        assert [o.status for o in execute(steps, ctx)] == ["ran"]
        for name in ("devcluster-registry", "devcluster-mirror-registry-test"):
            assert "kind" in inspect(dockerd, name)["NetworkSettings"]["Networks"]
        assert [o.status for o in execute(steps, ctx)] == ["done"]
        assert remove_containers(cfg, purge=False) == []
        removed = remove_containers(cfg, purge=True)
        assert "volume devcluster-registry-data" in removed and "volume devcluster-mirror-registry-test-data" in removed
        volumes = dockerd.docker("volume", "ls", "-q").stdout.decode().split()
        assert "devcluster-registry-data" not in volumes
    finally:
        dockerd.docker("network", "rm", "kind", check=False)


def test_down_purge_registry_removes_the_containers_and_volumes(setup, dockerd, write_config) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from devcluster.cli import app

    cfg, ctx = setup
    execute(container_steps(cfg), ctx)
    path = Path(cfg.source)
    path.write_text(path.read_text() + "provider: existing\nhosts:\n  manage: false\n")
    from devcluster.local import pushed_images

    pushed_images.record(ctx.state, {f"localhost:{cfg.registry.port}/lib/app:v1": "sha256:" + "0" * 64})
    kept = CliRunner().invoke(app, ["down", "--config", str(path)])
    assert kept.exit_code == 0, kept.output
    assert pushed_images.pushed(ctx.state), "down keeps the registry, and so the record of what it holds"
    assert "devcluster-registry-data" in dockerd.docker("volume", "ls", "-q").stdout.decode().split()
    purged = CliRunner().invoke(app, ["down", "--config", str(path), "--purge-registry"])
    assert purged.exit_code == 0, purged.output
    assert "removed volume devcluster-registry-data" in purged.output
    assert pushed_images.pushed(ctx.state) == {}, "the stack must not name images the purge removed"
    assert dockerd.docker("ps", "-aq").stdout.decode().split() == []
    assert dockerd.docker("volume", "ls", "-q").stdout.decode().split() == []


def uploads(dockerd: Dockerd) -> int:
    """Blob uploads and manifest writes the local registry logged (docker push's PATCH/PUT requests)."""
    logs = dockerd.docker("logs", "devcluster-registry").stdout.decode() + \
        dockerd.docker("logs", "devcluster-registry").stderr.decode()
    return sum(1 for line in logs.splitlines() if '"PUT /v2/' in line or '"PATCH /v2/' in line)


def image_loading_accept() -> str:
    from devcluster.providers.image_loading import ACCEPT

    return ACCEPT


def import_image(dockerd: Dockerd, tmp_path: Path, ref: str, payload: bytes) -> None:
    import tarfile

    src = tmp_path / "payload.bin"
    src.write_bytes(payload)
    tar_path = tmp_path / "image.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(str(src), "payload.bin")
    dockerd.docker("import", str(tar_path), ref)


def test_image_load_pushes_to_the_local_registry_and_skips_an_unchanged_image(setup, dockerd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devcluster.providers.image_loading import push_images

    cfg, ctx = setup
    execute(container_steps(cfg), ctx)
    ref = "ghcr.io/forail-platform/forail-backend:dev"
    import_image(dockerd, tmp_path, ref, b"a" * 50_000)
    said: list[str] = []
    assert push_images(cfg, [ref], said.append) == [f"localhost:{cfg.registry.port}/forail-platform/forail-backend:dev"]
    first = uploads(dockerd)
    assert first > 0 and "pushed as" in said[-1]
    push_images(cfg, [ref], said.append)
    assert uploads(dockerd) == first, "an unchanged image sends nothing"
    assert "unchanged" in said[-1]
    import_image(dockerd, tmp_path, ref, b"b" * 50_000)  # rebuilt: a new layer
    push_images(cfg, [ref], said.append)
    assert uploads(dockerd) > first and "pushed as" in said[-1]


def test_doctor_says_a_registry_port_is_free_ours_or_taken(setup, dockerd) -> None:  # type: ignore[no-untyped-def]
    from devcluster.providers.kind import busy_ports
    from devcluster.providers.registry_steps import port_findings

    cfg, ctx = setup
    assert [f.detail.endswith("is free") for f in port_findings(cfg, busy_ports)] == [True, True]
    execute(container_steps(cfg), ctx)
    assert all(f.ok and f.detail.endswith("'s") for f in port_findings(cfg, busy_ports))
    dockerd.docker("rm", "-f", "devcluster-registry")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", cfg.registry.port))
        squatter.listen()
        local = port_findings(cfg, busy_ports)[0]
        with pytest.raises(DevclusterError, match=r"devcluster-registry: 127\.0\.0\.1:\d+ is taken by something else"):
            refuse_taken_ports(cfg, busy_ports)  # kind's and Vagrant's preflight: before anything is made
    assert not local.ok and "taken by something else" in local.detail
    refuse_taken_ports(cfg, busy_ports)  # free again, and the cache's port is its own


def test_a_restarting_cache_holds_its_own_port(setup, dockerd, write_config) -> None:  # type: ignore[no-untyped-def]
    """An offline cache (upstream a closed port on the test's own bridge) restarts over and over and does not
    answer; a busy port of its own is still its own, not 'taken by something else' (which would fail
    preflight). Whether docker-proxy holds the port at a given instant depends on where the restart loop is,
    so the port probe here answers "busy" (the question under test is whose it is)."""
    from devcluster.providers.registry_steps import port_findings

    cfg, ctx = setup
    with socket.socket() as s:
        s.bind((BRIDGE_ADDRESS, 0))
        closed = s.getsockname()[1]
    offline = load(write_config(
        f"registry:\n  enabled: false\n  port: {cfg.registry.port}\n  image: {realdocker.REGISTRY_IMAGE}\n"
        f"  mirrors:\n    enabled: true\n    upstreams: [registry.test]\n"
        f"    remotes:\n      registry.test: http://{BRIDGE_ADDRESS}:{closed}\n"))
    execute(container_steps(offline), Context(offline, ctx.state, ctx.console, KindProvider(offline, ctx.state)))
    (cache,) = mirrors(offline.registry)
    assert not registry_containers.answers(cache), "the cache must be the one that does not answer"
    (finding,) = port_findings(offline, lambda address, ports: list(ports))
    assert finding.ok and finding.detail.endswith(f"is {cache.name}'s"), finding


# ----------------------------------------------------------------- published on a second address (Vagrant)
# 127.0.0.2 stands in for the host-only address 192.168.56.1 the VMs reach this machine at: any 127/8 address
# is on loopback here, and docker can publish on it like on a vboxnetN address, with no packet leaving.
SECOND = "127.0.0.2"


def bindings(dockerd: Dockerd, name: str) -> set[str]:
    ports = inspect(dockerd, name)["HostConfig"]["PortBindings"]["5000/tcp"]
    return {f"{b['HostIp']}:{b['HostPort']}" for b in ports}


def answers_on(address: str, port: int) -> bool:
    with urllib.request.urlopen(f"http://{address}:{port}/v2/", timeout=5) as resp:
        return resp.status == 200


def test_a_container_published_on_a_second_address_is_left_alone_by_a_loopback_only_ensure(setup, dockerd) -> None:  # type: ignore[no-untyped-def]
    """A Vagrant cluster's containers publish on 127.0.0.1 and the host-only address; a kind `up` on the same
    machine (127.0.0.1 only) must not strip the VMs' binding."""
    cfg, _ = setup
    (local,) = [c for c in containers(cfg.registry) if not c.upstream]
    both = local.published_on(SECOND)
    assert both.addresses == ("127.0.0.1", SECOND)
    assert registry_containers.ensure(both) == "created"
    assert bindings(dockerd, local.name) == {f"127.0.0.1:{local.port}", f"{SECOND}:{local.port}"}
    assert answers_on(SECOND, local.port) and answers_on("127.0.0.1", local.port)
    container_id = inspect(dockerd, local.name)["Id"]
    assert registry_containers.is_running(local), "publishing on more than asked is what kind wants too"
    assert registry_containers.ensure(local) == "started"
    assert inspect(dockerd, local.name)["Id"] == container_id
    assert bindings(dockerd, local.name) == {f"127.0.0.1:{local.port}", f"{SECOND}:{local.port}"}


def test_a_kind_style_replace_for_another_image_keeps_the_second_address(setup, dockerd) -> None:  # type: ignore[no-untyped-def]
    """A kind `up` asking for another registry image replaces the container; the Vagrant cluster's binding on
    the second address stays (the address is still on this machine), so its VMs keep their caches."""
    import dataclasses

    cfg, _ = setup
    (local,) = [c for c in containers(cfg.registry) if not c.upstream]
    registry_containers.ensure(local.published_on(SECOND))
    other = "devcluster-test/registry:other"
    dockerd.docker("tag", realdocker.REGISTRY_IMAGE, other)
    assert registry_containers.ensure(dataclasses.replace(local, image=other)) == "replaced"
    assert inspect(dockerd, local.name)["Config"]["Image"] == other
    assert bindings(dockerd, local.name) == {f"127.0.0.1:{local.port}", f"{SECOND}:{local.port}"}
    assert answers_on(SECOND, local.port)


def test_a_container_lacking_the_second_address_is_replaced_keeping_its_networks_and_data(setup, dockerd,  # type: ignore[no-untyped-def]
                                                                                         tmp_path) -> None:
    """What `registry-hostonly` does after the first VM made the host-only interface: the kind-made container
    (127.0.0.1, on the `kind` network) is replaced by one on both addresses, still on `kind`, same volume."""
    from devcluster.providers.registry_steps import rebind_step

    cfg, ctx = setup
    execute(container_steps(cfg), ctx)  # what kind's `up` made
    dockerd.docker("network", "create", "kind")
    try:
        execute(network_step(cfg), ctx)
        ref = f"127.0.0.1:{cfg.registry.port}/lib/kept:v1"
        skopeo_push(oci_layout(tmp_path / "oci", "v1", 10_000), "v1", ref)
        steps = rebind_step(cfg, "registry-hostonly", SECOND, "the VMs reach them there")
        assert [o.status for o in execute(steps, ctx)] == ["ran"]
        for c in containers(cfg.registry):
            assert bindings(dockerd, c.name) == {f"127.0.0.1:{c.port}", f"{SECOND}:{c.port}"}
            assert "kind" in inspect(dockerd, c.name)["NetworkSettings"]["Networks"], c.name
            assert answers_on(SECOND, c.port)
        with urllib.request.urlopen(f"http://{SECOND}:{cfg.registry.port}/v2/lib/kept/tags/list", timeout=5) as resp:
            assert json.loads(resp.read())["tags"] == ["v1"], "the data is in the volume, which stays"
        assert [o.status for o in execute(steps, ctx)] == ["done"]
        assert [o.status for o in execute(container_steps(cfg) + network_step(cfg), ctx)] == ["done"] * 3, \
            "a later kind `up` keeps the second binding"
        assert bindings(dockerd, "devcluster-registry") == {f"127.0.0.1:{cfg.registry.port}",
                                                             f"{SECOND}:{cfg.registry.port}"}
    finally:
        remove_containers(cfg, purge=True)
        dockerd.docker("network", "rm", "kind", check=False)


class RecordingSession:
    """A VM's SSH session as the provider uses it (no VM runs here: a recording stand-in). ``pointed``: whether
    the node's runtime is pointed at the local registry (the probe's exit status); streamed imports are
    counted with their bytes (a real `docker save` feeds them)."""

    def __init__(self, pointed: bool, log: list[tuple[str, list[str], int]]) -> None:
        self.pointed, self.log = pointed, log

    def __enter__(self) -> RecordingSession:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, command: list[str], sudo: bool = False, check: bool = True, **_: object) -> object:
        from devcluster.clients.ssh import SshResult

        self.log.append(("run", command, 0))
        return SshResult(0 if self.pointed else 1, "", "")

    def run_streaming(self, command: list[str], source, sudo: bool = False, **_: object) -> None:  # type: ignore[no-untyped-def]
        self.log.append(("stream", command, len(source.read())))


@pytest.mark.parametrize("pointed", [True, False], ids=["vms-pull-from-the-registry", "vms-made-without-it"])
def test_vagrant_image_load_pushes_when_the_vms_pull_from_the_registry_else_streams(  # type: ignore[no-untyped-def]
        setup, dockerd, tmp_path, monkeypatch, pointed) -> None:
    """The VMs pull localhost:<port>/... through their hosts.toml: `image load` pushes to the local registry
    (the real docker client and registry) and streams nothing into them. VMs made before the registry was on
    (their runtime not pointed at it: the probe on the first node fails) get the image streamed in instead
    (real `docker save`), since their pods could not pull it. The VMs' SSH sessions are recording stand-ins."""
    from devcluster.clients.ssh import SshTarget
    from devcluster.local import pushed_images
    from devcluster.providers import vagrant as vp

    cfg, ctx = setup
    execute(container_steps(cfg), ctx)
    vcfg = load(None, {"registry.enabled": True, "registry.port": cfg.registry.port,
                       "registry.image": cfg.registry.image, "provider": "vagrant"})
    state = State(vcfg.state_path)
    state.root.mkdir(parents=True, exist_ok=True)
    state.write_json("vagrant.json", {})  # the cluster exists
    log: list[tuple[str, list[str], int]] = []
    provider = vp.VagrantProvider(vcfg, state, vp.HostSeams(connect=lambda target: RecordingSession(pointed, log)))
    targets = {n.name: SshTarget(n.name, "127.0.0.1", 22, "vagrant", ()) for n in provider.nodes}
    monkeypatch.setattr(provider, "ssh_targets", lambda: targets)  # no `vagrant ssh-config` (no VMs)
    vctx = Context(vcfg, state, Console(file=io.StringIO(), width=200), provider)
    ref = "ghcr.io/forail-platform/forail-ui:dev"
    import_image(dockerd, tmp_path, ref, b"u" * 20_000)
    assert provider.load_images(vctx, [ref]) == [n.name for n in provider.nodes]
    assert log[0] == ("run", ["test", "-f", f"/etc/containerd/certs.d/localhost:{cfg.registry.port}/hosts.toml"], 0)
    streamed = [entry for entry in log if entry[0] == "stream"]
    if not pointed:
        assert len(streamed) == len(provider.nodes) and all(size > 20_000 for *_, size in streamed)
        assert pushed_images.pushed(state) == {}
        assert "was made without the registry" in vctx.console.file.getvalue()  # type: ignore[attr-defined]
        return
    assert streamed == []
    local_ref = f"localhost:{cfg.registry.port}/forail-platform/forail-ui:dev"
    assert list(pushed_images.pushed(state)) == [local_ref], "the stack's image values point at what was pushed"
    with urllib.request.urlopen(f"http://127.0.0.1:{cfg.registry.port}/v2/forail-platform/forail-ui/tags/list",
                                timeout=5) as resp:
        assert json.loads(resp.read())["tags"] == ["dev"]
    first = uploads(dockerd)
    provider.load_images(vctx, [ref])
    assert uploads(dockerd) == first, "unchanged: nothing sent"


def test_vagrant_doctor_checks_the_registry_ports(setup, dockerd, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from devcluster.providers import vagrant as vp
    from devcluster.providers.doctor import busy_ports

    cfg, ctx = setup
    vcfg = load(None, {"registry.enabled": True, "registry.port": cfg.registry.port,
                       "registry.image": cfg.registry.image, "provider": "vagrant"})
    seams = vp.HostSeams(networks_conf=tmp_path / "none", memory_mib=lambda: None,
                         proc_modules=tmp_path / "none", libvirtd_active=lambda: False, busy_ports=busy_ports)
    provider = vp.VagrantProvider(vcfg, State(vcfg.state_path), seams)
    (free,) = [f for f in provider.doctor_checks() if f.what == "devcluster-registry"]
    assert free.ok and free.detail == f"127.0.0.1:{cfg.registry.port} is free"
    execute(container_steps(cfg), ctx)
    (ours,) = [f for f in provider.doctor_checks() if f.what == "devcluster-registry"]
    assert ours.ok and ours.detail.endswith("is devcluster-registry's")


@needs_helm
def test_image_load_via_kind_points_the_forail_images_at_the_local_registry_with_real_helm(  # type: ignore[no-untyped-def]
        setup, dockerd, tmp_path, monkeypatch) -> None:
    """`image load` (KindProvider.load_images; `kind` itself is a recording stand-in on PATH, since no kind
    cluster runs here: it only answers `get clusters` / `get nodes`) pushes through the real docker to the
    real registry container, and `stack install --image-tag dev` then renders (real helm) the backend from
    localhost:<port>/...:dev, while the frontend, never pushed at that tag, keeps the chart's repository."""
    from devcluster.stages import stack

    cfg, ctx = setup
    execute(container_steps(cfg), ctx)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kind").write_text(f"#!/bin/sh\necho \"$*\" >> {tmp_path}/kind.calls\n"
                                 f"case \"$*\" in 'get clusters') echo {cfg.name} ;; 'get nodes'*) "
                                 f"echo {cfg.name}-control-plane ;; esac\n")
    (bindir / "kind").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    ref = "ghcr.io/forail-platform/forail-backend:dev"
    import_image(dockerd, tmp_path, ref, b"c" * 20_000)
    ctx.provider.load_images(ctx, [ref])
    assert "load" not in (tmp_path / "kind.calls").read_text(), "with the registry on, nothing is archived"
    port = cfg.registry.port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/forail-platform/forail-backend/tags/list") as r:
        assert json.load(r)["tags"] == ["dev"], "the real registry holds the pushed tag"

    cfg.stack.image_tag = "dev"
    rel = cfg.stack.releases[0]
    layers = stack._user_layers(cfg, rel, stack.pushed_images.pushed(ctx.state))
    objs = render(tmp_path, "forail-test", values_for(cfg, tmp_path), layers)
    images = {name: d["spec"]["template"]["spec"]["containers"][0]["image"] for (kind, name), d in objs.items()
              if kind == "Deployment"}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/forail-platform/forail-backend/manifests/dev",
                                 method="HEAD", headers={"Accept": image_loading_accept()})
    with urllib.request.urlopen(req) as r:
        served = r.headers["Docker-Content-Digest"]
    assert images["forail-web"] == f"localhost:{port}/forail-platform/forail-backend:dev@{served}", images
    assert images["forail-frontend"] == "ghcr.io/forail-platform/forail-frontend:dev", images
    cfg.registry.enabled = False  # the record only counts while the registry is on
    plain = stack._user_layers(cfg, rel, stack.pushed_images.pushed(ctx.state))
    assert "repository" not in plain["images"]["backend"]


def test_status_shows_each_container_its_address_and_disk_use(setup, dockerd, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What `status` reports of the registry and the caches comes from the real docker: made or not, running
    or stopped, the published address, and the disk use of the volume (docker's own figure) or the storage
    dir; and `devcluster status` prints it even when the cluster itself is not there."""
    from typer.testing import CliRunner

    from devcluster.cli import app
    from devcluster.reports.status import registry_section

    cfg, ctx = setup
    before = registry_section(ctx)["containers"]
    assert [c["state"] for c in before] == ["absent", "absent"]
    execute(container_steps(cfg), ctx)
    ref = "ghcr.io/forail-platform/forail-backend:dev"
    import_image(dockerd, tmp_path, ref, os.urandom(2_000_000))
    from devcluster.providers.image_loading import push_images

    push_images(cfg, [ref], lambda line: None)
    dockerd.docker("stop", "devcluster-mirror-registry-test")
    local, cache = registry_section(ctx)["containers"]
    assert local["state"] == "running" and local["role"] == "local registry"
    assert f"127.0.0.1:{cfg.registry.port}->5000/tcp" in local["address"]
    assert local["storage"] == "volume devcluster-registry-data"
    assert local["disk"].endswith("MB") and float(local["disk"][:-2]) >= 1.0, local
    assert cache["state"] == "exited" and cache["role"] == "cache of registry.test"
    assert cache["address"] == f"127.0.0.1:{cfg.registry.port + 1} (not listening)", "docker ps has no Ports for it"

    bindir = tmp_path / "bin"  # recording stand-in for kind: no cluster exists (kind cannot run here)
    bindir.mkdir()
    (bindir / "kind").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "kind").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    res = CliRunner().invoke(app, ["status", "--config", cfg.source, "--output", "json"])
    data = json.loads(res.stdout)
    assert [c["name"] for c in data["registry"]["containers"]] == ["devcluster-registry",
                                                                   "devcluster-mirror-registry-test"]
    assert data["registry"]["advertised"] == f"localhost:{cfg.registry.port}"
    table = CliRunner().invoke(app, ["status", "--config", cfg.source], env={"COLUMNS": "250"}).output
    assert "devcluster-registry" in table and "exited" in table and "volume devcluster-registry-data" in table


def test_a_cache_whose_upstream_does_not_answer_warns_and_up_goes_on(setup, dockerd, write_config) -> None:  # type: ignore[no-untyped-def]
    """Offline (here: the upstream is a port nothing listens on, on the test's own bridge) the real
    distribution cache exits at start and docker restarts it. That must not fail `up`: containerd pulls from
    the upstream meanwhile. The step warns within seconds (not the 30 s answer timeout) and a re-run only
    checks; the local registry, which has no fallback, is unaffected."""
    import time

    cfg, ctx = setup
    port = cfg.registry.port
    with socket.socket() as s:
        s.bind((BRIDGE_ADDRESS, 0))
        closed = s.getsockname()[1]  # released again: nothing listens there
    offline = load(write_config(
        f"registry:\n  enabled: true\n  port: {port}\n  image: {realdocker.REGISTRY_IMAGE}\n"
        f"  mirrors:\n    enabled: true\n    upstreams: [registry.test]\n"
        f"    remotes:\n      registry.test: http://{BRIDGE_ADDRESS}:{closed}\n"))
    octx = Context(offline, ctx.state, ctx.console, KindProvider(offline, ctx.state))
    started = time.monotonic()
    outcomes = execute(container_steps(offline), octx)
    took = time.monotonic() - started
    assert [o.status for o in outcomes] == ["ran", "ran"]
    said = ctx.console.file.getvalue()  # type: ignore[attr-defined]
    assert "warning:" in said and "devcluster-mirror-registry-test does not answer" in said, said
    assert took < 20, f"the warning came after {took:.1f} s"
    assert [o.status for o in execute(container_steps(offline), octx)] == ["done", "done"], "a re-run only checks"


def test_a_stopped_container_bound_to_an_address_gone_since_is_made_again(setup, dockerd) -> None:  # type: ignore[no-untyped-def]
    """After a host reboot docker cannot start a container bound to the host-only address VirtualBox has not
    made again yet; `docker start` would fail on every `up`. Here the vanished address is on a bridge
    of the test's own (made and deleted by the test; no packet is sent), and the container is made again
    without it, keeping its volume's data."""
    import random as _random

    cfg, _ = setup
    c = containers(cfg.registry)[0]
    link = f"dcdum{_random.randrange(10_000)}"
    address = f"10.252.{_random.randrange(1, 254)}.1"
    subprocess.run(["ip", "link", "add", link, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", link], check=True)
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
        assert registry_containers.ensure(c.published_on(address)) == "created"
        dockerd.docker("stop", c.name)
    finally:
        subprocess.run(["ip", "link", "del", link], check=False)
    assert dockerd.docker("start", c.name, check=False).returncode != 0, "docker cannot start it as it is"
    assert registry_containers.ensure(c) == "replaced"
    doc = inspect(dockerd, c.name)
    assert doc["State"]["Running"] and [b["HostIp"] for b in doc["HostConfig"]["PortBindings"]["5000/tcp"]] == \
        ["127.0.0.1"]
    assert [m["Name"] for m in doc["Mounts"]] == [c.volume]


def test_a_cache_proxying_another_upstream_is_replaced_and_a_failed_run_leaves_nothing(  # type: ignore[no-untyped-def]
        setup, dockerd, upstream) -> None:
    """A changed `mirrors.remotes` (a company mirror after hitting Docker Hub's limit) must reach the cache;
    and a `docker run` that fails to start the container (its port taken) must not leave a half-made one that
    later runs would take for configured."""
    import dataclasses

    cfg, _ = setup
    (cache,) = mirrors(cfg.registry)
    assert registry_containers.ensure(cache) == "created"
    moved = dataclasses.replace(cache, server=upstream.url.rstrip("/") + "/")
    assert "proxies" in registry_containers.mismatch(moved, inspect(dockerd, cache.name))
    assert registry_containers.ensure(moved) == "replaced"
    env = inspect(dockerd, cache.name)["Config"]["Env"]
    assert f"REGISTRY_PROXY_REMOTEURL={moved.server}" in env
    registry_containers.remove(moved, purge=False)
    local = containers(cfg.registry)[0]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", local.port))
        squatter.listen()
        with pytest.raises(CommandError):
            registry_containers.ensure(local)
    assert local.name not in dockerd.docker("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
