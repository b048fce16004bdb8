"""Merging devcluster's kubeconfig into the user's: only same-named entries change, with a backup."""

from __future__ import annotations

from pathlib import Path

import yaml

from devcluster.clients.kubeconfigs import merge_into


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
