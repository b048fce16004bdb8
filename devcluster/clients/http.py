"""Plain HTTP to the ingress NodePort, with the Host header the Ingress routes by.

Connecting to the ingress address directly (not the hostname) keeps devcluster's own checks independent
of /etc/hosts.
"""

from __future__ import annotations

import http.client


def http_get(host: str, port: int, path: str, host_header: str, timeout: float = 10,
             token: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Host": host_header, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()
