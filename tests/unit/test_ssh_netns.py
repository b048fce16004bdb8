"""The SSH path against a real OpenSSH sshd running inside network namespaces this test creates.

The namespaces and sshd come from tests/netns.py (shared with test_k3s_netns.py).
Each namespace is a stand-in node: a veth pair whose inner end is named
eth1 (as on the Vagrant VMs), an address that exists only there, and sshd
listening on it. devcluster's paramiko session, its script upload + stdin
credential hand-off with the real provisioning/join.sh (kubeadm replaced
by a recording fake: there is no kubelet here), and a subset of the
testinfra node checks run against them. Needs root, iproute2 and sshd.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devcluster.assets import asset_dir
from devcluster.clients.ssh import SshSession, parse_ssh_config
from devcluster.errors import DevclusterError
from tests import netns
from tests.netns import NETNS_MARKS, sh, wait_port

REPO = Path(__file__).resolve().parents[2]

pytestmark = NETNS_MARKS
cluster = netns.cluster  # the shared module-scoped fixture: node1 and node2, each sshd in its own namespace


def session(cfg_path: Path, alias: str) -> SshSession:
    return SshSession(parse_ssh_config(cfg_path.read_text())[alias])


def test_session_runs_commands_with_stdin_and_reports_failures(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    with session(cfg, "node1") as s:
        assert s.run(["cat"], stdin_data="secret-token\n").stdout == "secret-token\n"
        addr = s.run(["ip", "-4", "-o", "addr", "show", "dev", "eth1"]).stdout
        assert f"inet {nodes[0].address}/24" in addr
        with pytest.raises(DevclusterError, match=r"on node1: `sh -c 'exit 3'` exited 3"):
            s.run(["sh", "-c", "exit 3"])


def test_streaming_stdin_carries_a_large_stream_byte_for_byte(cluster) -> None:  # type: ignore[no-untyped-def]
    """What `image load` does with `docker save`: megabytes copied in chunks into a remote command's stdin."""
    import hashlib
    import io

    payload = os.urandom(3 * 1024 * 1024 + 17)
    _, cfg = cluster
    with session(cfg, "node2") as s:
        result = s.run_streaming(["sha256sum"], io.BytesIO(payload), chunk=64 * 1024)
        assert result.stdout.split()[0] == hashlib.sha256(payload).hexdigest()
        with pytest.raises(DevclusterError, match="exited 1"):
            s.run_streaming(["sh", "-c", "cat >/dev/null; exit 1"], io.BytesIO(b"x"))


