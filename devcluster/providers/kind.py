"""kind: Kubernetes in Docker, the CI path.

The rendered config publishes the Traefik NodePorts from the control-plane
container on the host's loopback; the kubeconfig is written to the state dir
so the user's ~/.kube/config is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from devcluster.assets import asset_dir
from devcluster.clients import registry, runner
from devcluster.clients.access import ClusterAccess, NodeAccess
from devcluster.config import KIND_VERSION, Config
from devcluster.engine.steps import Context, Step
from devcluster.errors import DevclusterError
from devcluster.local.state import State, write_private
from devcluster.providers import image_loading, registry_steps
from devcluster.providers.base import Provider
from devcluster.providers.doctor import HELM_TOOL, KUBECTL_TOOL, Finding, Tool, busy_ports
from devcluster.providers.kind_lifecycle import KindLifecycle, node_names
from devcluster.providers.steps import kubeconfig_reachable, nodes_ready_step, reachable_step

KIND_HINT = (f"install kind {KIND_VERSION}: bash scripts/install-tools.sh, or "
             "https://kind.sigs.k8s.io/docs/user/quick-start/#installation")
DOCKER_HINT = "start Docker (or Docker Desktop) and check that `docker info` works for your user"


def base_config() -> dict[str, Any]:
    text = (asset_dir("kind") / "cluster.yaml").read_text()
    return yaml.safe_load(text)


def render_config(cfg: Config) -> dict[str, Any]:
    doc = base_config()
    doc["name"] = cfg.name
    mappings = [
        {"containerPort": port, "hostPort": port, "listenAddress": cfg.kind.listen_address, "protocol": "TCP"}
        for port in (cfg.node_ports.http, cfg.node_ports.https)
    ]
    doc["nodes"] = [
        {"role": "control-plane", "image": cfg.kind.node_image, "labels": {"ingress-ready": "true"},
         "extraPortMappings": mappings}
    ] + [{"role": "worker", "image": cfg.kind.node_image} for _ in range(cfg.kind.workers)]
    patches = registry.containerd_patches(cfg.registry)
    if patches:  # containerd reads the registry and caches' hosts.toml (providers/registry_steps.py)
        doc["containerdConfigPatches"] = patches
    return doc


def config_drift(made: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """What differs between the kind config a cluster was created with and the one the config asks for now."""
    def workers(doc: dict[str, Any]) -> int:
        return sum(1 for n in doc.get("nodes", []) if n.get("role") == "worker")

    def images(doc: dict[str, Any]) -> set[str]:
        return {n.get("image", "") for n in doc.get("nodes", [])}

    def ports(doc: dict[str, Any]) -> list[Any]:
        return [n.get("extraPortMappings") for n in doc.get("nodes", []) if n.get("role") == "control-plane"]

    changes = []
    if workers(made) != workers(wanted):
        changes.append(f"kind.workers: the cluster has {workers(made)}, the config asks for {workers(wanted)}")
    if images(made) != images(wanted):
        changes.append(f"kind.node_image: {', '.join(sorted(images(made)))} -> {', '.join(sorted(images(wanted)))}")
    if ports(made) != ports(wanted):
        changes.append("node_ports / kind.listen_address: the published ports differ")
    if bool(made.get("containerdConfigPatches")) != bool(wanted.get("containerdConfigPatches")):
        changes.append("registry: containerd's config_path (the registry and caches) is set only at create")
    return changes


PortProbe = Callable[[str, list[int]], list[int]]


class KindProvider(Provider):
    name = "kind"

    def __init__(self, cfg: Config, state: State, port_probe: PortProbe = busy_ports) -> None:
        super().__init__(cfg, state)
        # Injected so tests never depend on what listens on this machine's 30080/30443.
        self.port_probe = port_probe

    @property
    def config_path(self) -> Path:
        return self.state.path("kind-config.yaml")

    def access(self) -> ClusterAccess:
        return self.state_access(f"kind-{self.cfg.name}")

    def ingress_address(self) -> str:
        return self.cfg.kind.listen_address

    def access_steps(self) -> list[Step]:
        return [reachable_step(self)]

    def node_access(self) -> NodeAccess:
        # kind nodes are containers: testinfra's docker backend execs into them.
        return NodeAccess("docker")

    def expected_nodes(self) -> int | None:
        return 1 + self.cfg.kind.workers

    def bundled_local_path(self) -> tuple[str, str] | None:
        # kind's node image runs local-path-provisioner in local-path-storage behind its `standard` class.
        return ("local-path-storage", "local-path-provisioner")

    def cluster_exists(self) -> bool:
        res = runner.run(["kind", "get", "clusters"], timeout=60, hint=KIND_HINT)
        return self.cfg.name in res.stdout.split()

    def _preflight(self, ctx: Context) -> None:
        runner.require("kind", KIND_HINT)
        runner.require("docker", DOCKER_HINT)
        runner.run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=60, hint=DOCKER_HINT)
        if self.cluster_exists():
            self._refuse_drift()
            return
        ports = [self.cfg.node_ports.http, self.cfg.node_ports.https]
        busy = self.port_probe(self.cfg.kind.listen_address, ports)
        if busy:
            raise DevclusterError(
                f"port(s) {', '.join(map(str, busy))} on {self.cfg.kind.listen_address} are already in use; "
                "kind could not publish the ingress NodePorts",
                "stop what listens there (`ss -ltnp`), or change node_ports in devcluster.yaml",
            )
        registry_steps.refuse_taken_ports(self.cfg, self.port_probe)

    def _refuse_drift(self) -> None:
        """A kind cluster cannot be resized or re-imaged in place: a changed config must be explained now,
        not discovered later as a nodes-ready timeout."""
        made = self._made_config()
        if made is None:
            return
        changes = config_drift(made, render_config(self.cfg))
        if changes:
            hint = ("kind cannot change a running cluster: `devcluster down` then `devcluster up` (the state dir "
                    "and generated secrets are kept), or revert devcluster.yaml")
            if any(c.startswith("registry:") for c in changes):
                hint += ("; the registry and caches are on by default now: to keep a cluster made "
                         "without them, set registry.enabled and registry.mirrors.enabled to false")
            raise DevclusterError(
                f"kind cluster {self.cfg.name!r} was created with another configuration: {'; '.join(changes)}", hint)

    def _create(self, ctx: Context) -> None:
        write_private(self.config_path, yaml.safe_dump(render_config(self.cfg), sort_keys=False))
        timeout = self.cfg.kind.create_timeout
        retain = ["--retain"] if self.cfg.kind.retain_on_failure else []
        runner.run(
            ["kind", "create", "cluster", "--name", self.cfg.name, "--config", str(self.config_path),
             "--kubeconfig", str(self.state.kubeconfig), "--wait", f"{timeout}s", *retain],
            timeout=timeout + 300, hint=f"kind export logs --name {self.cfg.name}; then devcluster down",
            echo=ctx.echo,
        )
        self.state.kubeconfig.chmod(0o600)

    def lifecycle(self) -> KindLifecycle:
        return KindLifecycle(self)

    def _export_kubeconfig(self, ctx: Context) -> None:
        lifecycle = self.lifecycle()
        started = lifecycle.bring_back(ctx)  # stopped (devcluster stop, a reboot): started, not recreated
        res = runner.run(["kind", "get", "kubeconfig", "--name", self.cfg.name], timeout=60, hint=KIND_HINT)
        write_private(self.state.kubeconfig, res.stdout)
        ctx.reset_kube()
        if started:
            lifecycle.wait_api(ctx)  # with the kubeconfig just exported, wherever the API port moved to
        lifecycle.record()  # the node addresses a later restart is compared with

    def cluster_steps(self) -> list[Step]:
        workers = self.cfg.kind.workers
        return [
            Step("preflight", f"kind and a running Docker; ports {self.cfg.node_ports.http}/"
                 f"{self.cfg.node_ports.https} free on {self.cfg.kind.listen_address}", self._preflight),
            *registry_steps.container_steps(self.cfg),
            Step("create-cluster",
                 f"kind create cluster {self.cfg.name!r}: 1 control-plane + {workers} worker(s), "
                 f"image {self.cfg.kind.node_image.split('@')[0]}", self._create,
                 lambda ctx: self.cluster_exists(), hint=f"kind export logs --name {self.cfg.name}"),
            Step("kubeconfig", f"write the cluster's kubeconfig to {self.state.kubeconfig} (0600)",
                 self._export_kubeconfig, kubeconfig_reachable, gate=True),
            *registry_steps.network_step(self.cfg),
            *registry_steps.node_files_step(self.cfg),
            nodes_ready_step(self),
        ]

    def down(self, ctx: Context) -> None:
        runner.require("kind", KIND_HINT)
        if self.cluster_exists():
            runner.run(["kind", "delete", "cluster", "--name", self.cfg.name,
                        "--kubeconfig", str(self.state.kubeconfig)], timeout=300)
            ctx.console.print(f"deleted kind cluster {self.cfg.name}")
        else:
            ctx.console.print(f"kind cluster {self.cfg.name} does not exist")
        self.state.kubeconfig.unlink(missing_ok=True)

    def _made_config(self) -> dict[str, Any] | None:
        """The kind config the cluster was created with (written at create), None when it was not kept."""
        if not self.config_path.is_file():
            return None
        return yaml.safe_load(self.config_path.read_text()) or {}

    def _made_with_registry(self) -> bool:
        """The cluster's containerd reads hosts.toml (kind sets config_path only at create); a cluster whose
        config was not kept is taken as made by this config."""
        made = self._made_config()
        return made is None or bool(made.get("containerdConfigPatches"))

    def load_images(self, ctx: Context, images: list[str]) -> list[str]:
        runner.require("kind", KIND_HINT)
        if not self.cluster_exists():
            raise DevclusterError(f"no kind cluster {self.cfg.name!r}",
                                  "create it with `devcluster up --provider kind`")
        nodes = node_names(self.cfg.name, KIND_HINT)
        made_with_registry = self._made_with_registry()
        if self.cfg.registry.enabled and made_with_registry:  # pods pull localhost:<port>/... via hosts.toml
            image_loading.push_and_record(self.cfg, self.state, images, ctx.console.print, ctx.echo)
        else:
            if self.cfg.registry.enabled:
                ctx.console.print(f"  kind cluster {self.cfg.name!r} was made without the registry (its containerd "
                                  "ignores hosts.toml): loading into the nodes instead; `devcluster down`, `up` "
                                  "for the registry")
            image_loading.archive_into_nodes(self.cfg.name, nodes, images, ctx.console.print, ctx.echo)
        return nodes

    def doctor_checks(self) -> list[Finding]:
        return super().doctor_checks() + registry_steps.port_findings(self.cfg, self.port_probe)

    def tools(self) -> list[Tool]:
        return [
            Tool("kind", ("version",), KIND_HINT),
            Tool("docker", ("version", "--format", "{{.Server.Version}}"), DOCKER_HINT),
            HELM_TOOL,
            KUBECTL_TOOL,
        ]
