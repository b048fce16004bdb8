"""devcluster.yaml validation: every error names its key, exits 2, touches nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from devcluster import config
from devcluster.cli import app
from devcluster.errors import ConfigError


def test_defaults_match_the_reference() -> None:
    cfg = config.load(None)
    assert cfg.hostname == "forail.lan" and cfg.namespace == "forail" and cfg.tls_secret == "forail-tls"
    assert (cfg.node_ports.http, cfg.node_ports.https) == (30080, 30443)
    assert cfg.kind.node_image == config.KIND_NODE_IMAGE and "@sha256:" in cfg.kind.node_image
    nodes = config.vagrant_nodes(cfg.vagrant)
    assert [n.name for n in nodes] == ["cp1", "cp2", "w1", "w2"]
    from devcluster.local.state import State
    from devcluster.providers import get_provider

    cfg.provider = "vagrant"
    assert get_provider(cfg, State(cfg.state_path)).ingress_address() == "192.168.56.32"
    assert [r.name for r in cfg.stack.releases] == ["forail", "forail-operator"]


@pytest.mark.parametrize(
    "text,key",
    [
        ("kind:\n  workers: many\n", "kind.workers: expected an integer"),
        ("kind:\n  wrkers: 1\n", "kind.wrkers: unknown key"),
        ("provider: docker\n", "provider: expected one of"),
        ("hostname: bad_host\n", "hostname:"),
        ("node_ports:\n  http: 80\n", "node_ports.http: 80 is outside"),
        ("kind:\n  node_image: kindest/node:v1.30.13\n", "kind.node_image: must be pinned"),
        ("vagrant:\n  control_planes: 4\n", "vagrant.control_planes"),
        ("vagrant:\n  network_prefix: 8.8.8\n", "vagrant.network_prefix"),
        ("vagrant:\n  ingress_ip: 10.0.0.5\n", "vagrant.ingress_ip: 10.0.0.5 is not in"),
        ("stack:\n  releases:\n    - name: x\n", "stack.releases[0].chart"),
        ("hosts:\n  manage: yes please\n", "hosts.manage: expected true or false"),
        ("kubernetes_version: 1.29\n", "kubernetes_version"),
        ("- a list\n", "top level must be a mapping"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_key(write_config, text: str, key: str) -> None:  # type: ignore[no-untyped-def]
    path = write_config(text)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert key in str(err.value)


def test_cli_exits_2_with_the_key_and_creates_no_state(write_config, isolated_state) -> None:  # type: ignore[no-untyped-def]
    path = write_config("kind:\n  workers: -3\n")
    result = CliRunner().invoke(app, ["up", "--config", str(path), "--dry-run"])
    assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 2
    assert "kind.workers" in str(result.exception)
    assert not isolated_state.exists()


def test_yaml_float_version_and_overrides(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("kubernetes_version: 1.30\nkind:\n  workers: 1\n")
    cfg = config.load(path, {"provider": "existing", "existing.kubeconfig": "/tmp/k"})
    assert cfg.kubernetes_version == "1.30" and cfg.kind.workers == 1
    assert cfg.provider == "existing" and cfg.existing.kubeconfig == "/tmp/k"


def test_release_namespace_defaults_to_the_cluster_namespace(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("stack:\n  releases:\n    - name: demo\n      chart: oci://registry.invalid/chart\n")
    cfg = config.load(path)
    assert cfg.stack.releases[0].namespace == "forail"


def test_state_dir_is_per_cluster(write_config, isolated_state) -> None:  # type: ignore[no-untyped-def]
    cfg = config.load(write_config("name: team-a\n"))
    assert cfg.state_path == isolated_state / "team-a"


def test_a_config_file_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The duplicate-key check and the values come from one parse of the file (a spy on the real parser's
    construction, not a timing): the loader used to compose the file, then parse it again with safe_load."""
    import yaml

    path = tmp_path / "devcluster.yaml"
    path.write_text("name: once\nkind:\n  workers: 1\nstack:\n  releases: []\n")
    parsers: list[object] = []
    real_init = yaml.SafeLoader.__init__

    def counting_init(self: yaml.SafeLoader, stream: object) -> None:
        parsers.append(stream)
        real_init(self, stream)

    monkeypatch.setattr(yaml.SafeLoader, "__init__", counting_init)
    cfg = config.load(path)
    assert (cfg.name, cfg.kind.workers, cfg.stack.releases) == ("once", 1, [])
    assert len(parsers) == 1, f"the file was parsed {len(parsers)} times"
    with pytest.raises(ConfigError, match=r"kind\.workers: duplicate key"):
        path.write_text("kind:\n  workers: 1\n  workers: 2\n")
        config.load(path)
    path.write_text("")
    assert config.load(path).name == config.load(None).name, "an empty file is the defaults"
