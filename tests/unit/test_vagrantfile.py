"""vagrant/Vagrantfile and provisioning/common.sh: VirtualBox customizations, boot_timeout, the k3s/kubeadm split.

The settings JSON is written here the way devcluster writes it (its provider code is not imported), then read by
the real Vagrantfile: through `ruby tests/fixtures/vagrantfile_probe.rb` (a recording stand-in for Vagrant's
configuration API) and through Debian's `vagrant validate --ignore-provider` (VirtualBox cannot run here).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VAGRANTFILE = REPO / "vagrant" / "Vagrantfile"
PROBE = REPO / "tests" / "fixtures" / "vagrantfile_probe.rb"
COMMON = REPO / "provisioning" / "common.sh"

needs_ruby = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby (comes with vagrant) is not installed")
needs_vagrant = pytest.mark.skipif(shutil.which("vagrant") is None, reason="vagrant is not installed")

# The profiles' node counts: control planes at 192.168.56.11+, workers at .31+.
LAYOUTS = {"standard": (2, 2), "full": (3, 4), "minimal": (1, 1), "single": (1, 0)}


def layout(control_planes: int, workers: int) -> list[dict[str, Any]]:
    cps = [{"name": f"cp{i}", "role": "control-plane", "ip": f"192.168.56.{10 + i}", "memory": 4096, "cpus": 2}
           for i in range(1, control_planes + 1)]
    ws = [{"name": f"w{i}", "role": "worker", "ip": f"192.168.56.{30 + i}", "memory": 2048, "cpus": 1}
          for i in range(1, workers + 1)]
    return cps + ws


def settings(tmp_path: Path, **overrides: Any) -> Path:
    """The JSON devcluster writes for DEVCLUSTER_VAGRANT_CONFIG (a key overridden with None is left out)."""
    kubeadm = overrides.get("distribution", "kubeadm") in ("kubeadm", None)  # None: key absent, the default
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("kind: List\n")
    serial = tmp_path / "serial"
    serial.mkdir(exist_ok=True)  # devcluster creates it before `vagrant up`; the Vagrantfile never does
    data: dict[str, Any] = {
        "box": "bento/ubuntu-22.04",
        "box_version": "202401.31.0",
        "box_url": "",
        "kubernetes_package_version": "1.30.14-1.1",
        "kubernetes_apt_repo": "https://pkgs.k8s.io/core:/stable:/v1.30/deb/",
        "control_plane_endpoint": "k8s-api.devcluster",
        "pod_cidr": "10.244.0.0/16",
        "flannel_manifest": str(manifest) if kubeadm else "",
        "nodes": layout(*LAYOUTS["standard"]),
        "boot_timeout": 180,
        "serial_log_dir": str(serial),
        "distribution": "kubeadm",
        "virtualbox_tweaks": True,
    }
    data.update(overrides)
    path = tmp_path / "vagrant.json"
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    return path


def run_probe(config: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEVCLUSTER_VAGRANT_CONFIG=str(config))
    return subprocess.run(["ruby", str(PROBE), str(VAGRANTFILE)], env=env, capture_output=True, text=True, timeout=60)


def probe(config: Path) -> dict[str, Any]:
    proc = run_probe(config)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def machines(recorded: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["args"][0]: d["block"]["vm"] for d in recorded["vm"]["define()"]}


def customizations(machine: dict[str, Any]) -> list[list[Any]]:
    (virtualbox,) = machine["provider()"]
    assert virtualbox["args"] == ["virtualbox"]
    assert all(c["event"] == "pre-boot" for c in virtualbox.get("customize", []))
    return [c["command"] for c in virtualbox.get("customize", [])]


def provisioners(machine: dict[str, Any]) -> list[str]:
    return [p["args"][0] for p in machine["provision()"]]


# ----------------------------------------------------------------- VirtualBox customizations, boot_timeout


@needs_ruby
def test_every_vm_gets_the_virtualbox_tweaks_with_its_own_serial_log(tmp_path: Path) -> None:
    config = settings(tmp_path, nodes=layout(*LAYOUTS["full"]))
    vms = machines(probe(config))
    assert list(vms) == ["cp1", "cp2", "cp3", "w1", "w2", "w3", "w4"]
    for name, vm in vms.items():
        assert customizations(vm) == [
            ["modifyvm", ":id", "--paravirtprovider", "legacy"],
            ["modifyvm", ":id", "--graphicscontroller", "vboxvga"],
            ["modifyvm", ":id", "--vram", "16"],
            ["modifyvm", ":id", "--uart1", "0x3F8", "4"],
            ["modifyvm", ":id", "--uartmode1", "file", str(tmp_path / "serial" / f"{name}-serial.log")],
        ], name
    assert not (tmp_path / "serial" / "cp1-serial.log").exists(), "VirtualBox writes it, not the Vagrantfile"


@needs_ruby
def test_without_virtualbox_tweaks_nothing_is_customized(tmp_path: Path) -> None:
    vms = machines(probe(settings(tmp_path, virtualbox_tweaks=False)))
    assert all(customizations(vm) == [] for vm in vms.values())
    assert vms["w1"]["provider()"][0]["block"] == {"name": "devcluster-w1", "memory": 2048, "cpus": 1,
                                                   "linked_clone": True}


@needs_ruby
@pytest.mark.parametrize("configured,expected", [(180, 180), (240, 240), (None, 180)],
                         ids=["devcluster-default", "configured", "key-absent"])
def test_boot_timeout_reaches_vagrant(tmp_path: Path, configured: int | None, expected: int) -> None:
    assert probe(settings(tmp_path, boot_timeout=configured))["vm"]["boot_timeout"] == expected


@needs_ruby
def test_a_settings_file_without_the_new_keys_gets_the_defaults(tmp_path: Path) -> None:
    """An older devcluster's JSON: kubeadm, 180 s, tweaks on, serial logs under the temporary directory."""
    config = settings(tmp_path, boot_timeout=None, serial_log_dir=None, distribution=None, virtualbox_tweaks=None)
    recorded = probe(config)
    tmpdir = subprocess.run(["ruby", "-rtmpdir", "-e", "print Dir.tmpdir"], capture_output=True, text=True,
                            timeout=30, check=True).stdout
    vms = machines(recorded)
    assert recorded["vm"]["boot_timeout"] == 180
    assert customizations(vms["w2"])[-1][-1] == str(Path(tmpdir) / "devcluster-serial" / "w2-serial.log")
    assert provisioners(vms["cp1"]) == ["common", "flannel-manifest", "control-plane-init"]
    assert vms["cp1"]["provision()"][0]["kwargs"]["env"]["DISTRIBUTION"] == "kubeadm"


