"""Kubeconfig files: merging devcluster's into the user's (only same-named entries change, with a backup), and the
context and server a file selects."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devcluster.clients.access import ClusterAccess
from devcluster.clients.kubeconfigs import kubeconfig_server, merge_into
from devcluster.errors import DevclusterError


def kc(name: str, server: str) -> dict:
    return {"apiVersion": "v1", "kind": "Config", "current-context": name,
            "clusters": [{"name": name, "cluster": {"server": server}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "users": [{"name": name, "user": {"token": "t"}}]}


def test_merge_replaces_same_names_keeps_others_and_backs_up(tmp_path: Path) -> None:
    dest = tmp_path / "config"
    mine = kc("prod", "https://prod.example:6443")
    old_dev = kc("devcluster-dev", "https://192.168.56.11:6443")
    mine["clusters"] += old_dev["clusters"]
    mine["contexts"] += old_dev["contexts"]
    mine["users"] += old_dev["users"]
    dest.write_text(yaml.safe_dump(mine))
    src = tmp_path / "devcluster-kc"
    src.write_text(yaml.safe_dump(kc("devcluster-dev", "https://192.168.56.99:6443")))
    backup = merge_into(src, dest)
    out = yaml.safe_load(dest.read_text())
    assert out["current-context"] == "prod", "not switched without --use"
    assert {c["name"]: c["cluster"]["server"] for c in out["clusters"]} == {
        "prod": "https://prod.example:6443", "devcluster-dev": "https://192.168.56.99:6443"}
    assert len(out["contexts"]) == 2 and len(out["users"]) == 2
    assert backup is not None and yaml.safe_load(backup.read_text()) == mine
    assert dest.stat().st_mode & 0o777 == 0o600
    merge_into(src, dest, use_context=True)
    assert yaml.safe_load(dest.read_text())["current-context"] == "devcluster-dev"


def test_merge_into_a_missing_file_creates_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_text(yaml.safe_dump(kc("kind-devcluster", "https://127.0.0.1:40000")))
    dest = tmp_path / "new" / "config"
    assert merge_into(src, dest) is None
    assert yaml.safe_load(dest.read_text())["current-context"] == "kind-devcluster"


def test_kubeconfig_server_reads_the_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety check's (context, server) come from one parse of the kubeconfig (a spy on the real YAML
    parser, no timing): the client's own context listing used to read and parse the file a second time."""
    path = tmp_path / "config"
    doc = kc("prod", "https://prod.example:6443")
    dev = kc("dev", "https://127.0.0.1:6443")
    for section in ("clusters", "contexts", "users"):
        doc[section] += dev[section]
    path.write_text(yaml.safe_dump(doc))
    parses: list[object] = []
    real = yaml.safe_load
    monkeypatch.setattr(yaml, "safe_load", lambda stream: parses.append(stream) or real(stream))
    assert kubeconfig_server(ClusterAccess(path)) == ("prod", "https://prod.example:6443")
    assert len(parses) == 1, f"the kubeconfig was parsed {len(parses)} times"
    assert kubeconfig_server(ClusterAccess(path, "dev")) == ("dev", "https://127.0.0.1:6443")


def test_kubeconfig_server_with_context_needs_no_current_context(tmp_path: Path) -> None:
    """--context names the context, so a file without current-context is fine (the client's listing
    refused it with "Expected key current-context"); without --context the error names the file."""
    path = tmp_path / "config"
    doc = kc("dev", "https://127.0.0.1:6443")
    del doc["current-context"]
    path.write_text(yaml.safe_dump(doc))
    assert kubeconfig_server(ClusterAccess(path, "dev")) == ("dev", "https://127.0.0.1:6443")
    with pytest.raises(DevclusterError, match="names no current context") as err:
        kubeconfig_server(ClusterAccess(path))
    assert "available contexts: dev" in (err.value.hint or "")
