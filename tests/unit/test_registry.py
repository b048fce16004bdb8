"""The `registry:` section: its validation, what the kind config and plan gain, the KEP-1755 ConfigMap.

The ConfigMap is written by the real `kubernetes` client and devcluster's steps against tests/fakeapi.py
(the API server stubbed at the HTTP boundary, helm a recording fake as in test_prereqs_api.py). The
containerd, registry and docker sides are in test_registry_containerd.py and test_registry_docker.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devcluster.clients.registry import (
    CONTAINERD_PATCH,
    KEP_KEY,
    hosting,
    hosts_files,
    k3s_registries,
    mirrors,
    via_host,
    via_network,
)
from devcluster.config import load
from devcluster.config.schema import REGISTRY_IMAGE, RegistryConfig, RegistryMirrorsConfig
from devcluster.errors import ConfigError
from devcluster.local.state import State
from devcluster.plan import up_steps
from devcluster.providers.existing import ExistingProvider
from devcluster.providers.kind import KindProvider, render_config
from tests.fakeapi import FakeApiServer
from tests.unit.test_bad_input import refused
from tests.unit.test_prereqs_api import setup, up  # noqa: F401 (`setup` registers the fixture)

ON = "registry:\n  enabled: true\n  mirrors:\n    enabled: true\n"
OFF = "registry:\n  enabled: false\n  mirrors:\n    enabled: false\n"


@pytest.mark.parametrize(("text", "key"), [
    ("registry:\n  port: 80\n", "registry.port"),
    ("registry:\n  port: many\n", "registry.port"),
    ("registry:\n  enabled: yes please\n", "registry.enabled"),
    ("registry:\n  host: http://reg.lan:5000\n", "registry.host"),
    ("registry:\n  mirrors:\n    upstreams: [docker.io, 'ghcr.io/x']\n", "registry.mirrors.upstreams[1]"),
    ("registry:\n  mirrors:\n    upstreams: [docker.io, docker.io]\n", "registry.mirrors.upstreams"),
    ("registry:\n  mirrors:\n    enabled: true\n    upstreams: []\n", "registry.mirrors.upstreams"),
    ("registry:\n  mirrors:\n    remotes:\n      quay.io: ftp://x\n", "registry.mirrors.remotes.quay.io"),
    ("registry:\n  mirrors:\n    remotes:\n      gcr.io: https://x\n", "registry.mirrors.remotes.gcr.io"),
    ("registry:\n  mirror: {}\n", "registry.mirror"),
    ("registry:\n  image: ''\n", "registry.image"),
])
def test_bad_registry_settings_exit_2_naming_the_key(tmp_path: Path, text: str, key: str) -> None:
    refused(tmp_path, text, f"{key}:", command=("plan",))


def test_defaults_match_the_issue_and_pin_the_image_by_digest(write_config) -> None:  # type: ignore[no-untyped-def]
    cfg = load(write_config(ON))
    assert cfg.registry.port == 5001 and cfg.registry.host == ""
    assert cfg.registry.mirrors.upstreams == ["docker.io", "ghcr.io", "registry.k8s.io", "quay.io"]
    assert "@sha256:" in REGISTRY_IMAGE and REGISTRY_IMAGE.startswith("docker.io/library/registry:2.8.")
    assert [m.port for m in mirrors(cfg.registry)] == [5002, 5003, 5004, 5005]
    assert [m.server for m in mirrors(cfg.registry)][:2] == ["https://registry-1.docker.io", "https://ghcr.io"]
    with pytest.raises(ConfigError, match=r"registry\.port"):
        load(write_config(ON + "  port: 32765\n"))  # the caches would pass 32767


def test_hosts_files_one_per_upstream_and_the_local_registry() -> None:
    reg = RegistryConfig(enabled=True, mirrors=RegistryMirrorsConfig(enabled=True))
    files = hosts_files(reg, via_network)
    assert sorted(files) == ["docker.io/hosts.toml", "ghcr.io/hosts.toml", "localhost:5001/hosts.toml",
                             "quay.io/hosts.toml", "registry.k8s.io/hosts.toml"]
    assert 'server = "https://registry-1.docker.io"' in files["docker.io/hosts.toml"]
    assert '[host."http://devcluster-mirror-docker-io:5000"]' in files["docker.io/hosts.toml"]
    assert '[host."http://devcluster-registry:5000"]' in files["localhost:5001/hosts.toml"]
    from_vm = hosts_files(reg, via_host("192.168.56.1"))
    assert '[host."http://192.168.56.1:5004"]' in from_vm["registry.k8s.io/hosts.toml"]


def test_k3s_registries_yaml_lists_a_mirror_endpoint_per_upstream() -> None:
    reg = RegistryConfig(enabled=True, mirrors=RegistryMirrorsConfig(enabled=True, upstreams=["docker.io"]))
    doc = k3s_registries(reg, via_host("192.168.56.1"))
    assert doc == {"mirrors": {"localhost:5001": {"endpoint": ["http://192.168.56.1:5001"]},
                               "docker.io": {"endpoint": ["http://192.168.56.1:5002"]}}}
    off = RegistryConfig(enabled=False, mirrors=RegistryMirrorsConfig(enabled=False))
    assert k3s_registries(off, via_host("x")) == {}


def test_kind_config_gets_the_containerd_patch_only_with_the_registry_on(write_config) -> None:  # type: ignore[no-untyped-def]
    assert "containerdConfigPatches" not in render_config(load(write_config("name: a\n" + OFF)))
    doc = render_config(load(write_config("name: a\n")))
    assert doc["containerdConfigPatches"] == [CONTAINERD_PATCH]
    assert 'config_path = "/etc/containerd/certs.d"' in CONTAINERD_PATCH


def test_kind_plan_lists_the_registry_the_caches_and_the_configmap(write_config) -> None:  # type: ignore[no-untyped-def]
    """On by default: a plain config's kind plan has them all."""
    cfg = load(write_config("name: a\n"))
    names = [s.name for s in up_steps(cfg, KindProvider(cfg, State(cfg.state_path)), skip_stack=True)]
    expected = ["registry", "mirror-docker-io", "mirror-ghcr-io", "mirror-registry-k8s-io", "mirror-quay-io"]
    assert names[1:6] == expected and names[6] == "create-cluster"
    assert names.index("registry-network") > names.index("kubeconfig")
    assert names.index("registry-hosts") > names.index("kubeconfig")
    assert "registry-hosting" in names
    plain = load(write_config("name: a\n" + OFF))
    plain_names = [s.name for s in up_steps(plain, KindProvider(plain, State(plain.state_path)), skip_stack=True)]
    assert not {"registry", "registry-hosts", "registry-hosting"} & set(plain_names)


