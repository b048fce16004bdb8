"""`kubernetes_version` picks every version-dependent pin together (issue 18): kind node image by digest,
the kubeadm packages and repository, the k3s release, and the kubectl/helm skew doctor checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from devcluster import config
from devcluster.cli import app
from devcluster.config import versions
from devcluster.errors import ConfigError
from devcluster.providers.kind import render_config
from devcluster.providers.vagrant.driver import vagrant_settings
from tests.conftest import doctor_tools


@pytest.mark.parametrize("minor,patch", [("1.31", "1.31.9"), ("1.33", "1.33.1")])
def test_a_chosen_version_gives_a_digest_pinned_kind_image_and_matching_vagrant_pins(
        write_config, tmp_path: Path, minor: str, patch: str) -> None:  # type: ignore[no-untyped-def]
    cfg = config.load(write_config(f"kubernetes_version: {minor}\n"))
    images = {n["image"] for n in render_config(cfg)["nodes"]}
    assert len(images) == 1
    (image,) = images
    assert image.startswith(f"kindest/node:v{patch}@sha256:") and len(image.split("@sha256:")[1]) == 64
    settings = vagrant_settings(cfg, tmp_path / "flannel.yml", tmp_path)
    assert settings["kubernetes_apt_repo"] == f"https://pkgs.k8s.io/core:/stable:/v{minor}/deb/"
    assert settings["kubernetes_package_version"].startswith(minor + ".")
    assert settings["kubernetes_package_version"].endswith("-1.1")
    assert cfg.vagrant.k3s_version.startswith(f"v{minor}.") and cfg.vagrant.k3s_version.endswith("+k3s1")


def test_the_default_is_1_30_with_the_pins_it_always_had() -> None:
    cfg = config.load(None)
    assert cfg.kubernetes_version == "1.30"
    assert cfg.kind.node_image == config.KIND_NODE_IMAGE
    assert cfg.vagrant.kubernetes_package_version == "1.30.14-1.1"
    assert cfg.vagrant.k3s_version == config.K3S_VERSION


def test_every_row_is_pinned_by_digest_and_of_its_own_minor() -> None:
    for minor, row in versions.VERSIONS.items():
        assert row.kind_node_image.startswith(f"kindest/node:v{minor}.") and "@sha256:" in row.kind_node_image
        assert row.kubernetes_package_version.startswith(minor + ".")
        assert row.k3s_version.startswith(f"v{minor}.")
    assert list(versions.VERSIONS) == ["1.30", "1.31", "1.32", "1.33"] and versions.NEWEST_VERSION == "1.33"


def test_keys_the_user_set_win_over_the_version_defaults(write_config) -> None:  # type: ignore[no-untyped-def]
    own = "kindest/node:v1.31.0@sha256:" + "a" * 64
    cfg = config.load(write_config(f"kubernetes_version: '1.31'\nkind:\n  node_image: {own}\n"
                                   "vagrant:\n  k3s_version: v1.31.2+k3s1\n"))
    assert cfg.kind.node_image == own and cfg.vagrant.k3s_version == "v1.31.2+k3s1"
    assert cfg.vagrant.kubernetes_package_version == "1.31.14-1.1"


@pytest.mark.parametrize("text", ["kubernetes_version: 1.29\n", "kubernetes_version: '1.34'\n",
                                  "kubernetes_version: latest\n"])
def test_an_unsupported_version_is_refused_with_exit_2_and_the_list(write_config, text: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as err:
        config.load(write_config(text))
    assert err.value.exit_code == 2 and "1.30, 1.31, 1.32, 1.33" in (err.value.hint or "")
    result = CliRunner().invoke(app, ["plan", "--config", str(write_config(text))])
    assert isinstance(result.exception, ConfigError) and "kubernetes_version" in result.exception.message


def test_up_takes_the_version_from_the_command_line_too(write_config) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(app, ["up", "--provider", "kind", "--dry-run", "--kubernetes-version", "1.32"])
    assert result.exit_code == 0, result.output
    assert "kindest/node:v1.32.5" in " ".join(result.output.split())


def test_doctor_kubectl_skew_follows_the_chosen_version(fake_tools, write_config,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Fake kind/docker (kind cannot run here); kubectl v1.30.14 is fine for 1.30 and 1.31 but outside the
    skew for a 1.33 cluster."""
    monkeypatch.setenv("COLUMNS", "300")
    doctor_tools(fake_tools, monkeypatch, helm="v3.18.1+g0000000")
    for minor, warned in (("1.30", False), ("1.31", False), ("1.33", True)):
        cfg = write_config(f"kubernetes_version: '{minor}'\nhostname: devcluster-test-unresolvable.lan\n")
        out = " ".join(CliRunner().invoke(app, ["doctor", "--provider", "kind", "--config", str(cfg)]).output.split())
        assert ("kubectl v1.30.14 is outside 1.32-1.34" in out) is warned, out
        assert "helm v3.18.1 is outside" not in out
