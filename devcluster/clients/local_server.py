"""The "is this API server local" guard: devcluster installs into a laptop's cluster, not a remote one."""

from __future__ import annotations

import ipaddress
import urllib.parse

LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7",
    "fe80::/10",
))


def is_local_server(server: str) -> bool:
    """True for API servers on loopback or RFC 1918/4193 addresses (laptop clusters, VMs, kind).

    Not ``ipaddress.is_private``: that also counts documentation and other
    special ranges that can be real, remote clusters.
    """
    host = urllib.parse.urlparse(server).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in LOCAL_NETWORKS if net.version == ip.version)