@needs_ruby
@pytest.mark.parametrize("key,value,message", [
    ("distribution", "microk8s", "distribution must be kubeadm or k3s"),
    ("boot_timeout", "180", "boot_timeout must be a positive integer"),
    ("boot_timeout", 0, "boot_timeout must be a positive integer"),
    ("serial_log_dir", "state/serial", "serial_log_dir must be an absolute path"),
    ("virtualbox_tweaks", "false", "virtualbox_tweaks must be true or false"),
])
def test_the_vagrantfile_refuses_bad_values(tmp_path: Path, key: str, value: Any, message: str) -> None:
    proc = run_probe(settings(tmp_path, **{key: value}))
    assert proc.returncode != 0 and message in proc.stderr


# ----------------------------------------------------------------- kubeadm and k3s


@needs_ruby
def test_k3s_vms_get_only_common_sh(tmp_path: Path) -> None:
    """devcluster installs k3s over SSH once the VMs are up: no kubeadm init, no Flannel manifest here."""
    vms = machines(probe(settings(tmp_path, distribution="k3s", nodes=layout(*LAYOUTS["full"]))))
    for name, vm in vms.items():
        assert provisioners(vm) == ["common"], name
        (common,) = vm["provision()"]
        assert common["kwargs"]["path"] == str(COMMON)
        env = common["kwargs"]["env"]
        assert env["DISTRIBUTION"] == "k3s" and env["CONTROL_PLANE_IP"] == "192.168.56.11"
        assert env["CONTROL_PLANE_ENDPOINT"] == "k8s-api.devcluster"
    assert vms["w3"]["provision()"][0]["kwargs"]["env"]["NODE_IP"] == "192.168.56.33"


@needs_ruby
def test_kubeadm_cp1_also_gets_flannel_and_control_plane_init(tmp_path: Path) -> None:
    vms = machines(probe(settings(tmp_path, distribution="kubeadm")))
    assert provisioners(vms["cp1"]) == ["common", "flannel-manifest", "control-plane-init"]
    assert provisioners(vms["cp2"]) == provisioners(vms["w1"]) == provisioners(vms["w2"]) == ["common"]
    env = vms["w2"]["provision()"][0]["kwargs"]["env"]
    assert env == {"DISTRIBUTION": "kubeadm", "NODE_IP": "192.168.56.32", "CONTROL_PLANE_IP": "192.168.56.11",
                   "CONTROL_PLANE_ENDPOINT": "k8s-api.devcluster", "K8S_PACKAGE_VERSION": "1.30.14-1.1",
                   "K8S_APT_REPO": "https://pkgs.k8s.io/core:/stable:/v1.30/deb/"}
    flannel = vms["cp1"]["provision()"][1]["kwargs"]
    assert flannel == {"type": "file", "source": str(tmp_path / "kube-flannel.yml"),
                       "destination": "/tmp/kube-flannel.yml"}


# ----------------------------------------------------------------- vagrant validate


