"""`kubernetes_version`: what each supported Kubernetes minor pins, and the defaults that follow it.

One row per minor, so choosing a version changes every provider's pins together and a version without a
row cannot be chosen at all. How each pin was confirmed (docs/configuration.md#kubernetes-version):

- kind node images: the images kind v0.29.0 (KIND_VERSION) publishes, by digest. v1.33.1 is kind v0.29.0's
  own default (pkg/apis/config/defaults/image.go at tag v0.29.0); v1.32.5, v1.31.9 and v1.30.13 are the
  other images listed in its release notes, the digests as published there. A digest is never guessed: a
  node image not built for the kind release in use may not boot.
- kubeadm: the pkgs.k8s.io repository of the minor and the newest patch package of that minor
  (`<patch>-1.1`, the revision pkgs.k8s.io gives every patch).
- k3s: the newest `v1.3x.y+k3s1` release of the minor; its binary is checked against the
  sha256sum-amd64.txt published with that release, read when the binary is fetched (no checksum is
  pinned here, as for 1.30).
- Flannel v0.26.3 and Traefik chart 34.4.1 are shared by every row: the only API 1.31-1.33 removed is
  flowcontrol.apiserver.k8s.io/v1beta3 (1.32), which neither uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from devcluster.errors import ConfigError

DEFAULT_VERSION = "1.30"


@dataclass(frozen=True)
class KubernetesVersion:
    minor: str
    kind_node_image: str
    kubernetes_package_version: str
    k3s_version: str

    @property
    def kubernetes_apt_repo(self) -> str:
        return f"https://pkgs.k8s.io/core:/stable:/v{self.minor}/deb/"

    @property
    def minor_number(self) -> int:
        return int(self.minor.split(".")[1])

    def supported_minors(self, tool: str) -> tuple[int, int] | None:
        """The tool minors that support this cluster: kubectl within one minor of the API server (Kubernetes'
        skew policy); helm 3.N is built against Kubernetes 1.(N+15) and supports three minors back."""
        if tool == "kubectl":
            return self.minor_number - 1, self.minor_number + 1
        if tool == "helm":
            return self.minor_number - 15, self.minor_number - 12
        return None


VERSIONS: dict[str, KubernetesVersion] = {
    v.minor: v
    for v in (
        KubernetesVersion(
            "1.30",
            "kindest/node:v1.30.13@sha256:397209b3d947d154f6641f2d0ce8d473732bd91c87d9575ade99049aa33cd648",
            "1.30.14-1.1", "v1.30.4+k3s1"),
        KubernetesVersion(
            "1.31",
            "kindest/node:v1.31.9@sha256:b94a3a6c06198d17f59cca8c6f486236fa05e2fb359cbd75dabbfc348a10b211",
            "1.31.14-1.1", "v1.31.14+k3s1"),
        KubernetesVersion(
            "1.32",
            "kindest/node:v1.32.5@sha256:e3b2327e3a5ab8c76f5ece68936e4cafaa82edf58486b769727ab0b3b97a5b0d",
            "1.32.13-1.1", "v1.32.13+k3s1"),
        KubernetesVersion(
            "1.33",
            "kindest/node:v1.33.1@sha256:050072256b9a903bd914c0b2866828150cb229cea0efe5892e2b644d5dd3b34f",
            "1.33.12-1.1", "v1.33.12+k3s1"),
    )
}
NEWEST_VERSION = max(VERSIONS, key=lambda m: VERSIONS[m].minor_number)


def lookup(version: str) -> KubernetesVersion:
    """The row of ``version`` (a minor such as "1.31"), or exit 2 naming the ones devcluster supports."""
    row = VERSIONS.get(version.removeprefix("v"))
    if row is None:
        raise ConfigError(f"kubernetes_version: {version!r} is not supported",
                          f"choose one of {', '.join(VERSIONS)} (default {DEFAULT_VERSION}); each pins its kind "
                          "node image, kubeadm packages and k3s release")
    return row


def apply_defaults(cfg: Any, data: dict[str, Any]) -> None:
    """Point the version-dependent defaults at the chosen version, leaving keys the user set alone.

    ``data`` is the parsed file plus command-line overrides: a key present there was chosen on purpose.
    """
    row = lookup(cfg.kubernetes_version)
    cfg.kubernetes_version = row.minor

    def given(section: str, key: str) -> bool:
        part = data.get(section)
        return isinstance(part, dict) and part.get(key) is not None

    if not given("kind", "node_image"):
        cfg.kind.node_image = row.kind_node_image
    for key in ("kubernetes_package_version", "kubernetes_apt_repo", "k3s_version"):
        if not given("vagrant", key):
            setattr(cfg.vagrant, key, getattr(row, key))
