"""The registry containers through docker: run, inspect, connect to a network, remove.

Every question is a `docker inspect` (read-only, cheap), every change one `docker` command through the
runner. Credentials go to `docker run` as bare `-e NAME` with the value in the runner's environment, so
no secret is ever part of argv (`ps`, logs, error messages).
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

from devcluster.clients import runner
from devcluster.clients.http import http_get
from devcluster.clients.registry import CONTAINER_PORT, LABEL, LOOPBACK, RegistryContainer
from devcluster.errors import CommandError, DevclusterError

DOCKER_HINT = ("start Docker and check that `docker info` works for your user (or, for the registry and caches, "
               "turn them off: registry.enabled and registry.mirrors.enabled false)")


def run_argv(c: RegistryContainer, secret_names: list[str]) -> list[str]:
    storage = c.storage_dir or c.volume
    argv = ["docker", "run", "-d", "--restart=always", "--name", c.name]
    for address in c.addresses:
        argv += ["-p", f"{address}:{c.port}:{CONTAINER_PORT}"]
    argv += ["-v", f"{storage}:/var/lib/registry", "--label", f"{LABEL}={c.upstream or 'local'}"]
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


def mismatch(c: RegistryContainer, doc: dict[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """Why an existing container is not the one the config asks for ('' when it is): its image, where its
    data lives, the upstream it proxies and whether it has the upstream's credentials (added later to lift
    Docker Hub's limit), and its bindings. Publishing on more addresses than asked is fine: the containers are
    shared, and a kind `up` (loopback only) must not strip the host-only binding a Vagrant cluster pulls
    through."""
    image = doc.get("Config", {}).get("Image", "")
    if image != c.image:
        return f"runs {image}, the config asks for {c.image}"
    storage = os.path.realpath(os.path.expanduser(c.storage_dir)) if c.storage_dir else c.volume
    mounted = [m.get("Name") or m.get("Source", "") for m in doc.get("Mounts") or []
               if m.get("Destination") == "/var/lib/registry"]
    if mounted and storage not in mounted and os.path.realpath(mounted[0]) != storage:
        return f"keeps its data in {mounted[0]}, the config asks for {storage}"
    env = dict(e.split("=", 1) for e in doc.get("Config", {}).get("Env") or [] if "=" in e)
    if c.upstream and env.get("REGISTRY_PROXY_REMOTEURL", "") != c.server:
        return f"proxies {env.get('REGISTRY_PROXY_REMOTEURL') or 'nothing'}, the config asks for {c.server}"
    if c.upstream and bool(c.secret_env(environ)) != ("REGISTRY_PROXY_USERNAME" in env):
        return "its upstream credentials differ from the environment's (DEVCLUSTER_MIRROR_*)"
    published = [f"{b.get('HostIp', '')}:{b.get('HostPort', '')}" for b in _bindings(doc)]
    missing = [f"{address}:{c.port}" for address in c.addresses if f"{address}:{c.port}" not in published]
    if missing:
        return f"publishes {', '.join(published) or 'nothing'}, the config asks for {', '.join(missing)} too"
    return ""


def _bindings(doc: dict[str, Any]) -> list[dict[str, str]]:
    return list((doc.get("HostConfig", {}).get("PortBindings") or {}).get(f"{CONTAINER_PORT}/tcp") or [])


def address_present(address: str) -> bool:
    """Whether this machine has ``address`` on an interface now: a bind to (address, 0), which sends no
    packet. Docker cannot publish on an address the host lacks (a host-only one before VirtualBox made it)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return False
            raise
    return True


