"""Stopping and starting a kind cluster's node containers, and repairing what a restart breaks.

What a restart does to kind (kind issues #148, #1689, #2045), and what is done about each:
- Docker may give a node container another address when it starts again (several nodes share a network
  whose addresses are handed out in start order). kind's node entrypoint (v0.15 and later, so every image
  kind v0.29.0 publishes) rewrites the node's own old address in its kubelet flags, kubeadm config and
  static-pod manifests and re-issues the API server's certificate; the others reach the control plane by
  its container name. So changed addresses are reported, then checked: every Node's InternalIP must be its
  container's new address once the nodes are Ready, else the cluster must be recreated.
- The API server's port on the host is chosen by Docker when the control-plane container starts: after a
  restart the kubeconfig may point at a port nobody listens on. It is exported again from kind.
The containers are started control planes first so the workers' kubelets find an API server.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from devcluster.clients import runner
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import write_private
from devcluster.providers.lifecycle import power_of
from devcluster.providers.steps import RECREATE, api_step, nodes_ready_step, wait_api

if TYPE_CHECKING:
    from devcluster.config import Config
    from devcluster.local.state import State
    from devcluster.providers.lifecycle import PowerState


class KindCluster(Protocol):
    """What the lifecycle needs of the kind provider (a narrow handle, not the provider: no import cycle)."""

    cfg: Config
    state: State

    def cluster_exists(self) -> bool: ...

HINT = "is Docker running? `docker ps -a --filter label=io.x-k8s.kind.cluster`"


def node_names(cluster: str, hint: str = HINT) -> list[str]:
    """The cluster's node containers, as `kind get nodes` lists them: the one place that asks kind."""
    return runner.run(["kind", "get", "nodes", "--name", cluster], timeout=60, hint=hint).stdout.split()


def server_of(kubeconfig_text: str) -> str:
    """The API server URL of a kind kubeconfig (one cluster entry)."""
    doc = yaml.safe_load(kubeconfig_text) or {}
    clusters = doc.get("clusters") or [{}]
    return str((clusters[0].get("cluster") or {}).get("server", ""))


