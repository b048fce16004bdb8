"""`down` as data (stages/teardown.py): each part removed on its own, failures collected, purge only when clean.

The kind provider runs with an empty PATH (kind cannot run here, so it is missing: a real failure of the
layer under); the hosts file is a real file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from devcluster import config
from devcluster.engine.steps import Context
from devcluster.local.state import State
from devcluster.providers import get_provider
from devcluster.stages import teardown

BLOCK = "# BEGIN devcluster dev\n127.0.0.1\tforail.lan\n# END devcluster dev\n"


def _ctx(tmp_path: Path, provider: str) -> tuple[Context, Path]:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + BLOCK)
    overrides = {"name": "dev", "provider": provider, "state_dir": str(tmp_path / "state"), "hosts.file": str(hosts)}
    if provider == "existing":
        kc = tmp_path / "kc"
        kc.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
        overrides["existing.kubeconfig"] = str(kc)
    cfg = config.load(None, overrides)
    state = State(cfg.state_path)
    state.root.mkdir(parents=True)
    (state.root / "kubeconfig").write_text("kept while the cluster may exist\n")
    return Context(cfg, state, Console(quiet=True), get_provider(cfg, state)), hosts


def test_a_failed_part_is_reported_the_rest_removed_and_the_state_kept(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    ctx, hosts = _ctx(tmp_path, "kind")
    result = teardown.take_down(ctx)
    teardown.purge(ctx, result)
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    removed, kept = result.done
    assert removed == f"removed the devcluster dev block from {hosts}"
    assert kept.startswith("kept devcluster-registry, devcluster-mirror-docker-io,") and "--purge-registry" in kept
    assert len(result.problems) == 2 and "`kind` was not found" in result.problems[0]
    assert result.problems[1] == f"kept {ctx.state.root} (--purge) because the cluster may still exist"
    assert (ctx.state.root / "kubeconfig").exists()


def test_purge_deletes_the_state_when_every_part_went(tmp_path: Path) -> None:
    ctx, hosts = _ctx(tmp_path, "existing")  # an existing cluster's down removes only the hosts block
    result = teardown.take_down(ctx)
    teardown.purge(ctx, result)
    assert result.problems == [] and result.done[-1] == f"deleted {ctx.state.root}"
    assert not ctx.state.root.exists() and hosts.read_text() == "127.0.0.1 localhost\n"