def test_unreachable_node_is_a_clear_error(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, cfg = cluster
    text = cfg.read_text().replace("Port 22", "Port 2")  # nothing listens on port 2 inside the namespace
    target = parse_ssh_config(text)["node1"]
    with pytest.raises(DevclusterError, match="cannot SSH to node1"):
        SshSession(target, timeout=5)


FAKE_KUBEADM = """#!/bin/sh
# recording stand-in for kubeadm (no kubelet can run here)
cfg=""
while [ $# -gt 0 ]; do [ "$1" = "--config" ] && cfg="$2"; shift; done
{ echo "ARGS:$*"; stat -c '%a' "$cfg"; cat "$cfg"; } > "$RECORD"
"""


def test_join_script_gets_credentials_on_stdin_and_hands_kubeadm_a_private_file(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real provisioning/join.sh, uploaded and run over SSH as the Vagrant provider does."""
    nodes, cfg = cluster
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    (fakebin / "kubeadm").write_text(FAKE_KUBEADM)
    (fakebin / "kubeadm").chmod(0o755)
    record = tmp_path / "kubeadm-record"
    stdin = ("ENDPOINT=k8s-api.devcluster:6443\nTOKEN=abcdef.0123456789abcdef\n"
             "CA_CERT_HASH=sha256:" + "a" * 64 + "\nCERTIFICATE_KEY=" + "b" * 64 + "\n")
    env = {"NODE_IP": nodes[1].address, "PATH": f"{fakebin}:/usr/sbin:/usr/bin:/sbin:/bin", "RECORD": str(record)}
    with session(cfg, "node2") as s:
        s.run_script(asset_dir("provisioning") / "join.sh", ["--control-plane"], env, stdin_data=stdin)
        leftovers = s.run(["sh", "-c", "ls /tmp/devcluster-*-join.sh 2>/dev/null || true"]).stdout
    lines = record.read_text().splitlines()
    assert lines[1] == "600", "kubeadm's JoinConfiguration must be private"
    body = "\n".join(lines[2:])
    assert "token: abcdef.0123456789abcdef" in body and "certificateKey: " + "b" * 64 in body
    assert f"advertiseAddress: {nodes[1].address}" in body and f"node-ip: {nodes[1].address}" in body
    assert "abcdef.0123456789abcdef" not in lines[0], "credentials must not be on kubeadm's command line"
    assert leftovers.strip() == "", "the uploaded script is removed"


def test_join_script_refuses_missing_credentials(cluster) -> None:  # type: ignore[no-untyped-def]
    nodes, cfg = cluster
    with session(cfg, "node2") as s, pytest.raises(DevclusterError, match="exited 2"):
        s.run_script(asset_dir("provisioning") / "join.sh", [], {"NODE_IP": nodes[1].address}, stdin_data="TOKEN=x\n")


def test_node_checks_over_ssh_with_testinfra(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """tests/nodes through testinfra's paramiko backend, as `devcluster check nodes` runs it for Vagrant.

    node1 is set up right (ip_forward on, something on 6443, InternalIP on eth1);
    node2 is not (ip_forward off, the API's InternalIP is not its eth1 address):
    the checks must pass on node1 and fail on node2.
    """
    nodes, cfg = cluster
    sh("ip", "netns", "exec", nodes[0].netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    sh("ip", "netns", "exec", nodes[1].netns, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    listener = subprocess.Popen(
        ["ip", "netns", "exec", nodes[0].netns, sys.executable, "-c",
         "import socket,time;s=socket.socket();s.bind(('0.0.0.0',6443));s.listen();time.sleep(120)"])
    try:
        wait_port(nodes[0].address, 6443)
        specs = {
            "node1": {"name": "node1", "role": "control-plane", "internal_ip": nodes[0].address,
                      "provider": "vagrant", "check_eth1": True},
            "node2": {"name": "node2", "role": "worker", "internal_ip": "10.213.250.99",
                      "provider": "vagrant", "check_eth1": True},
        }
        junit = tmp_path / "nodes.xml"
        env = dict(os.environ, DEVCLUSTER_NODES=json.dumps(specs))
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(REPO / "tests" / "nodes"), "-p", "no:cacheprovider", "-q",
             "--hosts=paramiko://node1,paramiko://node2", f"--ssh-config={cfg}", f"--junitxml={junit}",
             "-k", "ip_forward or internal_ip or api_server or swap"],
            capture_output=True, text=True, timeout=120, env=env, cwd=str(tmp_path))
    finally:
        listener.kill()
        listener.wait()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    outcome = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        state = "failed" if case.find("failure") is not None else "skipped" if case.find("skipped") is not None \
            else "passed"
        outcome[case.get("name")] = state
    assert outcome["test_ip_forward_is_on[paramiko://node1]"] == "passed"
    assert outcome["test_ip_forward_is_on[paramiko://node2]"] == "failed"
    assert outcome["test_internal_ip_is_the_eth1_address[paramiko://node1]"] == "passed"
    assert outcome["test_internal_ip_is_the_eth1_address[paramiko://node2]"] == "failed"
    assert outcome["test_api_server_listens_on_control_planes[paramiko://node1]"] == "passed"
    assert outcome["test_api_server_listens_on_control_planes[paramiko://node2]"] == "skipped"
