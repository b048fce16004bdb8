"""devcluster.yaml: every key optional, every value checked before anything runs.

The loader walks typed dataclasses so that a wrong key or value is reported
with its full dotted path (``kind.workers: expected an integer``), and unknown
keys are errors rather than silently ignored typos.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from devcluster.errors import ConfigError

CONFIG_FILENAME = "devcluster.yaml"

KIND_NODE_IMAGE = (
    "kindest/node:v1.30.13@sha256:397209b3d947d154f6641f2d0ce8d473732bd91c87d9575ade99049aa33cd648"
)
KIND_VERSION = "v0.29.0"
LOCAL_PATH_VERSION = "v0.0.30"
TRAEFIK_CHART_VERSION = "34.4.1"
FLANNEL_VERSION = "v0.26.3"

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass
class NodePorts:
    http: int = 30080
    https: int = 30443


@dataclass
class KindConfig:
    workers: int = 2
    node_image: str = KIND_NODE_IMAGE
    # Where the node ports are published on the host: loopback keeps the
    # cluster private to this machine.
    listen_address: str = "127.0.0.1"
    create_timeout: int = 600
    # Keep the node containers of a failed `kind create cluster` (kind --retain) so their logs can be
    # exported; CI sets it. `devcluster down` deletes them either way.
    retain_on_failure: bool = False


@dataclass
class VagrantConfig:
    box: str = "bento/ubuntu-22.04"
    box_version: str = "202401.31.0"
    # A mirror or local .box file for air-gapped hosts (Vagrant's config.vm.box_url); empty: Vagrant Cloud.
    box_url: str = ""
    control_planes: int = 2
    workers: int = 2
    network_prefix: str = "192.168.56"
    control_plane_memory: int = 4096
    control_plane_cpus: int = 2
    worker_memory: int = 4096
    worker_cpus: int = 2
    # The address forail.lan points at; empty means the last worker's.
    ingress_ip: str = ""
    kubernetes_package_version: str = "1.30.14-1.1"
    kubernetes_apt_repo: str = "https://pkgs.k8s.io/core:/stable:/v1.30/deb/"
    flannel_manifest: str = (
        f"https://github.com/flannel-io/flannel/releases/download/{FLANNEL_VERSION}/kube-flannel.yml"
    )
    flannel_sha256: str = ""
    up_timeout: int = 1800


@dataclass
class ExistingConfig:
    kubeconfig: str = ""
    context: str = ""
    # Where the cluster's NodePorts are reachable from this machine (hosts entry, ingress checks).
    ingress_ip: str = "127.0.0.1"


@dataclass
class TraefikConfig:
    chart: str = "traefik"
    # A helm repository URL, or empty when ``chart`` is a local path / OCI ref.
    repo: str = "https://traefik.github.io/charts"
    version: str = TRAEFIK_CHART_VERSION
    namespace: str = "traefik"
    release: str = "traefik"
    # The IngressClass Traefik serves, made the cluster's default; the Forail Ingress uses it.
    ingress_class: str = "traefik"
    # Extra chart values on top of devcluster's (e.g. image.registry for a mirror).
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class LocalPathConfig:
    version: str = LOCAL_PATH_VERSION
    # URL or local file; ``{version}`` is substituted.
    manifest: str = (
        "https://raw.githubusercontent.com/rancher/local-path-provisioner/{version}/deploy/local-path-storage.yaml"
    )
    sha256: str = ""


@dataclass
class AddonsConfig:
    traefik: TraefikConfig = field(default_factory=TraefikConfig)
    local_path: LocalPathConfig = field(default_factory=LocalPathConfig)
    # Pods do not read the host's /etc/hosts: rewrite <hostname> to Traefik's
    # Service in CoreDNS so in-cluster clients resolve it too.
    coredns_rewrite: bool = True


@dataclass
class PullSecretConfig:
    name: str = ""
    server: str = ""
    username: str = ""
    # The password is read from this environment variable at run time, never
    # stored in the config file.
    password_env: str = "DEVCLUSTER_PULL_PASSWORD"
    email: str = ""


@dataclass
class HostsConfig:
    manage: bool = True
    file: str = "/etc/hosts"


@dataclass
class TimeoutsConfig:
    rollout: int = 300
    nodes_ready: int = 600
    helm: int = 600


@dataclass
class PostInstallConfig:
    """A command run once per cluster in a running pod of ``deployment`` after the release is ready."""

    name: str = ""
    deployment: str = ""
    command: list[str] = field(default_factory=list)
    container: str = ""
    timeout: int = 300


@dataclass
class ReleaseConfig:
    name: str = ""
    # Local path, ``oci://...``, a chart name in ``repo``, or a git URL (with ``ref``/``subdir``).
    chart: str = ""
    repo: str = ""
    version: str = ""
    git: str = ""
    ref: str = ""
    subdir: str = ""
    namespace: str = ""
    values_files: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    wait: bool = True
    timeout: int = 900
    # Which generated secrets/token and which cluster-derived values to inject.
    kind: Literal["forail", "forail-operator", "plain"] = "plain"
    post_install: list[PostInstallConfig] = field(default_factory=list)


# The newest published releases (docs/configuration.md says how each was pinned). forail-helm's chart
# 2026.7.1 is its newest release (2026.10.0 on main is unreleased); the operator's v2026.06.0 is the
# first forail-named tag (v1.0.x is still forge-named: values forge.*, CRD group forge.forgeplatform.io).
FORAIL_HELM_GIT = "https://github.com/forail-platform/forail-helm.git"
FORAIL_HELM_REF = "v2026.07.1"
FORAIL_OPERATOR_GIT = "https://github.com/forail-platform/forail-operator.git"
FORAIL_OPERATOR_REF = "v2026.06.0"
OPERATOR_CRD_GROUP = "forail.forail-platform.io"
# The kinds forail-operator v2026.06.0 ships in helm/crds/ (api/v1alpha1).
OPERATOR_KINDS = ("Credential", "ForailInstance", "Inventory", "JobTemplate", "Organization", "Project",
                  "Schedule", "Team", "Workflow")


def _default_releases() -> list[ReleaseConfig]:
    return [
        ReleaseConfig(name="forail", git=FORAIL_HELM_GIT, ref=FORAIL_HELM_REF, namespace="forail", kind="forail"),
        ReleaseConfig(name="forail-operator", git=FORAIL_OPERATOR_GIT, ref=FORAIL_OPERATOR_REF, subdir="helm",
                      namespace="forail-operator", kind="forail-operator"),
    ]


@dataclass
class StackConfig:
    enabled: bool = True
    admin_user: str = "admin"
    releases: list[ReleaseConfig] = field(default_factory=_default_releases)
    # Deployment in the Forail namespace whose pod mints the operator token.
    web_deployment: str = "forail-web"
    token_command: list[str] = field(
        default_factory=lambda: ["forail-manage", "create_oauth2_token", "--user", "{admin_user}"]
    )
    token_env: str = "DEVCLUSTER_FORAIL_TOKEN"
    # An authenticated read through the ingress that answers 401 for a rejected token: a stored token is
    # checked with it before reuse and minted again when rejected.
    token_check_path: str = "/api/v2/me/"
    # The operator's `forail.url`; empty: the Forail release's web Service inside the cluster.
    operator_url: str = ""
    verify_path: str = "/api/v2/ping/"
    sample_cr: bool = True
    # The Forail organization the sample Inventory belongs to (spec.organization is required).
    sample_organization: str = "Default"
    crd_group: str = OPERATOR_CRD_GROUP
    # How Forail runs jobs: `pods` (forail.node.type control: each job is its own pod, the chart default)
    # or `podman` (node.type hybrid: podman inside a privileged task pod; dev only).
    job_execution: Literal["pods", "podman"] = "pods"
    # Backend and frontend image tag for the Forail release (`--image-tag` overrides); empty: the chart's.
    image_tag: str = ""
    # Where sibling checkouts live (forail-helm/, forail-operator/helm/): a git release whose repository
    # has a checkout there is installed from it. Empty: the parent of the config file's directory
    # (of the current directory without a config file). `use_checkouts: false` always uses git.
    checkouts_dir: str = ""
    use_checkouts: bool = True


@dataclass
class Config:
    name: str = "devcluster"
    provider: Literal["kind", "vagrant", "existing"] = "kind"
    kubernetes_version: str = "1.30"
    hostname: str = "forail.lan"
    namespace: str = "forail"
    tls_secret: str = "forail-tls"
    node_ports: NodePorts = field(default_factory=NodePorts)
    state_dir: str = ""
    kind: KindConfig = field(default_factory=KindConfig)
    vagrant: VagrantConfig = field(default_factory=VagrantConfig)
    existing: ExistingConfig = field(default_factory=ExistingConfig)
    addons: AddonsConfig = field(default_factory=AddonsConfig)
    pull_secret: PullSecretConfig = field(default_factory=PullSecretConfig)
    hosts: HostsConfig = field(default_factory=HostsConfig)
    timeouts: TimeoutsConfig = field(default_factory=TimeoutsConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    source: str = field(default="", metadata={"internal": True})

    @property
    def state_path(self) -> Path:
        """Per-cluster state (kubeconfig, secrets, progress): 0700 directory."""
        base = self.state_dir or os.environ.get("DEVCLUSTER_STATE_DIR", "")
        if not base:
            xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
            base = str(Path(xdg) / "devcluster")
        return Path(base).expanduser() / self.name

    def ingress_ip(self) -> str:
        """The address the hostname should resolve to from the host."""
        if self.provider == "vagrant":
            return self.vagrant.ingress_ip or vagrant_nodes(self.vagrant)[-1].ip
        if self.provider == "kind":
            return self.kind.listen_address
        return self.existing.ingress_ip


@dataclass(frozen=True)
class VagrantNode:
    name: str
    role: Literal["control-plane", "worker"]
    ip: str
    memory: int
    cpus: int


def vagrant_nodes(v: VagrantConfig) -> list[VagrantNode]:
    """cpN at .1N and wN at .3N: with the defaults w2 is 192.168.56.32, the reference's ingress address."""
    nodes = [
        VagrantNode(f"cp{i}", "control-plane", f"{v.network_prefix}.{10 + i}", v.control_plane_memory,
                    v.control_plane_cpus)
        for i in range(1, v.control_planes + 1)
    ]
    nodes += [
        VagrantNode(f"w{i}", "worker", f"{v.network_prefix}.{30 + i}", v.worker_memory, v.worker_cpus)
        for i in range(1, v.workers + 1)
    ]
    return nodes


