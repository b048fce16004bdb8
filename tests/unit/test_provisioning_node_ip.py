"""The kubelet's --node-ip on eth1, from the real provisioning scripts run with bash.

VirtualBox gives every VM the same NAT address on eth0 (10.0.2.15); a kubelet left to pick its address
takes that one, and every node then claims the same InternalIP (the trap this project exists to avoid).
No kubelet, kubeadm or VM runs here, so the node's tools are recording stand-ins on PATH: an `ip` that
reports the host-only address on eth1, `systemctl`, `kubeadm` (which keeps the --config it was given),
`containerd`, `dpkg-query` and friends. Everything else (bash, sed, grep, cat) is real.

common.sh writes to the node's /etc, so it runs in a private mount namespace with an overlay on /etc:
its writes land in a scratch upper directory the test reads, and this machine's /etc is never touched.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_vagrant import INIT_ENV, flannel_kubectl, run_script

REPO = Path(__file__).resolve().parents[2]
COMMON = REPO / "provisioning" / "common.sh"
ETH1 = "192.168.56.31"
NAT = "10.0.2.15"
PACKAGE_VERSION = "1.30.14-1.1"

NODE_TOOLS = {
    "ip": f"echo '3: eth1    inet {ETH1}/24 brd 192.168.56.255 scope global eth1\\       valid_lft forever'",
    "containerd": 'if [ "$1" = config ]; then echo "  SystemdCgroup = false"; fi',
    "dpkg-query": f"printf '%s' '{PACKAGE_VERSION}'",
    "gpg": 'while [ $# -gt 0 ]; do if [ "$1" = -o ]; then echo key > "$2"; fi; shift; done; cat >/dev/null',
    "curl": "echo key",
    "systemctl": 'if [ "$1" = is-active ]; then exit 0; fi',
    **{tool: "exit 0" for tool in ("swapoff", "modprobe", "sysctl", "update-grub", "apt-get", "apt-mark")},
}


def _unshare_prefix() -> list[str]:
    """A private mount namespace: as root directly, otherwise in a user namespace mapped to root."""
    return ["unshare", "--mount", "--propagation", "private"] if os.geteuid() == 0 else \
        ["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]


@functools.cache
def overlay_unavailable(scratch: str) -> str:
    """Why an overlay on /etc in a private mount namespace cannot be made here ('' when it can)."""
    if shutil.which("unshare") is None:
        return "util-linux `unshare` is not installed"
    base = Path(scratch)
    for d in ("upper", "work"):
        (base / d).mkdir(parents=True, exist_ok=True)
    probe = subprocess.run([*_unshare_prefix(), "sh", "-c", f"mount -t overlay overlay -o lowerdir=/etc,"
                            f"upperdir={base}/upper,workdir={base}/work /etc"],
                           capture_output=True, text=True, timeout=30)
    return "" if probe.returncode == 0 else f"no overlay mount in a private namespace: {probe.stderr.strip()}"


def run_common_in_overlay(tmp_path: Path, preset: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], Path,
                                                                           list[list[str]]]:
    """Run the real common.sh (kubeadm) with the node's /etc an overlay whose writes land in ``upper``;
    ``preset`` holds files (relative to /etc) as the node already had them."""
    reason = overlay_unavailable(str(tmp_path.parent / "overlay-probe"))
    if reason:
        pytest.skip(reason)
    upper, work = tmp_path / "upper", tmp_path / "work"
    work.mkdir()
    for rel, text in preset.items():
        (upper / rel).parent.mkdir(parents=True, exist_ok=True)
        (upper / rel).write_text(text)
    upper.mkdir(exist_ok=True)
    bindir = tmp_path / "node-bin"
    bindir.mkdir()
    log = tmp_path / "node-calls.log"
    for tool, body in NODE_TOOLS.items():
        (bindir / tool).write_text(f"#!/bin/bash\nprintf '%s\\0' {tool} \"$@\" >> {log}; echo >> {log}\n{body}\n")
        (bindir / tool).chmod(0o755)
    mount = f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
    env = {"PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin", "NODE_IP": ETH1,
           "CONTROL_PLANE_ENDPOINT": "k8s-api.devcluster", "CONTROL_PLANE_IP": "192.168.56.11",
           "K8S_PACKAGE_VERSION": PACKAGE_VERSION, "K8S_APT_REPO": "https://pkgs.k8s.io/core:/stable:/v1.30/deb/"}
    proc = subprocess.run([*_unshare_prefix(), "bash", "-c", f'{mount} && exec bash "$0"', str(COMMON)],
                          capture_output=True, text=True, timeout=60, env=env)
    calls = [line.strip("\0").split("\0") for line in log.read_text().splitlines() if line] if log.exists() else []
    return proc, upper, calls


@pytest.mark.parametrize("before", [None, f"KUBELET_EXTRA_ARGS=--node-ip={NAT}\n"], ids=["fresh", "nat-address"])
def test_common_sh_gives_the_kubelet_the_eth1_address_with_stand_in_node_tools(tmp_path: Path,
                                                                                before: str | None) -> None:
    """A fresh node, and one whose kubelet was left on the NAT address: /etc/default/kubelet ends up with
    --node-ip=<eth1's address> and the running kubelet is restarted to take it."""
    proc, upper, calls = run_common_in_overlay(tmp_path, {} if before is None else {"default/kubelet": before})
    assert proc.returncode == 0, proc.stderr
    kubelet_defaults = upper / "default" / "kubelet"
    assert kubelet_defaults.is_file(), "common.sh did not write /etc/default/kubelet"
    assert kubelet_defaults.read_text() == f"KUBELET_EXTRA_ARGS=--node-ip={ETH1}\n"
    systemctl = [c[1:] for c in calls if c[0] == "systemctl"]
    assert ["daemon-reload"] in systemctl and ["restart", "kubelet"] in systemctl
    assert systemctl.index(["daemon-reload"]) < systemctl.index(["restart", "kubelet"])
    assert ["enable", "kubelet"] in systemctl


