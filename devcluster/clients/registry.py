"""What the local registry and the pull-through caches are, and the files that point containerd at them.

Pure decisions, no processes: the containers' names, ports and environment; containerd's `hosts.toml`
per upstream (kind, Vagrant kubeadm), k3s's `registries.yaml`, kind's `containerdConfigPatches`, and the
KEP-1755 `local-registry-hosting` document. The same functions feed the real nodes and the tests, which
hand these very files to Debian's containerd and registry.

A cache is a mirror *before* its upstream, never instead of it: each hosts.toml names the upstream as
`server`, so containerd falls back to it when the cache is down, and k3s always tries the default
endpoint last.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import yaml

from devcluster.config.schema import RegistryConfig

CERTS_DIR = "/etc/containerd/certs.d"
CONTAINER_PORT = 5000
LOOPBACK = "127.0.0.1"
LOCAL_NAME = "devcluster-registry"
MIRROR_PREFIX = "devcluster-mirror-"
LABEL = "io.devcluster.registry"
KEP_NAMESPACE = "kube-public"
KEP_CONFIGMAP = "local-registry-hosting"
KEP_KEY = "localRegistryHosting.v1"
KEP_HELP = "https://kind.sigs.k8s.io/docs/user/local-registry/"
# Where an upstream's API answers when it is not https://<name>: Docker Hub's images are named docker.io,
# its registry API is registry-1.docker.io.
UPSTREAM_SERVERS = {"docker.io": "https://registry-1.docker.io"}
# containerd 1.6+ reads hosts.toml from config_path (kind's documented local-registry patch).
CONTAINERD_PATCH = f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{CERTS_DIR}"\n'

Reach = Callable[["RegistryContainer"], str]


def slug(upstream: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", upstream.lower()).strip("-")


def upstream_server(upstream: str, servers: Mapping[str, str] | None = None) -> str:
    return (servers or {}).get(upstream, "").rstrip("/") or UPSTREAM_SERVERS.get(upstream) or f"https://{upstream}"


@dataclass(frozen=True)
class RegistryContainer:
    """One distribution registry container: the local registry, or the cache of one upstream."""

    name: str
    image: str
    port: int  # published on each of ``addresses``
    upstream: str = ""  # empty: the local registry
    server: str = ""  # the upstream's URL (proxy.remoteurl)
    storage_dir: str = ""  # empty: the named volume
    # The host addresses the port is published on: loopback for this machine and kind, plus the host-only
    # address for Vagrant VMs. Shared by every cluster here, so a container may publish on more.
    addresses: tuple[str, ...] = (LOOPBACK,)

    def published_on(self, *addresses: str) -> RegistryContainer:
        """The same container, also published on ``addresses`` (loopback always first, no repeats)."""
        return dataclasses.replace(self, addresses=tuple(dict.fromkeys((*self.addresses, *addresses))))

    @property
    def pulled_as(self) -> str:
        """The registry name images are pulled by that this container serves: its upstream, or for the local
        registry localhost:<port> (what `image load` tags)."""
        return self.upstream or f"localhost:{self.port}"

    @property
    def volume(self) -> str:
        return f"{self.name}-data"

    @property
    def credentials_prefix(self) -> str:
        """DEVCLUSTER_MIRROR_DOCKER_IO_USERNAME / _PASSWORD: an upstream's credentials, from the environment only."""
        return "DEVCLUSTER_MIRROR_" + slug(self.upstream).upper().replace("-", "_")

    def env(self) -> dict[str, str]:
        """Configuration that is no secret, given as `-e NAME=value` (distribution reads REGISTRY_* overrides)."""
        return {"REGISTRY_PROXY_REMOTEURL": self.server} if self.upstream else {}

    def secret_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The upstream's credentials under the names distribution reads; passed to docker as bare `-e NAME`,
        so the values travel in the environment, never in argv."""
        source = os.environ if environ is None else environ
        user = source.get(self.credentials_prefix + "_USERNAME", "")
        password = source.get(self.credentials_prefix + "_PASSWORD", "")
        if not (self.upstream and user and password):
            return {}
        return {"REGISTRY_PROXY_USERNAME": user, "REGISTRY_PROXY_PASSWORD": password}


def switched(reg: RegistryConfig, on: bool) -> RegistryConfig:
    """``reg`` with the local registry and the caches both on (everything it names, e.g. to purge) or off."""
    return dataclasses.replace(reg, enabled=on, mirrors=dataclasses.replace(reg.mirrors, enabled=on))


def local_registry(reg: RegistryConfig) -> RegistryContainer:
    return RegistryContainer(LOCAL_NAME, reg.image, reg.port)


def mirrors(reg: RegistryConfig) -> list[RegistryContainer]:
    """The caches, one per upstream, on the ports after the registry's (5002, 5003, ...)."""
    if not reg.mirrors.enabled:
        return []
    base = reg.mirrors.storage_dir
    out = []
    for i, upstream in enumerate(reg.mirrors.upstreams):
        name = MIRROR_PREFIX + slug(upstream)
        storage = os.path.join(os.path.expanduser(base), slug(upstream)) if base else ""
        server = upstream_server(upstream, reg.mirrors.remotes)
        out.append(RegistryContainer(name, reg.image, reg.port + 1 + i, upstream, server, storage))
    return out


