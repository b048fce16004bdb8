"""What `devcluster doctor` asks of a provider: the tools it needs and the findings of its host checks.

Plain values, so a provider can describe them and reports/doctor.py can run and print them, with neither
knowing the other; and the one probe several providers' checks share (is a port free).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Tool:
    """A command a provider needs, how to ask its version, and how to get it."""

    name: str
    version_args: tuple[str, ...]
    fix: str


# Every provider installs charts and talks to the API the same way.
HELM_TOOL = Tool("helm", ("version", "--short"),
                 "bash scripts/install-tools.sh (pinned helm v3.17.3), or https://helm.sh/docs/intro/install/")
KUBECTL_TOOL = Tool("kubectl", ("version", "--client"),
                    "bash scripts/install-tools.sh (pinned kubectl v1.30.14), or https://kubernetes.io/docs/tasks/tools/")


@dataclass
class Finding:
    """One line of `devcluster doctor`: what was checked, whether it is fine, and the fix."""

    what: str
    ok: bool
    detail: str
    fix: str = ""
    # "warn": works, but outside what is tested or supported; doctor still exits 0.
    warning: bool = False

    @property
    def level(self) -> Literal["ok", "warn", "fail"]:
        if not self.ok:
            return "fail"
        return "warn" if self.warning else "ok"


def busy_ports(address: str, ports: list[int]) -> list[int]:
    """Ports on ``address`` that something already listens on (kind, or a registry container, would fail
    half-way otherwise)."""
    busy = []
    for port in ports:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    busy.append(port)
                else:
                    raise
    return busy
