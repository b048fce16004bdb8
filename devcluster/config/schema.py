"""The schema of devcluster.yaml: typed dataclasses whose defaults are devcluster's pinned defaults.

Every key is optional; the loader (loader.py) reads a file into these, naming the dotted key of any
wrong value. Nothing here reads files or the environment, except where a default is a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

CONFIG_FILENAME = "devcluster.yaml"

KIND_NODE_IMAGE = (
    "kindest/node:v1.30.13@sha256:397209b3d947d154f6641f2d0ce8d473732bd91c87d9575ade99049aa33cd648"
)
KIND_VERSION = "v0.29.0"
LOCAL_PATH_VERSION = "v0.0.30"
TRAEFIK_CHART_VERSION = "34.4.1"
FLANNEL_VERSION = "v0.26.3"
# k3s for vagrant.distribution k3s: the 1.30 release forail-dev-cluster runs.
K3S_VERSION = "v1.30.4+k3s1"
K3S_RELEASE = "https://github.com/k3s-io/k3s/releases/download/{version}"
# vagrant.profile -> (control planes / k3s servers, workers / agents)
VAGRANT_PROFILES = {"standard": (2, 2), "full": (3, 4), "minimal": (1, 1), "single": (1, 0)}


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
    # standard (2 control planes + 2 workers), full (3 + 4: etcd survives the loss of one), minimal (1 + 1),
    # single (1 + 0). control_planes / workers, when given, win over the profile.
    profile: Literal["standard", "full", "minimal", "single"] = "standard"
    control_planes: int | None = None
    workers: int | None = None
    # kubeadm (packages, containerd, Flannel patched to eth1) or k3s (one pinned binary, embedded etcd,
    # --flannel-iface=eth1 on every node).
    distribution: Literal["kubeadm", "k3s"] = "kubeadm"
    # Tries per VM: a VM whose `vagrant up` (or join) fails is destroyed and made again.
    retries: int = 3
    # Seconds Vagrant waits for a VM's SSH: a healthy boot takes ~40 s, a wedged one never answers.
    boot_timeout: int = 180
    # --paravirtprovider legacy, vboxvga graphics, serial console to a file (docs/vagrant.md).
    virtualbox_tweaks: bool = True
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
    k3s_version: str = K3S_VERSION
    # URL or local file of the k3s binary ({version} substituted), and its sha256. Without a pinned
    # k3s_sha256 the binary is checked against the sha256sum-amd64.txt published with the same release
    # (k3s_checksums, likewise a URL or local file).
    k3s_binary: str = K3S_RELEASE + "/k3s"
    k3s_sha256: str = ""
    k3s_checksums: str = K3S_RELEASE + "/sha256sum-amd64.txt"


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


# The distribution registry, 2.8.3 (the newest 2.8.x), pinned by its multi-platform index digest: the digest
# that public projects pinning registry:2.8.3 agree on (docs/configuration.md says how it was chosen; this
# machine cannot ask Docker Hub). `registry.image` points it at a mirror, like every other download.
REGISTRY_IMAGE = (
    "docker.io/library/registry:2.8.3@sha256:a3d8aaa63ed8681a604f1dea0aa03f100d5895b6a58ace528858a7b332415373"
)
MIRROR_UPSTREAMS = ("docker.io", "ghcr.io", "registry.k8s.io", "quay.io")


@dataclass
class RegistryMirrorsConfig:
    """Pull-through caches, one per upstream, shared by every cluster on this machine and kept across `down`."""

    enabled: bool = True
    upstreams: list[str] = field(default_factory=lambda: list(MIRROR_UPSTREAMS))
    # Where the caches keep their blobs: empty, a named Docker volume per cache; a directory, one
    # subdirectory per cache bind-mounted (the nightly keeps it with actions/cache).
    storage_dir: str = ""
    # Where a cache fetches from, per upstream: default https://<upstream> (https://registry-1.docker.io for
    # docker.io). Also containerd's fallback when the cache is down. E.g. a company mirror of docker.io.
    remotes: dict[str, str] = field(default_factory=dict)


@dataclass
class RegistryConfig:
    """A local registry (push localhost:<port>/IMAGE) and the pull-through caches (docs/configuration.md)."""

    enabled: bool = True
    port: int = 5001
    # A registry you already run, advertised to the cluster (KEP-1755) instead of the local one.
    host: str = ""
    image: str = REGISTRY_IMAGE
    mirrors: RegistryMirrorsConfig = field(default_factory=RegistryMirrorsConfig)


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
# 2026.7.1 is its newest release (2026.10.0 on main is unreleased); its release notes document one install
# channel, the OCI reference below. The operator chart is published only in git: forail-operator 2026.7.1 is
# pinned by the chart version in helm/Chart.yaml, resolved to the tag v2026.07.1 when the repository has it,
# else to the commit that set that version (clients/charts.py says how; the commit is recorded and reused).
FORAIL_HELM_OCI = "oci://ghcr.io/forail-platform/forail-helm"
FORAIL_HELM_VERSION = "2026.7.1"
FORAIL_HELM_GIT = "https://github.com/forail-platform/forail-helm.git"
FORAIL_OPERATOR_GIT = "https://github.com/forail-platform/forail-operator.git"
FORAIL_OPERATOR_REF = "v2026.07.1"
FORAIL_OPERATOR_VERSION = "2026.7.1"
OPERATOR_CRD_GROUP = "forail.forail-platform.io"
# The kinds forail-operator 2026.x ships in helm/crds/ (api/v1alpha1).
OPERATOR_KINDS = ("Credential", "ForailInstance", "Inventory", "JobTemplate", "Organization", "Project",
                  "Schedule", "Team", "Workflow")
# The first forail-helm release whose `control` node type runs jobs (each job its own pod through receptor's
# kubernetes-incluster-auth work type); before it the init Job turns the default instance group back into a
# regular group, so only `hybrid` with a privileged task pod runs jobs (forail-helm CHANGELOG 2026.10.0).
CONTROL_JOBS_SINCE = (2026, 10)


def _default_releases() -> list[ReleaseConfig]:
    return [
        ReleaseConfig(name="forail", chart=FORAIL_HELM_OCI, version=FORAIL_HELM_VERSION, namespace="forail",
                      kind="forail"),
        ReleaseConfig(name="forail-operator", git=FORAIL_OPERATOR_GIT, ref=FORAIL_OPERATOR_REF,
                      version=FORAIL_OPERATOR_VERSION, subdir="helm", namespace="forail-operator",
                      kind="forail-operator"),
    ]


@dataclass
class ImageTagsConfig:
    """Per-image tags of the Forail release: backend and frontend are built and tagged apart (2026.7.1 ships
    backend 2026.07.1 with frontend 2026.07.0), so rebuilding one must not retag the other."""

    backend: str = ""
    frontend: str = ""


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
    # How Forail runs jobs: `auto` follows the version of the chart being installed (podman before 2026.10,
    # pods from 2026.10); `pods` (forail.node.type control: each job its own pod) or `podman` (node.type
    # hybrid: podman inside a privileged task pod; dev only) force one.
    job_execution: Literal["auto", "pods", "podman"] = "auto"
    # Backend and frontend image tag for the Forail release (`--image-tag` sets both); image_tags sets each
    # (`--backend-tag`, `--frontend-tag`) and wins over image_tag. Empty: the chart's.
    image_tag: str = ""
    image_tags: ImageTagsConfig = field(default_factory=ImageTagsConfig)
    # An environment variable holding the admin password, for suites with fixed credentials (forail-dev-cluster's
    # Cypress suites use ADMIN_PASSWORD): when it is set, its value is the admin password; otherwise the
    # generated one is used. Empty: always the generated one.
    admin_password_env: str = ""
    # forail.cookieSecure "false", so a browser login over the http:// NodePort keeps its session. Off: log in
    # over https (the session cookie is Secure and http drops it).
    http_login: bool = False
    # Where sibling checkouts live (forail-helm/, forail-operator/helm/): a git release whose repository
    # has a checkout there is installed from it. Empty: the parent of the config file's directory
    # (of the current directory without a config file). `use_checkouts: false` always uses git.
    checkouts_dir: str = ""
    use_checkouts: bool = True
    # How long verify waits for the operator to reconcile the sample Inventory, and for the verify job.
    verify_timeout: int = 300
    # verify launches this job template (made by the chart's init Job with Forail's preload data) and waits
    # for it to succeed; empty: launch no job.
    verify_job_template: str = "Demo Job Template"

    def release_of_kind(self, kind: str) -> ReleaseConfig | None:
        """The first release of ``kind`` (forail, forail-operator): whose namespace the token and checks use."""
        return next((r for r in self.releases if r.kind == kind), None)


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
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    stack: StackConfig = field(default_factory=StackConfig)
    source: str = field(default="", metadata={"internal": True})

    @property
    def state_path(self) -> Path:
        """Per-cluster state (kubeconfig, secrets, progress): 0700 directory."""
        base = self.state_dir or os.environ.get("DEVCLUSTER_STATE_DIR", "")
        try:
            if not base:
                xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
                base = str(Path(xdg) / "devcluster")
            return Path(base).expanduser() / self.name
        except RuntimeError as exc:  # no HOME and no passwd entry (a system user, a container's uid)
            from devcluster.errors import ConfigError

            raise ConfigError(f"cannot find a state dir: {exc} (HOME is not set)",
                              "set HOME, or DEVCLUSTER_STATE_DIR to a directory you can write") from exc