def test_existing_provider_advertises_only_registry_host(write_config) -> None:  # type: ignore[no-untyped-def]
    cfg = load(write_config("provider: existing\nregistry:\n  enabled: true\n"))
    names = [s.name for s in up_steps(cfg, ExistingProvider(cfg, State(cfg.state_path)), skip_stack=True)]
    assert "registry-hosting" not in names and "registry" not in names  # no local registry runs there
    assert hosting(RegistryConfig(host="reg.lan:5000"), runs_local=False).host == "reg.lan:5000"  # type: ignore[union-attr]


def test_up_on_an_existing_cluster_advertises_registry_host_in_kube_public(request: pytest.FixtureRequest,
                                                                           fake_api: FakeApiServer) -> None:
    kubeconfig, cfg, _ = request.getfixturevalue("setup")
    cfg.write_text(cfg.read_text() + "registry:\n  host: registry.example.lan:5000\n")
    code, out = up(kubeconfig, cfg)
    assert code == 0, out
    cm = fake_api.get("v1", "configmaps", "local-registry-hosting", "kube-public")
    doc = yaml.safe_load(cm["data"][KEP_KEY])
    assert doc == {"host": "registry.example.lan:5000", "hostFromContainerRuntime": "registry.example.lan:5000",
                   "hostFromClusterNetwork": "registry.example.lan:5000",
                   "help": "https://kind.sigs.k8s.io/docs/user/local-registry/"}
    writes = [r for r in fake_api.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")]
    code, out = up(kubeconfig, cfg)
    assert code == 0 and "registry-hosting (already done)" in out
    assert [r for r in fake_api.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")] == writes


def test_the_local_registry_is_advertised_as_kep_1755_says() -> None:
    h = hosting(RegistryConfig(enabled=True, port=5001), runs_local=True)
    assert h is not None
    cm = h.configmap()
    assert cm["metadata"] == {"name": "local-registry-hosting", "namespace": "kube-public",  # type: ignore[index]
                              "labels": {"app.kubernetes.io/managed-by": "devcluster"}}
    doc = yaml.safe_load(cm["data"][KEP_KEY])  # type: ignore[index]
    assert doc["host"] == "localhost:5001" and doc["hostFromClusterNetwork"] == "devcluster-registry:5000"


def test_turning_the_registry_on_for_a_kind_cluster_made_without_it_is_drift(write_config) -> None:  # type: ignore[no-untyped-def]
    from devcluster.providers.kind import config_drift

    made = render_config(load(write_config("name: a\n" + OFF)))
    wanted = render_config(load(write_config("name: a\n")))
    assert any(c.startswith("registry:") for c in config_drift(made, wanted))
    assert config_drift(wanted, wanted) == []