# --------------------------------------------------------------------------- loading


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is str:
        return "a string"
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, path + ".")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        return [_convert(v, item_tp, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if origin in (typing.Union, types.UnionType):
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, float):
            return f"{value:.2f}"  # `kubernetes_version: 1.30` reaches us as the float 1.3
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {type(value).__name__}")
        return value
    return value


def _build(cls: Any, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("internal")}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            close = ", ".join(sorted(known))
            raise ConfigError(f"{prefix}{key}: unknown key", f"known keys here: {close}")
        if value is None:
            continue
        kwargs[key] = _convert(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def valid_hostname(name: str) -> bool:
    """A DNS name, and not an address: `10.0.0.1` passes the label rule but is no name for an ingress."""
    if not name or len(name) > 253 or name.endswith(".") or is_ip_address(name):
        return False
    if name.rsplit(".", 1)[-1].isdigit():
        return False
    return all(_HOST_LABEL_RE.match(label) for label in name.lower().split("."))


MDNS_NOTE = (
    "{host} ends in .local, which mDNS resolvers (macOS, most Linux desktops) answer before /etc/hosts is "
    "read: on those laptops {host} will not reach the cluster. Use a .lan name (the default forail.lan)."
)


def warnings(cfg: Config) -> list[str]:
    """Valid but risky settings: said on every laptop, not only where this machine's resolver shows the trap."""
    out = []
    if cfg.hostname.lower().endswith(".local"):
        out.append(MDNS_NOTE.format(host=cfg.hostname))
    return out


def _validate(cfg: Config) -> None:
    def fail(key: str, msg: str, hint: str | None = None) -> None:
        raise ConfigError(f"{key}: {msg}", hint)

    if not _NAME_RE.match(cfg.name):
        fail("name", f"{cfg.name!r} is not a valid cluster name", "lowercase letters, digits and '-', max 40")
    if is_ip_address(cfg.hostname):
        fail("hostname", f"{cfg.hostname!r} is an IP address, not a hostname",
             "give the name the platform is served under (default forail.lan); the address comes from the provider")
    if not valid_hostname(cfg.hostname):
        fail("hostname", f"{cfg.hostname!r} is not a valid hostname")
    if not cfg.kubernetes_version.startswith("1.30"):
        fail("kubernetes_version", f"{cfg.kubernetes_version!r} is not supported", "devcluster pins 1.30")
    for key, port in (("node_ports.http", cfg.node_ports.http), ("node_ports.https", cfg.node_ports.https)):
        if not 30000 <= port <= 32767:
            fail(key, f"{port} is outside the NodePort range 30000-32767")
    if cfg.node_ports.http == cfg.node_ports.https:
        fail("node_ports.https", "must differ from node_ports.http")
    if not 0 <= cfg.kind.workers <= 10:
        fail("kind.workers", f"{cfg.kind.workers} is outside 0-10")
    if "@sha256:" not in cfg.kind.node_image:
        fail("kind.node_image", "must be pinned by tag and digest (name:tag@sha256:...)")
    for key, value in (("kind.listen_address", cfg.kind.listen_address),
                       ("existing.ingress_ip", cfg.existing.ingress_ip)):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            fail(key, f"{value!r} is not an IP address")
    v = cfg.vagrant
    if not 1 <= v.control_planes <= 3:
        fail("vagrant.control_planes", f"{v.control_planes} is outside 1-3",
             "2 stacked-etcd control planes tolerate no failure; use 3 for real HA")
    if not 0 <= v.workers <= 9:
        fail("vagrant.workers", f"{v.workers} is outside 0-9")
    if v.control_plane_memory < 2048:
        fail("vagrant.control_plane_memory", "kubeadm needs at least 2048 MiB on a control plane")
    if v.worker_memory < 1024:
        fail("vagrant.worker_memory", "a worker needs at least 1024 MiB")
    if v.control_plane_cpus < 2:
        fail("vagrant.control_plane_cpus", "kubeadm needs at least 2 CPUs on a control plane")
    if v.worker_cpus < 1:
        fail("vagrant.worker_cpus", "must be at least 1")
    try:
        net = ipaddress.ip_network(v.network_prefix + ".0/24")
    except ValueError:
        fail("vagrant.network_prefix", f"{v.network_prefix!r} is not the first three octets of an IPv4 /24")
    else:
        if not net.is_private:
            fail("vagrant.network_prefix", f"{net} is not a private range")
        if v.ingress_ip:
            try:
                ip = ipaddress.ip_address(v.ingress_ip)
            except ValueError:
                fail("vagrant.ingress_ip", f"{v.ingress_ip!r} is not an IP address")
            else:
                if ip not in net:
                    fail("vagrant.ingress_ip", f"{ip} is not in {net}")
    if not v.box_version:
        fail("vagrant.box_version", "the box must be pinned to a version")
    if cfg.pull_secret.name and not cfg.pull_secret.server:
        fail("pull_secret.server", "is required when pull_secret.name is set")
    names = [r.name for r in cfg.stack.releases]
    for i, rel in enumerate(cfg.stack.releases):
        if not rel.name:
            fail(f"stack.releases[{i}].name", "is required")
        if not (rel.chart or rel.git):
            fail(f"stack.releases[{i}].chart", "one of chart or git is required")
        if rel.chart and rel.git:
            fail(f"stack.releases[{i}].git", "give either chart or git, not both")
        if not rel.namespace:
            rel.namespace = cfg.namespace
        for j, action in enumerate(rel.post_install):
            key = f"stack.releases[{i}].post_install[{j}]"
            if not _NAME_RE.match(action.name):
                fail(f"{key}.name", f"{action.name!r} must be a short lowercase name")
            if not action.deployment or not action.command:
                fail(key, "deployment and command are required")
    if len(set(names)) != len(names):
        fail("stack.releases", "release names must be unique")


def load(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (or ./devcluster.yaml when present), apply CLI overrides, validate."""
    data: dict[str, Any] = {}
    source = ""
    if path is None and Path(CONFIG_FILENAME).is_file():
        path = CONFIG_FILENAME
    if path is not None:
        p = Path(path)
        if p.is_dir():
            raise ConfigError(f"config file {p} is a directory",
                              f"pass the file itself, e.g. --config {p / CONFIG_FILENAME}")
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping")
        data = loaded
        source = str(p)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        target = data
        parts = key.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    cfg = _build(Config, data)
    cfg.source = source
    _validate(cfg)
    return cfg


def to_dict(cfg: Config) -> dict[str, Any]:
    out = dataclasses.asdict(cfg)
    out.pop("source", None)
    return out
