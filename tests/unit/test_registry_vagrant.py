"""Issue 15 on Vagrant: how the VMs are pointed at the local registry and the caches on the host-only address.

What the Vagrantfile declares is read by loading the real Vagrantfile with tests/fixtures/vagrantfile_probe.rb
(a recording stand-in for Vagrant's configuration API; VirtualBox cannot run here) and by Debian's real
`vagrant validate`. The settings and hosts.toml files are the provider's own `vagrant-config` step. The k3s
install is the real K3s.install() through the recording SSH sessions of test_vagrant.py (no VMs here; the
real script runs over real sshd in test_k3s_netns.py).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devcluster import config
from devcluster.clients.registry import hosts_files, k3s_registries, via_host
from devcluster.engine.steps import Context, execute
from devcluster.providers import vagrant as vp
from devcluster.providers.vagrant import registry as vagrant_registry
from tests.unit import test_vagrant
from tests.unit.test_vagrantfile import VAGRANTFILE, machines, needs_ruby, needs_vagrant, probe, settings

vagrant_env = test_vagrant.vagrant_env  # the fixture: fake vagrant, recording SSH sessions, in-memory API server

REGISTRY = {"registry.enabled": True, "registry.mirrors.enabled": True,
            "registry.mirrors.upstreams": ["docker.io", "registry.k8s.io"]}


def hosts_dir(tmp_path: Path) -> Path:
    root = tmp_path / "registry-hosts"
    (root / "docker.io").mkdir(parents=True)
    (root / "docker.io" / "hosts.toml").write_text("# written by devcluster\n")
    return root


def provisioners(vm: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(p["args"][0], p["kwargs"]) for p in vm["provision()"]]


# ----------------------------------------------------------------- the Vagrantfile


@needs_ruby
def test_every_kubeadm_node_uploads_and_installs_the_hosts_files_between_common_and_init(tmp_path: Path) -> None:
    directory = hosts_dir(tmp_path)
    vms = machines(probe(settings(tmp_path, registry_hosts_dir=str(directory))))
    for name, vm in vms.items():
        steps = provisioners(vm)
        names = [n for n, _ in steps]
        expected = ["common", "registry-hosts", "registry-mirrors"]
        expected += ["flannel-manifest", "control-plane-init"] if name == "cp1" else []
        assert names == expected, name
        upload = dict(steps)["registry-hosts"]
        assert upload == {"type": "file", "source": str(directory), "destination": vagrant_registry.HOSTS_UPLOAD}
        script = dict(steps)["registry-mirrors"]
        assert script["type"] == "shell" and script["path"].endswith("/provisioning/registry-mirrors.sh")
        assert Path(script["path"]).is_file()
        assert script["env"] == {"HOSTS_SOURCE": vagrant_registry.HOSTS_UPLOAD}


@needs_ruby
@pytest.mark.parametrize("overrides", [{"registry_hosts_dir": ""}, {"registry_hosts_dir": None},
                                       {"distribution": "k3s", "registry_hosts_dir": "HOSTS"}],
                         ids=["empty", "absent", "k3s"])
def test_no_registry_provisioning_without_the_key_or_on_k3s(tmp_path: Path, overrides: dict[str, Any]) -> None:
    if overrides.get("registry_hosts_dir") == "HOSTS":
        overrides = {**overrides, "registry_hosts_dir": str(hosts_dir(tmp_path))}
    vms = machines(probe(settings(tmp_path, **overrides)))
    for vm in vms.values():
        names = [n for n, _ in provisioners(vm)]
        assert "registry-hosts" not in names and "registry-mirrors" not in names


@needs_vagrant
def test_vagrant_validate_accepts_the_registry_provisioners(tmp_path: Path) -> None:
    """Debian's real Vagrant loads the Vagrantfile with the key set (a wrong provisioner option fails here)."""
    config_path = settings(tmp_path, registry_hosts_dir=str(hosts_dir(tmp_path)))
    env = dict(os.environ, DEVCLUSTER_VAGRANT_CONFIG=str(config_path), VAGRANT_HOME=str(tmp_path / "vagrant.d"),
               VAGRANT_DOTFILE_PATH=str(tmp_path / ".vagrant"), VAGRANT_CHECKPOINT_DISABLE="1")
    proc = subprocess.run([shutil.which("vagrant") or "vagrant", "validate", "--ignore-provider"],
                          cwd=VAGRANTFILE.parent, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout


# ----------------------------------------------------------------- the settings and the hosts.toml directory


def provider_for(base: Context, **overrides: Any) -> Context:
    manifest = base.config.vagrant.flannel_manifest
    cfg = config.load(None, {"provider": "vagrant", "vagrant.flannel_manifest": manifest, **test_vagrant.REGISTRY_OFF,
                             **overrides})
    return Context(cfg, base.state, base.console, vp.VagrantProvider(cfg, base.state, base.provider.seams))


def vagrant_config_step(ctx: Context) -> list[Any]:
    return [s for s in ctx.provider.cluster_steps() if s.name == "vagrant-config"]


def test_vagrant_config_writes_the_hosts_files_for_the_host_only_address_and_notices_a_change(vagrant_env) -> None:  # type: ignore[no-untyped-def]
    ctx = provider_for(vagrant_env, **REGISTRY)
    step = vagrant_config_step(ctx)
    assert [o.status for o in execute(step, ctx)] == ["ran"]
    written = json.loads(ctx.provider.settings_path.read_text())
    directory = Path(written["registry_hosts_dir"])
    assert directory == ctx.state.path("registry-hosts")
    expected = hosts_files(ctx.config.registry, via_host("192.168.56.1"))
    assert vagrant_registry.read_tree(directory) == expected
    assert set(expected) == {"localhost:5001/hosts.toml", "docker.io/hosts.toml", "registry.k8s.io/hosts.toml"}
    assert '[host."http://192.168.56.1:5002"]' in expected["docker.io/hosts.toml"]
    assert [o.status for o in execute(step, ctx)] == ["done"]

    # one upstream fewer: the settings JSON is the same, the files are not; the check notices, the file goes
    fewer = provider_for(vagrant_env, **{**REGISTRY, "registry.mirrors.upstreams": ["docker.io"]})
    assert fewer.provider.settings() == written
    assert [o.status for o in execute(vagrant_config_step(fewer), fewer)] == ["ran"]
    assert set(vagrant_registry.read_tree(directory)) == {"localhost:5001/hosts.toml", "docker.io/hosts.toml"}

    # switched off: the key is empty and the directory gone, so the Vagrantfile provisions nothing of it
    off = provider_for(vagrant_env)
    assert [o.status for o in execute(vagrant_config_step(off), off)] == ["ran"]
    assert json.loads(off.provider.settings_path.read_text())["registry_hosts_dir"] == ""
    assert not directory.exists()


def test_k3s_writes_no_hosts_files_for_provisioning(vagrant_env) -> None:  # type: ignore[no-untyped-def]
    ctx = provider_for(vagrant_env, **REGISTRY, **{"vagrant.distribution": "k3s", "vagrant.k3s_sha256": "0" * 64})
    assert ctx.provider.settings()["registry_hosts_dir"] == ""
    assert ctx.provider.registry_hosts_files() == {}


def test_the_plan_publishes_before_the_first_vm_and_rebinds_after_it(vagrant_env) -> None:  # type: ignore[no-untyped-def]
    ctx = provider_for(vagrant_env, **REGISTRY)
    steps = ctx.provider.cluster_steps()
    names = [s.name for s in steps]
    first = names.index("vm-cp1")
    assert names[first - 3:first] == ["registry", "mirror-docker-io", "mirror-registry-k8s-io"]
    assert names[first + 1] == "registry-hostonly"
    described = {s.name: s.summary for s in steps}
    assert "127.0.0.1:5001 and 192.168.56.1:5001+ if this machine has that address yet" in described["registry"]
    assert "on 192.168.56.1 too (ports 5001, 5002, 5003)" in described["registry-hostonly"]
    start = [s.name for s in ctx.provider.lifecycle().start_steps()]
    assert start.index("registry-hostonly") == start.index("start-vms") + 1
    off = provider_for(vagrant_env)
    assert "registry-hostonly" not in [s.name for s in off.provider.cluster_steps()]
    assert "registry-hostonly" not in [s.name for s in off.provider.lifecycle().start_steps()]


def test_the_containers_publish_on_the_host_only_address_only_when_this_machine_has_it_with_recording_ensure(
        vagrant_env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The seam answers whether 192.168.56.1 exists here (it cannot, on this machine); the container the
    `registry` step ensures follows the answer. docker itself: test_registry_docker.py."""
    from dataclasses import replace

    from devcluster.clients import registry_containers as rc

    asked: list[str] = []
    ensured: list[tuple[str, ...]] = []
    monkeypatch.setattr(rc, "ensure", lambda c, environ=None: ensured.append(c.addresses) or "created")
    cfg = provider_for(vagrant_env, **REGISTRY).config
    for present in (False, True):
        seams = replace(vagrant_env.provider.seams, has_address=lambda a, p=present: asked.append(a) or p)
        provider = vp.VagrantProvider(cfg, vagrant_env.state, seams)
        (step,) = [s for s in provider.cluster_steps() if s.name == "registry"]
        step.action(Context(cfg, vagrant_env.state, vagrant_env.console, provider))
    assert asked == ["192.168.56.1", "192.168.56.1"]
    assert ensured == [("127.0.0.1",), ("127.0.0.1", "192.168.56.1")]


def test_address_present_binds_without_sending_anything() -> None:
    assert vp.host.address_present("127.0.0.1")
    assert not vp.host.address_present("192.0.2.123")  # TEST-NET-1: on no interface of this machine


# ----------------------------------------------------------------- k3s: registries.yaml on stdin


def test_k3s_install_hands_registries_yaml_on_stdin_with_recording_ssh(vagrant_env, fake_tools, fake_api,  # type: ignore[no-untyped-def]
                                                                       tmp_path) -> None:
    import hashlib

    binary = tmp_path / "k3s"
    binary.write_bytes(b"fake k3s binary")
    fake_api.objects.clear()
    ctx = provider_for(vagrant_env, **REGISTRY, **{
        "vagrant.distribution": "k3s", "vagrant.k3s_binary": str(binary),
        "vagrant.k3s_sha256": hashlib.sha256(binary.read_bytes()).hexdigest(), "timeouts.nodes_ready": 5})
    steps = [s for s in ctx.provider.cluster_steps() if not s.name.startswith(("registry", "mirror-"))]
    execute(steps, ctx)
    installs = [c for c in fake_tools.calls("ssh") if c["argv"][1] == "k3s-install.sh"]
    assert [c["argv"][0] for c in installs] == ["cp1", "cp2", "w1", "w2"]
    token = ctx.state.path("k3s-token").read_text().strip()
    wanted = k3s_registries(ctx.config.registry, via_host("192.168.56.1"))
    for call in installs:
        lines = dict(line.split("=", 1) for line in call["stdin"].splitlines())
        assert lines["TOKEN"] == token
        assert yaml.safe_load(base64.b64decode(lines["REGISTRIES_YAML_B64"])) == wanted
        assert "REGISTRIES" not in json.dumps(call["env"]) and "192.168.56.1" not in json.dumps(call["args"])
    assert wanted["mirrors"]["docker.io"] == {"endpoint": ["http://192.168.56.1:5002"]}


def test_k3s_install_sends_only_the_token_when_the_registry_is_off(vagrant_env) -> None:  # type: ignore[no-untyped-def]
    ctx = provider_for(vagrant_env, **{"vagrant.distribution": "k3s", "vagrant.k3s_sha256": "0" * 64})
    distribution = ctx.provider.distribution
    assert distribution.install_stdin() == f"TOKEN={distribution.token()}\n"


def test_the_kep_1755_document_names_the_host_only_address_for_pods(vagrant_env, fake_api) -> None:  # type: ignore[no-untyped-def]
    """Pods on the VMs cannot resolve the container's name (there is no `kind` network): they reach the
    registry where the VMs' containerd does. The plan's step, applied to the in-memory API server."""
    from devcluster.plan import up_steps

    ctx = provider_for(vagrant_env, **REGISTRY)
    fake_api.write_kubeconfig(ctx.state.kubeconfig, ctx.provider.access().context or "")
    steps = [s for s in up_steps(ctx.config, ctx.provider, skip_stack=True) if s.name == "registry-hosting"]
    assert [o.status for o in execute(steps, ctx)] == ["ran"]
    cm = fake_api.get("v1", "configmaps", "local-registry-hosting", "kube-public")
    doc = yaml.safe_load(cm["data"]["localRegistryHosting.v1"])
    assert doc["hostFromClusterNetwork"] == "192.168.56.1:5001" and doc["hostFromContainerRuntime"] == "localhost:5001"


def test_without_docker_on_this_machine_the_vms_pull_from_the_upstreams_and_the_plan_says_so(vagrant_env) -> None:  # type: ignore[no-untyped-def]
    """VirtualBox needs no Docker, and the registry is on by default: a Vagrant host without a docker client
    gets no registry steps, no hosts.toml and no KEP-1755 document (rather than an `up` failing at
    `registry`), and the plan and preflight say why."""
    import dataclasses

    from devcluster.plan import up_steps

    seams = dataclasses.replace(vagrant_env.provider.seams, has_docker=lambda: False)
    manifest = vagrant_env.config.vagrant.flannel_manifest
    cfg = config.load(None, {"provider": "vagrant", "vagrant.flannel_manifest": manifest})
    provider = vp.VagrantProvider(cfg, vagrant_env.state, seams)
    names = [s.name for s in up_steps(cfg, provider, skip_stack=True)]
    assert not {"registry", "mirror-docker-io", "registry-hostonly", "registry-hosting"} & set(names), names
    assert provider.registry_containers() == [] and provider.registry_hosts_files() == {}
    preflight = next(s for s in provider.cluster_steps() if s.name == "preflight")
    assert "no docker on this machine" in preflight.summary
    with_docker = vp.VagrantProvider(cfg, vagrant_env.state, dataclasses.replace(seams, has_docker=lambda: True))
    assert "registry-hostonly" in [s.name for s in with_docker.cluster_steps()]