def test_common_sh_leaves_a_kubelet_already_on_eth1_alone_with_stand_in_node_tools(tmp_path: Path) -> None:
    """Safe to re-run: the right --node-ip is kept and the kubelet is not restarted for nothing."""
    proc, upper, calls = run_common_in_overlay(tmp_path, {"default/kubelet": f"KUBELET_EXTRA_ARGS=--node-ip={ETH1}\n"})
    assert proc.returncode == 0, proc.stderr
    assert (upper / "default" / "kubelet").read_text() == f"KUBELET_EXTRA_ARGS=--node-ip={ETH1}\n"
    assert ["systemctl", "restart", "kubelet"] not in calls


KEEP_CONFIG = 'if [ "$1" = init ]; then cp "$3" "$KEPT_CONFIG"; fi'


def test_control_plane_init_registers_the_kubelet_on_eth1_with_a_recording_kubeadm(tmp_path: Path) -> None:
    """The real control-plane-init.sh on a node without admin.conf: `kubeadm init --config` gets an
    InitConfiguration whose nodeRegistration gives the kubelet --node-ip=NODE_IP and whose API server
    advertises it (the recording kubeadm copies the config before the script deletes it)."""
    kube_dir = tmp_path / "etc-kubernetes"
    kube_dir.mkdir()
    manifest = tmp_path / "kube-flannel.yml"
    manifest.write_text("kind: List\n")
    kept = tmp_path / "kubeadm-config.yaml"
    env = {**INIT_ENV, "FLANNEL_MANIFEST": str(manifest), "KUBE_DIR": str(kube_dir),
           "VAGRANT_HOME_DIR": str(tmp_path / "home"), "KEPT_CONFIG": str(kept)}
    proc, calls = run_script("control-plane-init.sh", tmp_path, env, {
        "kubectl": flannel_kubectl(True, '["--iface=eth1"]'), "kubeadm": KEEP_CONFIG, "install": "exit 0"})
    assert proc.returncode == 0, proc.stderr
    assert [c[:3] for c in calls if c[0] == "kubeadm"] == [["kubeadm", "init", "--config"]]
    docs = {d["kind"]: d for d in yaml.safe_load_all(kept.read_text())}
    init = docs["InitConfiguration"]
    assert init["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": INIT_ENV["NODE_IP"]}
    assert init["localAPIEndpoint"]["advertiseAddress"] == INIT_ENV["NODE_IP"]