def bound_addresses(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The specific host addresses a container publishes on, split into those this machine still has (a
    replacement keeps them: another cluster, a Vagrant one's host-only address, may pull through them) and
    those it has lost (a host-only one after a reboot, before VirtualBox made it again: docker cannot start
    the container until it is made without them)."""
    hosts = dict.fromkeys(b.get("HostIp", "") for b in _bindings(doc))
    specific = [a for a in hosts if a not in ("", "0.0.0.0", "::")]
    present = [a for a in specific if address_present(a)]
    return present, [a for a in specific if a not in present]


def networks(doc: dict[str, Any]) -> list[str]:
    """The user-made docker networks a container is on (not the default bridge it gets anyway)."""
    return [n for n in (doc.get("NetworkSettings", {}).get("Networks") or {}) if n not in ("bridge", "host", "none")]


def answers(c: RegistryContainer, timeout: float = 2) -> bool:
    """The registry API answers on its published port (a running container may still be starting)."""
    try:
        status, _ = http_get("127.0.0.1", c.port, "/v2/", f"127.0.0.1:{c.port}", timeout=timeout)
    except (OSError, http.client.HTTPException):  # nothing there yet, or something that is no registry
        return False
    return status == 200


def holds_port(c: RegistryContainer) -> bool:
    """The container exists and its port is published on 127.0.0.1: a busy port there is its own (running,
    or restarting while its upstream does not answer), not somebody else's."""
    doc = inspect(c.name)
    return doc is not None and any(b.get("HostIp") == LOOPBACK and b.get("HostPort") == str(c.port)
                                   for b in _bindings(doc))


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
    # read after the start: whether `docker start` resets the count is docker's business, not ours
    restarts = int((inspect(c.name) or {}).get("RestartCount") or 0)
    while not answers(c):
        doc = inspect(c.name) or {}
        state = doc.get("State", {})
        # docker's first restarts come within ~100 ms: a restart count that grew says "exited" too
        crashed = bool(state.get("Restarting") or not state.get("Running")
                       or int(doc.get("RestartCount") or 0) > restarts)
        if time.monotonic() > deadline or crashed:
            logs = runner.run(["docker", "logs", "--tail", "5", c.name], check=False, timeout=30)
            why = "it exited" if crashed else f"not after {timeout:.0f} s"
            raise NotAnswering(f"{c.name} does not answer on 127.0.0.1:{c.port} ({why})",
                               (f"its upstream {c.server} must answer when it starts; " if c.upstream else "")
                               + "last log lines: " + (logs.stdout + logs.stderr).strip()[-400:])
        time.sleep(0.2)


def ensure(c: RegistryContainer, environ: Mapping[str, str] | None = None) -> str:
    """Make ``c`` run as configured; what was done. A container of another image or port, or without one of
    ``c.addresses``, is replaced: its data is in the volume (or the storage dir), which stays, and the new one
    publishes on the addresses the old one did too and joins the networks it was on (the containers are
    shared: a Vagrant cluster's host-only binding, a kind cluster's `kind` network)."""
    doc = inspect(c.name)
    running = doc is not None and bool(doc.get("State", {}).get("Running"))
    kept, lost = bound_addresses(doc) if doc is not None else ([], [])
    # stopped and bound to an address that is gone (after a reboot): `docker start` would fail on every run
    if doc is not None and not mismatch(c, doc, environ) and (running or not lost):
        runner.run(["docker", "start", c.name], timeout=60, hint=DOCKER_HINT)
        wait_answering(c)
        return "started"
    if doc is not None:
        c = c.published_on(*kept)
        runner.run(["docker", "rm", "-f", c.name], timeout=60, hint=DOCKER_HINT)
    secrets = c.secret_env(environ)
    where = ", ".join(f"{address}:{c.port}" for address in c.addresses)
    try:
        runner.run(run_argv(c, sorted(secrets)), env=secrets, timeout=300,
                   hint=f"is {c.image} pullable here, and {where} free? `docker logs {c.name}`")
    except CommandError:
        # `docker run` may have made the container and failed to start it: a half-made one would look
        # configured to the next run, which would only `docker start` it and fail the same way
        runner.run(["docker", "rm", "-f", c.name], check=False, timeout=60)
        raise
    for network in networks(doc) if doc is not None else []:
        connect(c, network)
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
