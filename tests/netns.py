"""Stand-in nodes for SSH tests: a real OpenSSH sshd inside network namespaces created for the test.

Each namespace is one node: a veth pair whose inner end is named eth1 (as on the Vagrant VMs), an address
that exists only there, and sshd listening on it as root with a throw-away key. The namespaces share this
machine's filesystem, so files a test writes are visible to the "nodes" and the other way round.
Needs root, iproute2 and sshd; tests apply ``NETNS_MARKS`` (or ``needs_netns``) to skip with the reason.

A test module uses the fixture by binding it: ``cluster = netns.cluster`` (an import would be unused to ruff).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import paramiko
import pytest

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

NETNS_MARKS = [
    pytest.mark.netns,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 (`ip`) is not installed"),
    pytest.mark.skipif(not os.path.exists(SSHD), reason="openssh-server (sshd) is not installed"),
]

F = TypeVar("F", bound=Callable[..., object])


def needs_netns(func: F) -> F:
    """NETNS_MARKS on one test, for modules that also hold tests needing none of it."""
    for mark in NETNS_MARKS:
        func = mark(func)
    return func


@dataclass
class Node:
    alias: str
    netns: str
    host_if: str
    address: str
    sshd: subprocess.Popen[bytes]


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


def wait_port(address: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{address}:{port} did not open")


# Each module using the fixture gets its own pair of namespaces; the counter keeps their names and subnets
# apart from another module's in the same process.
_instances = itertools.count()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Node], Path]]:
    """Two nodes, node1 and node2, and an ssh_config (root, key auth) naming them."""
    work = tmp_path_factory.mktemp("netns")
    os.chmod(work, 0o755)
    client_key = paramiko.RSAKey.generate(2048)
    client_key.write_private_key_file(str(work / "id_rsa"))
    (work / "authorized_keys").write_text(f"ssh-rsa {client_key.get_base64()}\n")
    host_key = paramiko.RSAKey.generate(2048)
    host_key.write_private_key_file(str(work / "host_rsa"))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    instance = next(_instances)
    tag = f"{os.getpid() % 10000}{instance % 10}"
    nodes: list[Node] = []
    created: list[tuple[str, str]] = []  # (netns, host_if), torn down even when setup fails half-way
    ssh_config = []
    try:
        for i in (1, 2):
            netns, host_if = f"dc{tag}n{i}", f"dc{tag}v{i}"
            subnet = f"10.213.{(os.getpid() + 2 * instance + i) % 250}"
            address = f"{subnet}.2"
            sh("ip", "netns", "add", netns)
            created.append((netns, host_if))
            sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth1", "netns", netns)
            sh("ip", "addr", "add", f"{subnet}.1/24", "dev", host_if)
            sh("ip", "link", "set", host_if, "up")
            sh("ip", "-n", netns, "addr", "add", f"{address}/24", "dev", "eth1")
            sh("ip", "-n", netns, "link", "set", "eth1", "up")
            sh("ip", "-n", netns, "link", "set", "lo", "up")
            conf = work / f"sshd_config{i}"
            conf.write_text(
                f"ListenAddress {address}\nPort 22\nHostKey {work / 'host_rsa'}\nPidFile {work}/sshd{i}.pid\n"
                f"AuthorizedKeysFile {work / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                "Subsystem sftp internal-sftp\n"
            )
            proc = subprocess.Popen(["ip", "netns", "exec", netns, SSHD, "-D", "-e", "-f", str(conf)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            nodes.append(Node(f"node{i}", netns, host_if, address, proc))
            ssh_config.append(
                f"Host node{i}\n  HostName {address}\n  Port 22\n  User root\n  IdentityFile {work / 'id_rsa'}\n"
                "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
            )
        for node in nodes:
            wait_port(node.address, 22)
        cfg_path = work / "ssh_config"
        cfg_path.write_text("".join(ssh_config))
        yield nodes, cfg_path
    finally:
        for node in nodes:
            node.sshd.terminate()
            try:
                node.sshd.wait(5)
            except subprocess.TimeoutExpired:
                node.sshd.kill()
        for netns, host_if in created:
            subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=30)
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)
