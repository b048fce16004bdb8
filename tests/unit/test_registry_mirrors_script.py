"""provisioning/registry-mirrors.sh, the real script run with bash, against a real containerd configuration.

A kubeadm VM's /etc/containerd/config.toml is what common.sh writes: `containerd config default` with
SystemdCgroup on; here that is Debian's real containerd's output, in a scratch root the script is pointed
at with NODE_ROOT (its paths, not the config_path it writes, are prefixed). The only stand-in is the node's
`systemctl` (no systemd manages a containerd here), which records its arguments. Debian's real
`containerd config dump` then reads the result, and a real containerd pulls with `ctr --hosts-dir` through
the installed files from a real docker-registry pull-through cache of a second docker-registry (the
upstream), all on loopback: 127.0.0.1 stands in for the host-only address 192.168.56.1, through
`vagrant.network_prefix: 127.0.0` given to the very function the Vagrant provider renders the files with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devcluster.clients.registry import mirrors
from devcluster.config.schema import RegistryConfig, RegistryMirrorsConfig, VagrantConfig
from devcluster.providers.vagrant.registry import read_tree, vm_hosts_files, write_tree
from tests.realregistry import Containerd, Registry, free_port, oci_layout, skopeo_push
from tests.realregistry import skip_reason as registry_skip_reason

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "provisioning" / "registry-mirrors.sh"
CERTS = "etc/containerd/certs.d"
CONFIG = "etc/containerd/config.toml"
needs_containerd = pytest.mark.skipif(shutil.which("containerd") is None, reason="containerd is not installed")
UPSTREAM = "registry.test"
LOOPBACK_AS_HOST_ONLY = VagrantConfig(network_prefix="127.0.0")  # host address <prefix>.1 = 127.0.0.1


def node_config(root: Path) -> Path:
    """What common.sh leaves: `containerd config default`, SystemdCgroup on."""
    text = subprocess.run(["containerd", "config", "default"], capture_output=True, text=True, check=True,
                          timeout=30).stdout
    assert 'config_path = ""' in text, "the containerd default this script is written against"
    path = root / CONFIG
    path.parent.mkdir(parents=True)
    path.write_text(text.replace("SystemdCgroup = false", "SystemdCgroup = true"))
    return path


def registry_config(port: int = 5001, upstreams: tuple[str, ...] = ("docker.io", "registry.k8s.io"),
                    remotes: dict[str, str] | None = None) -> RegistryConfig:
    return RegistryConfig(enabled=True, port=port, mirrors=RegistryMirrorsConfig(
        enabled=True, upstreams=list(upstreams), remotes=remotes or {}))


def run(tmp_path: Path, root: Path, files: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Upload ``files`` the way the Vagrantfile does (a directory), run the script, return its systemctl calls."""
    upload = tmp_path / "upload"
    write_tree(upload, files)
    upload.mkdir(exist_ok=True)
    bindir = tmp_path / "node-bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / "systemctl.log"
    log.unlink(missing_ok=True)
    (bindir / "systemctl").write_text(f'#!/bin/bash\necho "$*" >> {log}\n')
    (bindir / "systemctl").chmod(0o755)
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", "HOSTS_SOURCE": str(upload), "NODE_ROOT": str(root)})
    assert not upload.exists(), "the upload is removed: the next file provisioner must not nest into it"
    return proc, log.read_text().splitlines() if log.exists() else []


def dump(config: Path) -> str:
    return subprocess.run(["containerd", "--config", str(config), "config", "dump"], capture_output=True, text=True,
                          check=True, timeout=30).stdout