def containers(reg: RegistryConfig) -> list[RegistryContainer]:
    """Everything `up` runs for ``reg``: the local registry when enabled, then the caches."""
    return ([local_registry(reg)] if reg.enabled else []) + mirrors(reg)


def local_reference(image: str, port: int) -> str:
    """Where `image load` pushes ``image``: its path without the registry, under localhost:<port>.

    ghcr.io/forail-platform/forail-backend:dev -> localhost:5001/forail-platform/forail-backend:dev; a
    name without a registry (forail-backend:dev) keeps its whole path; no tag means :latest.
    """
    first, _, rest = image.partition("/")
    path = rest if rest and ("." in first or ":" in first or first == "localhost") else image
    if ":" not in path.rsplit("/", 1)[-1] and "@" not in path:
        path += ":latest"
    return f"localhost:{port}/{path}"


def via_network(container: RegistryContainer) -> str:
    """From a kind node: the container by name on the `kind` network."""
    return f"http://{container.name}:{CONTAINER_PORT}"


def via_host(address: str) -> Reach:
    """From a VM or this machine: the port published on ``address`` (the host-only address, or loopback)."""
    return lambda container: f"http://{address}:{container.port}"


def hosts_toml(server: str, endpoints: list[str]) -> str:
    """containerd's hosts.toml: try each endpoint (pull, resolve), then ``server`` (empty: the registry's own)."""
    lines = ["# written by devcluster: mirrors first, then the registry itself"]
    if server:
        lines.append(f'server = "{server}"')
    for endpoint in endpoints:
        lines += ["", f'[host."{endpoint}"]', '  capabilities = ["pull", "resolve"]']
    return "\n".join(lines) + "\n"


def hosts_files(reg: RegistryConfig, reach: Reach) -> dict[str, str]:
    """Path under CERTS_DIR -> content: one directory per upstream, and `localhost:<port>` for the local
    registry, so `localhost:5001/app` pulls on a node from the registry container."""
    return {f"{c.pulled_as}/hosts.toml": hosts_toml(c.server, [reach(c)]) for c in containers(reg)}


def k3s_registries(reg: RegistryConfig, reach: Reach) -> dict[str, object]:
    """k3s's /etc/rancher/k3s/registries.yaml: k3s tries each endpoint, then the upstream's default one."""
    entries = {c.pulled_as: {"endpoint": [reach(c)]} for c in containers(reg)}
    return {"mirrors": entries} if entries else {}


def containerd_patches(reg: RegistryConfig) -> list[str]:
    return [CONTAINERD_PATCH] if (reg.enabled or reg.mirrors.enabled) else []


@dataclass(frozen=True)
class Hosting:
    """KEP-1755's LocalRegistryHostingV1: how tools (Tilt, Skaffold) push and how pods name what was pushed."""

    host: str
    from_container_runtime: str
    from_cluster_network: str
    help: str = KEP_HELP

    def configmap(self) -> dict[str, object]:
        doc = {"host": self.host, "hostFromContainerRuntime": self.from_container_runtime,
               "hostFromClusterNetwork": self.from_cluster_network, "help": self.help}
        return {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": KEP_CONFIGMAP, "namespace": KEP_NAMESPACE,
                         "labels": {"app.kubernetes.io/managed-by": "devcluster"}},
            "data": {KEP_KEY: yaml.safe_dump(doc, sort_keys=False)},
        }


def hosting(reg: RegistryConfig, runs_local: bool, from_cluster_network: str = "") -> Hosting | None:
    """`registry.host` when given (a registry you run), else the local one when this provider runs it;
    ``from_cluster_network``: how pods reach it (default: by name on the `kind` network)."""
    if reg.host:
        return Hosting(reg.host, reg.host, reg.host)
    if reg.enabled and runs_local:
        inside = from_cluster_network or f"{LOCAL_NAME}:{CONTAINER_PORT}"
        return Hosting(f"localhost:{reg.port}", f"localhost:{reg.port}", inside)
    return None
