"""The registry containers through docker: run, inspect, connect to a network, remove.

Every question is a `docker inspect` (read-only, cheap), every change one `docker` command through the
runner. Credentials go to `docker run` as bare `-e NAME` with the value in the runner's environment, so
no secret is ever part of argv (`ps`, logs, error messages).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from devcluster.clients import runner
from devcluster.clients.http import http_get
from devcluster.clients.registry import CONTAINER_PORT, LABEL, RegistryContainer
from devcluster.errors import CommandError, DevclusterError

DOCKER_HINT = "start Docker and check that `docker info` works for your user"


def run_argv(c: RegistryContainer, secret_names: list[str]) -> list[str]:
    storage = c.storage_dir or c.volume
    argv = ["docker", "run", "-d", "--restart=always", "--name", c.name,
            "-p", f"127.0.0.1:{c.port}:{CONTAINER_PORT}", "-v", f"{storage}:/var/lib/registry",
            "--label", f"{LABEL}={c.upstream or 'local'}"]
    for key, value in c.env().items():
        argv += ["-e", f"{key}={value}"]
    for key in secret_names:
        argv += ["-e", key]
    return argv + [c.image]


def inspect(name: str) -> dict[str, Any] | None:
    """The container's `docker inspect` document, None when there is none."""
    res = runner.run(["docker", "container", "inspect", name], check=False, timeout=60, hint=DOCKER_HINT)
    if not res.ok:
        if "no such" in (res.stderr + res.stdout).lower():
            return None
        raise CommandError(res.argv, res.returncode, res.stdout, res.stderr, hint=DOCKER_HINT)
    docs = json.loads(res.stdout or "[]")
    return docs[0] if docs else None


def mismatch(c: RegistryContainer, doc: dict[str, Any]) -> str:
    """Why an existing container is not the one the config asks for ('' when it is)."""
    image = doc.get("Config", {}).get("Image", "")
    if image != c.image:
        return f"runs {image}, the config asks for {c.image}"
    bindings = (doc.get("HostConfig", {}).get("PortBindings") or {}).get(f"{CONTAINER_PORT}/tcp") or []
    published = [f"{b.get('HostIp', '')}:{b.get('HostPort', '')}" for b in bindings]
    if f"127.0.0.1:{c.port}" not in published:
        return f"publishes {', '.join(published) or 'nothing'}, the config asks for 127.0.0.1:{c.port}"
    return ""


def answers(c: RegistryContainer, timeout: float = 2) -> bool:
    """The registry API answers on its published port (a running container may still be starting)."""
    try:
        status, _ = http_get("127.0.0.1", c.port, "/v2/", f"127.0.0.1:{c.port}", timeout=timeout)
    except OSError:
        return False
    return status == 200


def is_running(c: RegistryContainer) -> bool:
    doc = inspect(c.name)
    return doc is not None and bool(doc.get("State", {}).get("Running")) and not mismatch(c, doc) and answers(c)


def made(c: RegistryContainer) -> bool:
    """The container is there as configured and docker keeps it up (running, or restarting: a cache exits
    while its upstream does not answer, and docker starts it again); whether it answers is `status`'s matter."""
    doc = inspect(c.name)
    state = (doc or {}).get("State", {})
    return doc is not None and not mismatch(c, doc) and bool(state.get("Running") or state.get("Restarting"))


class NotAnswering(DevclusterError):
    """The container is up but its API does not answer (a cache whose upstream is unreachable)."""


def wait_answering(c: RegistryContainer, timeout: float = 30) -> None:
    """A cache exits when its upstream does not answer at start (distribution pings it) and docker restarts it:
    say so as soon as it has exited once, rather than wait out ``timeout`` or let the step's check fail
    without a reason."""
    deadline = time.monotonic() + timeout
    while not answers(c):
        state = (inspect(c.name) or {}).get("State", {})
        crashed = bool(state.get("Restarting") or not state.get("Running"))
        if time.monotonic() > deadline or crashed:
            logs = runner.run(["docker", "logs", "--tail", "5", c.name], check=False, timeout=30)
            why = "it exited" if crashed else f"not after {timeout:.0f} s"
            raise NotAnswering(f"{c.name} does not answer on 127.0.0.1:{c.port} ({why})",
                               (f"its upstream {c.server} must answer when it starts; " if c.upstream else "")
                               + "last log lines: " + (logs.stdout + logs.stderr).strip()[-400:])
        time.sleep(0.2)


def ensure(c: RegistryContainer, environ: Mapping[str, str] | None = None) -> str:
    """Make ``c`` run as configured; what was done. A container of another image or port is replaced: its
    data is in the volume (or the storage dir), which stays."""
    doc = inspect(c.name)
    if doc is not None and not mismatch(c, doc):
        runner.run(["docker", "start", c.name], timeout=60, hint=DOCKER_HINT)
        wait_answering(c)
        return "started"
    if doc is not None:
        runner.run(["docker", "rm", "-f", c.name], timeout=60, hint=DOCKER_HINT)
    secrets = c.secret_env(environ)
    runner.run(run_argv(c, sorted(secrets)), env=secrets, timeout=300,
               hint=f"is {c.image} pullable here, and 127.0.0.1:{c.port} free? `docker logs {c.name}`")
    wait_answering(c)
    return "replaced" if doc is not None else "created"


def connected(c: RegistryContainer, network: str) -> bool:
    doc = inspect(c.name)
    return doc is not None and network in (doc.get("NetworkSettings", {}).get("Networks") or {})


def connect(c: RegistryContainer, network: str) -> None:
    runner.run(["docker", "network", "connect", network, c.name], timeout=60, hint=DOCKER_HINT)


def remove(c: RegistryContainer, purge: bool) -> list[str]:
    """Remove the container (and with ``purge`` its volume); what was removed."""
    removed = []
    if inspect(c.name) is not None:
        runner.run(["docker", "rm", "-f", c.name], timeout=60, hint=DOCKER_HINT)
        removed.append(f"container {c.name}")
    if purge and not c.storage_dir:
        res = runner.run(["docker", "volume", "rm", c.volume], check=False, timeout=60, hint=DOCKER_HINT)
        if res.ok:
            removed.append(f"volume {c.volume}")
    return removed