class KindLifecycle:
    def __init__(self, provider: KindCluster) -> None:
        self.provider = provider
        self.name = provider.cfg.name

    @property
    def record_path(self) -> Path:
        """Each node's address as it was when the cluster last ran: what a restart is compared with."""
        return self.provider.state.path("kind-nodes.json")

    # -- what Docker says

    def nodes(self) -> list[str]:
        """Node containers, control planes first (the order they must start in)."""
        return sorted(node_names(self.name), key=lambda n: ("control-plane" not in n, n))

    def containers(self, nodes: list[str]) -> dict[str, dict[str, Any]]:
        """{node: {"running": bool, "ip": str}} from `docker inspect`."""
        if not nodes:
            return {}
        fmt = "{{.Name}} {{.State.Running}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
        res = runner.run(["docker", "inspect", "--format", fmt, *nodes], timeout=60, hint=HINT)
        out: dict[str, dict[str, Any]] = {}
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                out[parts[0].lstrip("/")] = {"running": parts[1] == "true", "ip": parts[2] if len(parts) > 2 else ""}
        return out

    def power_state(self) -> PowerState:
        if not self.provider.cluster_exists():
            return "absent"
        return power_of([c["running"] for c in self.containers(self.nodes()).values()])

    def _all(self, running: bool) -> bool:
        states = self.containers(self.nodes())
        return bool(states) and all(c["running"] is running for c in states.values())

    def _require_nodes(self) -> list[str]:
        nodes = self.nodes()
        if not nodes:
            raise DevclusterError(f"no kind cluster {self.name!r} (kind get nodes lists none)",
                                  "create it with `devcluster up --provider kind`")
        return nodes

    def record(self) -> None:
        ips = {n: c["ip"] for n, c in self.containers(self.nodes()).items() if c["running"] and c["ip"]}
        if ips:
            self.provider.state.write_json("kind-nodes.json", {"ips": ips})

    def recorded_ips(self) -> dict[str, str]:
        if not self.record_path.is_file():
            return {}
        return dict(json.loads(self.record_path.read_text()).get("ips", {}))

    # -- steps

    def _stop(self, ctx: Context) -> None:
        nodes = self._require_nodes()
        self.record()
        workers_first = list(reversed(nodes))
        runner.run(["docker", "stop", *workers_first], timeout=300, hint=HINT, echo=ctx.echo)

    def _start(self, ctx: Context) -> None:
        for node in self._require_nodes():  # one by one, control planes first
            runner.run(["docker", "start", node], timeout=300, hint=HINT, echo=ctx.echo)

    def changes(self, with_server: bool = True) -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
        """(node -> (old, new) address, (old, new) kubeconfig server or None) since the cluster last ran;
        ``with_server`` False leaves the kubeconfig alone (its caller exports it anyway)."""
        now = {n: c["ip"] for n, c in self.containers(self.nodes()).items()}
        moved = {n: (old, now[n]) for n, old in self.recorded_ips().items() if n in now and now[n] and now[n] != old}
        kubeconfig = self.provider.state.kubeconfig
        server = None
        if with_server and kubeconfig.is_file():
            exported = runner.run(["kind", "get", "kubeconfig", "--name", self.name], timeout=60, hint=HINT).stdout
            old, new = server_of(kubeconfig.read_text()), server_of(exported)
            if old != new:
                server = (old, new)
        return moved, server

    def _repaired(self, ctx: Context) -> bool:
        if not self.record_path.is_file():
            return False  # the first run records the addresses a later restart is compared with
        moved, server = self.changes()
        return not moved and server is None

    def _repair(self, ctx: Context) -> None:
        moved, server = self.changes()
        for node, (old, new) in moved.items():
            ctx.console.print(f"  repaired: {node} moved {old} -> {new} (kind's entrypoint rewrote its kubelet "
                              "flags, manifests and API server certificate); checked once the nodes are Ready")
        if server is not None:
            exported = runner.run(["kind", "get", "kubeconfig", "--name", self.name], timeout=60, hint=HINT).stdout
            write_private(self.provider.state.kubeconfig, exported)
            ctx.reset_kube()
            ctx.console.print(f"  repaired: the API server moved {server[0]} -> {server[1]}: kubeconfig "
                              f"{self.provider.state.kubeconfig} exported again")
        self.record()

    def wait_api(self, ctx: Context) -> None:
        wait_api(ctx, self._api_hint)

    @property
    def _api_hint(self) -> str:
        return f"docker logs {self.name}-control-plane"

    def address_mismatches(self, ctx: Context) -> list[str]:
        now = {n: c["ip"] for n, c in self.containers(self.nodes()).items()}
        wrong = []
        for node in ctx.kube().list("/api/v1/nodes"):
            name = node["metadata"]["name"]
            addrs = {a["type"]: a["address"] for a in (node.get("status") or {}).get("addresses") or []}
            if name in now and now[name] and addrs.get("InternalIP", now[name]) != now[name]:
                wrong.append(f"{name} registered as {addrs['InternalIP']} but its container is at {now[name]}")
        return wrong

    def _addresses_ok(self, ctx: Context) -> bool:
        return not self.address_mismatches(ctx)

    def _addresses_fail(self, ctx: Context) -> None:
        raise DevclusterError(
            "the cluster did not survive the restart: " + "; ".join(self.address_mismatches(ctx)) +
            " (a node image older than kind v0.15 does not rewrite its address)", RECREATE)

    def bring_back(self, ctx: Context) -> bool:
        """What `up` does when its kubeconfig step finds a stopped cluster: start the nodes (the step then
        exports the kubeconfig, so a moved API port needs no repair, and waits for the API). Whether it did."""
        states = self.containers(self.nodes())
        if all(c["running"] for c in states.values()):
            return False
        ctx.console.print(f"  kind cluster {self.name!r} is stopped: starting it (not recreating it)")
        self._start(ctx)
        moved, _ = self.changes(with_server=False)
        for node, (old, new) in moved.items():
            ctx.console.print(f"  {node} moved {old} -> {new} (kind's entrypoint rewrote its kubelet flags, "
                              "manifests and API server certificate)")
        return True

    def resume_steps(self) -> list[Step]:
        return [
            Step("start-nodes", f"start the stopped node containers of {self.name!r}, control planes first",
                 self._start, lambda ctx: self._all(True), hint=HINT),
            Step("restart-repair", "after a restart: re-export the kubeconfig if the API port moved, report moved "
                 "node addresses", self._repair, self._repaired),
        ]

    def stop_steps(self) -> list[Step]:
        return [Step("stop-nodes", f"docker stop the node containers of {self.name!r}, workers first (addresses "
                     f"recorded in {self.record_path})", self._stop, lambda ctx: self._all(False), hint=HINT)]

    def start_steps(self) -> list[Step]:
        return [
            *self.resume_steps(),
            api_step(self._api_hint),
            nodes_ready_step(self.provider),
            Step("node-addresses", "every Node's InternalIP is its container's address", self._addresses_fail,
                 self._addresses_ok, hint=RECREATE),
        ]
