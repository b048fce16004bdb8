"""The registry and the caches as steps: containers and their bindings (any provider that runs them), and
for a Docker-based provider (kind) the network and the node files.

The containers come before the cluster (so the first pull of the first node already finds the caches);
the `kind` network exists only once kind made it, so joining it and writing each node's hosts.toml come
after `create-cluster`. A VM provider publishes them on its host-only address too, which exists only once
VirtualBox made the interface (rebind_step, after the first VM). Each check is a `docker inspect` or a
read of a node's file.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from devcluster.clients import registry_containers as rc
from devcluster.clients import runner
from devcluster.clients.registry import CERTS_DIR, RegistryContainer, containers, hosts_files, switched, via_network
from devcluster.config.schema import Config
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.providers.doctor import Finding
from devcluster.providers.kind_lifecycle import node_names

KIND_NETWORK = "kind"


def container_steps(cfg: Config, also_on: Callable[[], tuple[str, ...]] | None = None,
                    also_said: str = "") -> list[Step]:
    """One step per container, published on 127.0.0.1 and on whatever ``also_on()`` answers when the step
    runs (``also_said`` says what that is, for the plan)."""
    steps = []
    for c in containers(cfg.registry):
        what = f"cache of {c.upstream}" if c.upstream else "local registry"
        storage = c.storage_dir or f"volume {c.volume}"

        def wanted(c: RegistryContainer = c) -> RegistryContainer:
            return c.published_on(*also_on()) if also_on is not None else c

        steps.append(Step(
            "registry" if not c.upstream else f"mirror-{c.name.removeprefix('devcluster-mirror-')}",
            f"{what}: container {c.name} on 127.0.0.1:{c.port}{also_said} ({storage}, kept across down), "
            f"image {c.image.split('@')[0]}" + (" (when it does not answer, nodes pull from the upstream)"
                                                if c.upstream else ""),
            lambda ctx, wanted=wanted: _ensure(ctx, wanted()),
            lambda ctx, wanted=wanted: _ready(wanted()), hint=f"docker logs {c.name}"))
    return steps


def _ensure(ctx: Context, c: RegistryContainer) -> None:
    """A cache that does not answer (offline, its upstream down) costs speed, never a pull: containerd falls
    back to the upstream. So it is a warning, and `up` goes on; the local registry has no such fallback."""
    try:
        ctx.console.print(f"  {c.name}: {rc.ensure(c)}")
    except rc.NotAnswering as exc:
        if not c.upstream:
            raise
        ctx.console.print(f"  [yellow]warning:[/yellow] {exc.message}; {exc.hint or ''} Nodes pull {c.upstream} "
                          "images from the upstream itself meanwhile; docker keeps restarting the cache.")


def _ready(c: RegistryContainer) -> bool:
    """The local registry answers; a cache is made and kept up by docker (it may not answer while its upstream
    does not, and nodes then pull from the upstream)."""
    return rc.made(c) if c.upstream else rc.is_running(c)


def rebind_step(cfg: Config, name: str, address: str, why: str) -> list[Step]:
    """Every container published on ``address`` as well (replaced when it lacks that binding, kept with its
    data and networks; a no-op when it has it)."""
    wanted = [c.published_on(address) for c in containers(cfg.registry)]
    if not wanted:
        return []

    def act(ctx: Context) -> None:
        for c in wanted:
            _ensure(ctx, c)

    ports = ", ".join(str(c.port) for c in wanted)
    return [Step(name, f"publish {', '.join(c.name for c in wanted)} on {address} too (ports {ports}): {why}",
                 act, lambda ctx: all(_ready(c) for c in wanted), hint="docker ps -a; docker logs <name>")]


def network_step(cfg: Config, network: str = KIND_NETWORK) -> list[Step]:
    wanted = containers(cfg.registry)
    if not wanted:
        return []

    def act(ctx: Context) -> None:
        for c in wanted:
            if not rc.connected(c, network):
                rc.connect(c, network)

    return [Step("registry-network", f"connect {', '.join(c.name for c in wanted)} to the {network!r} network",
                 act, lambda ctx: all(rc.connected(c, network) for c in wanted))]


def _node_file(node: str, path: str) -> str | None:
    res = runner.run(["docker", "exec", node, "cat", path], check=False, timeout=60)
    return res.stdout if res.ok else None


def write_node_file(node: str, path: str, content: str) -> None:
    """Through `docker exec -i`: the content on stdin, so nothing but the path is in argv."""
    script = f"mkdir -p {shlex.quote(path.rsplit('/', 1)[0])} && cat > {shlex.quote(path)}"
    runner.run(["docker", "exec", "-i", node, "sh", "-c", script], input_text=content, timeout=60)


def node_files_step(cfg: Config) -> list[Step]:
    files = {f"{CERTS_DIR}/{rel}": text for rel, text in hosts_files(cfg.registry, via_network).items()}
    if not files:
        return []

    def done(ctx: Context) -> bool:
        nodes = node_names(cfg.name)  # none yet: not done (all() of nothing would say it is)
        return bool(nodes) and all(_node_file(node, path) == text for node in nodes for path, text in files.items())

    def act(ctx: Context) -> None:
        for node in node_names(cfg.name):
            for path, text in files.items():
                if _node_file(node, path) != text:
                    write_node_file(node, path, text)
            ctx.console.print(f"  {node}: {len(files)} hosts.toml under {CERTS_DIR}")

    return [Step("registry-hosts", f"write {len(files)} hosts.toml ({', '.join(p.split('/')[-2] for p in files)}) "
                 f"into every node's {CERTS_DIR}", act, done)]


def remove_containers(cfg: Config, purge: bool) -> list[str]:
    """`down` keeps the registry and caches (shared, and their data is the point); `--purge-registry` removes
    them with their volumes."""
    if not purge:
        return []
    # what the config names, on or off now: a registry switched off since it was made is still purged
    found: list[RegistryContainer] = containers(switched(cfg.registry, on=True))
    return [item for c in found for item in rc.remove(c, purge=True)]


def port_findings(cfg: Config, busy: Callable[[str, list[int]], list[int]]) -> list[Finding]:
    """`doctor`: each registry port is free, or already the registry's own container's."""
    findings = []
    for c in containers(cfg.registry):
        if not busy("127.0.0.1", [c.port]):
            findings.append(Finding(c.name, True, f"127.0.0.1:{c.port} is free"))
            continue
        try:
            ours = rc.holds_port(c)
        except DevclusterError:
            ours = False
        findings.append(Finding(c.name, True, f"127.0.0.1:{c.port} is {c.name}'s") if ours else Finding(
            c.name, False, f"127.0.0.1:{c.port} is taken by something else",
            "stop what listens there (`ss -ltnp`), or change registry.port (the caches take the ports after it)"))
    return findings


def refuse_taken_ports(cfg: Config, busy: Callable[[str, list[int]], list[int]]) -> None:
    """Preflight: a registry port held by something else would fail `docker run` half-way through `up`
    (5005, the last default cache's, is also the usual Java debugger port): say so before anything is made."""
    taken = [f for f in port_findings(cfg, busy) if not f.ok]
    if taken:
        raise DevclusterError("; ".join(f"{f.what}: {f.detail}" for f in taken), taken[0].fix)
