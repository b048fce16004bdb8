"""What every Kubernetes node of a devcluster must look like."""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

import pytest


def _needs_systemd(host: Any) -> None:
    if not host.file("/run/systemd/system").is_directory:
        pytest.skip("not a systemd host")


def test_containerd_running_and_enabled(host: Any) -> None:
    _needs_systemd(host)
    svc = host.service("containerd")
    assert svc.is_running and svc.is_enabled


def test_kubelet_running_and_enabled(host: Any) -> None:
    _needs_systemd(host)
    svc = host.service("kubelet")
    assert svc.is_running and svc.is_enabled


def test_swap_is_off(host: Any, spec: dict[str, Any]) -> None:
    if spec["provider"] == "kind":
        pytest.skip("kind nodes share the Docker host's kernel and its swap (kind sets failSwapOn: false)")
    swaps = host.file("/proc/swaps").content_string.strip().splitlines()
    assert len(swaps) <= 1, f"active swap: {swaps[1:]}"


def test_br_netfilter_is_loaded(host: Any) -> None:
    # On kind nodes the module is the Docker host's; its sysctl tree shows it either way.
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists, "br_netfilter is not loaded"


def test_ip_forward_is_on(host: Any) -> None:
    assert host.sysctl("net.ipv4.ip_forward") == 1


def test_internal_ip_is_the_eth1_address(host: Any, spec: dict[str, Any]) -> None:
    if not spec["check_eth1"]:
        pytest.skip("eth1 checks apply to Vagrant VMs")
    eth1 = host.interface("eth1")
    assert eth1.exists, "no eth1"
    v4 = [a for a in eth1.addresses if ipaddress.ip_address(a).version == 4]
    assert spec["internal_ip"] in v4, f"InternalIP {spec['internal_ip']} is not on eth1 ({v4})"


def test_flannel_interface_exists(host: Any, spec: dict[str, Any]) -> None:
    if not spec["check_eth1"]:
        pytest.skip("Flannel runs on the Vagrant provider")
    assert host.interface("flannel.1").exists


def test_api_server_listens_on_control_planes(host: Any, spec: dict[str, Any]) -> None:
    if spec["role"] != "control-plane":
        pytest.skip("worker")
    assert host.socket("tcp://0.0.0.0:6443").is_listening or host.socket("tcp://:::6443").is_listening


def test_flannel_daemonset_binds_eth1() -> None:
    """Cluster-wide, checked once through the API: the NAT eth0 trap."""
    if os.environ.get("DEVCLUSTER_PROVIDER") != "vagrant":
        pytest.skip("Flannel runs on the Vagrant provider")
    from kubernetes import client, config

    api = config.new_client_from_config(context=os.environ.get("DEVCLUSTER_CONTEXT") or None)
    ds = client.AppsV1Api(api).read_namespaced_daemon_set("kube-flannel-ds", "kube-flannel")
    assert "--iface=eth1" in (ds.spec.template.spec.containers[0].args or [])


def test_hostname_resolves_on_this_machine() -> None:
    name = os.environ.get("DEVCLUSTER_HOSTNAME", "forail.lan")
    want = os.environ.get("DEVCLUSTER_INGRESS_ADDRESS")
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None, socket.AF_INET)}
    except socket.gaierror as exc:
        pytest.fail(f"{name} does not resolve here: {exc} (devcluster hosts add)")
    if want:
        assert want in addrs, f"{name} resolves to {sorted(addrs)}, expected {want}"
