"""Plain HTTP to the ingress NodePort, with the Host header the Ingress routes by.

Connecting to the ingress address directly (not the hostname) keeps devcluster's own checks independent
of /etc/hosts.
"""

from __future__ import annotations

import http.client
import json
from typing import Any


def http_request(host: str, port: int, method: str, path: str, host_header: str, timeout: float = 10,
                 token: str | None = None, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Host": host_header, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def http_get(host: str, port: int, path: str, host_header: str, timeout: float = 10,
             token: str | None = None) -> tuple[int, bytes]:
    return http_request(host, port, "GET", path, host_header, timeout, token)