@needs_containerd
def test_the_script_points_real_containerd_at_the_installed_files_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "node"
    config = node_config(root)
    files = vm_hosts_files(registry_config(), VagrantConfig())
    proc, systemctl = run(tmp_path, root, files)
    assert proc.returncode == 0, proc.stderr
    assert 'config_path = "/etc/containerd/certs.d"' in dump(config)  # what the real containerd reads from it
    assert read_tree(root / CERTS) == files
    assert '[host."http://192.168.56.1:5002"]' in files["docker.io/hosts.toml"]
    assert "SystemdCgroup = true" in config.read_text(), "the rest of common.sh's config is kept"
    assert systemctl == ["restart containerd"]

    before = config.read_bytes()
    again, systemctl = run(tmp_path, root, files)
    assert again.returncode == 0, again.stderr
    assert systemctl == [], "nothing changed: containerd is not restarted"
    assert config.read_bytes() == before and read_tree(root / CERTS) == files


@needs_containerd
def test_only_devcluster_files_are_replaced_and_a_dropped_registry_loses_its_file(tmp_path: Path) -> None:
    root = tmp_path / "node"
    node_config(root)
    foreign = root / CERTS / "quay.io" / "hosts.toml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text('server = "https://quay.io"\n')  # somebody else's
    run(tmp_path, root, vm_hosts_files(registry_config(), VagrantConfig()))
    fewer = vm_hosts_files(registry_config(upstreams=("docker.io",)), VagrantConfig())
    proc, systemctl = run(tmp_path, root, fewer)
    assert proc.returncode == 0, proc.stderr
    assert read_tree(root / CERTS) == {**fewer, "quay.io/hosts.toml": 'server = "https://quay.io"\n'}
    assert not (root / CERTS / "registry.k8s.io").exists()
    assert systemctl == ["restart containerd"]


@needs_containerd
def test_a_file_not_written_by_devcluster_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    root = tmp_path / "node"
    config = node_config(root)
    before = config.read_text()
    proc, systemctl = run(tmp_path, root, {"docker.io/hosts.toml": 'server = "https://evil"\n'})
    assert proc.returncode == 2 and "not written by devcluster" in proc.stderr
    assert config.read_text() == before and not (root / CERTS).exists() and systemctl == []


def test_the_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert proc.returncode == 0, proc.stdout


@pytest.mark.skipif(bool(registry_skip_reason()), reason=registry_skip_reason() or "runs")
def test_a_real_containerd_pulls_through_the_cache_with_the_installed_files(tmp_path: Path) -> None:
    """The script's output, end to end: `ctr --hosts-dir <the certs.d it installed>` pulls from the cache, the
    upstream never sees containerd (only the cache fetching the image once), and a second node's pull costs
    the upstream 0 bytes."""
    upstream = Registry(tmp_path / "upstream", free_port()).start()
    cache_port = free_port()
    reg = registry_config(port=cache_port - 1, upstreams=(UPSTREAM,), remotes={UPSTREAM: upstream.url})
    files = vm_hosts_files(reg, LOOPBACK_AS_HOST_ONLY)
    assert f'[host."http://127.0.0.1:{cache_port}"]' in files[f"{UPSTREAM}/hosts.toml"]
    (mirror,) = mirrors(reg)
    cache = Registry(tmp_path / "cache", cache_port, env=mirror.env()).start()  # as the cache container is run
    node, second = Containerd(), Containerd()
    try:
        skopeo_push(oci_layout(tmp_path / "oci", "v1", 200_000), "v1", f"127.0.0.1:{upstream.port}/lib/app:v1")
        root = tmp_path / "node"
        node_config(root)
        proc, _ = run(tmp_path, root, files)
        assert proc.returncode == 0, proc.stderr
        mark, cache_mark = upstream.mark(), cache.mark()
        node.start().pull(f"{UPSTREAM}/lib/app:v1", root / CERTS)
        assert "containerd" in cache.served(cache_mark).agents
        cold = upstream.served(mark)
        assert "containerd" not in cold.agents and cold.bytes > 200_000  # only the cache fetched it
        mark = upstream.mark()
        second.start().pull(f"{UPSTREAM}/lib/app:v1", root / CERTS)  # another VM, same files
        assert upstream.served(mark).bytes == 0, "the second node's pull never reaches the upstream"
    finally:
        second.stop()
        node.stop()
        cache.stop()
        upstream.stop()