@needs_vagrant
@pytest.mark.parametrize("distribution", ["kubeadm", "k3s"])
@pytest.mark.parametrize("profile", list(LAYOUTS))
def test_vagrant_validate_accepts_every_layout(tmp_path: Path, profile: str, distribution: str) -> None:
    config = settings(tmp_path, distribution=distribution, nodes=layout(*LAYOUTS[profile]))
    env = dict(os.environ, DEVCLUSTER_VAGRANT_CONFIG=str(config), VAGRANT_DOTFILE_PATH=str(tmp_path / ".vagrant"),
               VAGRANT_HOME=str(tmp_path / "vagrant.d"), VAGRANT_CHECKPOINT_DISABLE="1")
    # --ignore-provider: VirtualBox's own options (the customizations) are not checked without VirtualBox.
    proc = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=VAGRANTFILE.parent, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout
    assert proc.stdout.count("Ignoring provider config") == sum(LAYOUTS[profile])


# ----------------------------------------------------------------- common.sh


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_common_sh_is_shellcheck_clean() -> None:
    proc = subprocess.run(["shellcheck", "--shell=bash", str(COMMON)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout


def run_common(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """common.sh with a stand-in `ip` that reports a different eth1 address: the script stops at that check,
    right after its environment checks, before it changes anything on this machine."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "ip").write_text("#!/bin/sh\necho '3: eth1    inet 10.99.0.1/24 brd 10.99.0.255 scope global eth1'\n")
    (bindir / "ip").chmod(0o755)
    base = {"NODE_IP": "192.168.56.31", "CONTROL_PLANE_ENDPOINT": "k8s-api.devcluster",
            "CONTROL_PLANE_IP": "192.168.56.11"}
    return subprocess.run(["bash", str(COMMON)], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bindir}:/usr/bin:/bin", **base, **env})


@pytest.mark.parametrize("env,passes_env_checks,message", [
    ({"DISTRIBUTION": "k3s"}, True, ""),
    ({}, False, "K8S_PACKAGE_VERSION"),
    ({"DISTRIBUTION": "kubeadm", "K8S_PACKAGE_VERSION": "1.30.14-1.1"}, False, "K8S_APT_REPO"),
    ({"K8S_PACKAGE_VERSION": "1.30.14-1.1", "K8S_APT_REPO": "https://pkgs.k8s.io/x/"}, True, ""),
    ({"DISTRIBUTION": "microk8s"}, False, "DISTRIBUTION must be kubeadm or k3s"),
], ids=["k3s-needs-no-packages", "kubeadm-default-needs-version", "kubeadm-needs-repo", "kubeadm", "unknown"])
def test_common_sh_requires_the_package_pins_only_for_kubeadm(tmp_path: Path, env: dict[str, str],
                                                               passes_env_checks: bool, message: str) -> None:
    proc = run_common(tmp_path, env)
    assert proc.returncode != 0
    if passes_env_checks:
        assert "eth1 has '10.99.0.1', expected 192.168.56.31" in proc.stderr
    else:
        assert message in proc.stderr and "eth1 has" not in proc.stderr


def grub_dropin() -> str:
    match = re.search(r"<<'GRUB'\n(.*?)\nGRUB\n", COMMON.read_text(), re.S)
    assert match, "common.sh writes its GRUB drop-in from a <<'GRUB' here-document"
    return match.group(1) + "\n"


@pytest.mark.parametrize("linux,expected", [
    ("net.ifnames=0 biosdevname=0", "net.ifnames=0 biosdevname=0 console=ttyS0,115200n8"),
    ("", "console=ttyS0,115200n8"),
])
def test_the_grub_drop_in_appends_the_serial_console_to_grub_cmdline_linux(tmp_path: Path, linux: str,
                                                                            expected: str) -> None:
    """Sourced the way grub-mkconfig does (/etc/default/grub, then grub.d/*.cfg, with /bin/sh): the console lands
    on GRUB_CMDLINE_LINUX, which precedes _DEFAULT on the kernel line, and _DEFAULT (here with a ';') is untouched."""
    (tmp_path / "grub").write_text(f'GRUB_CMDLINE_LINUX_DEFAULT="quiet; splash"\nGRUB_CMDLINE_LINUX="{linux}"\n')
    (tmp_path / "99-devcluster-serial-console.cfg").write_text(grub_dropin())
    script = '. "$1/grub"; . "$1/99-devcluster-serial-console.cfg"; printf "%s|%s" "$GRUB_CMDLINE_LINUX" ' \
             '"$GRUB_CMDLINE_LINUX_DEFAULT"'
    out = subprocess.run(["sh", "-c", script, "sh", str(tmp_path)], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    assert out == f"{expected}|quiet; splash"
    assert "GRUB_CMDLINE_LINUX_DEFAULT" not in grub_dropin()
