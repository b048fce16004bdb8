"""Every step's check only looks: on a fresh state dir it writes nothing, changes nothing in the cluster,
and starts no process but read-only queries.

Fake executables on PATH record every process a check starts (kind, vagrant and VirtualBox cannot run
here); the cluster is tests/fakeapi.py, which records every request.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from devcluster import config
from devcluster.engine.steps import Context
from devcluster.local.state import State
from devcluster.plan import up_steps
from devcluster.providers import get_provider

# What a check may ask an outside tool: questions, never changes.
READ_ONLY = [("kind", ["get", "clusters"]), ("vagrant", ["status"]), ("helm", ["status"])]


def read_only(call: dict) -> bool:  # type: ignore[type-arg]
    argv = [a for a in call["argv"] if not a.startswith("--")]
    return any(call["tool"] == tool and all(word in argv for word in words) for tool, words in READ_ONLY)


@pytest.mark.parametrize("provider", ["kind", "vagrant", "existing"])
def test_every_check_on_a_fresh_state_dir_only_reads_with_fake_tools(provider: str, tmp_path: Path, fake_tools,
                                                                     fake_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for tool in ("kind", "vagrant", "helm", "git", "docker", "VBoxManage"):
        fake_tools.add(tool, "sys.exit(0)")
    monkeypatch.setenv("DEVCLUSTER_PULL_PASSWORD", "pw")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    state_dir = tmp_path / "fresh-state"
    overrides = {"provider": provider, "state_dir": str(state_dir), "hosts.file": str(hosts),
                 "pull_secret.name": "regcred", "pull_secret.server": "registry.example.test",
                 "stack.use_checkouts": False}
    if provider == "existing":
        overrides["existing.kubeconfig"] = str(fake_api.write_kubeconfig(tmp_path / "kc", "kind-x"))
    cfg = config.load(None, overrides)
    state = State(cfg.state_path)
    ctx = Context(cfg, state, Console(quiet=True), get_provider(cfg, state))
    checked = 0
    for step in up_steps(cfg, ctx.provider):
        if step.check is None:
            continue
        checked += 1
        try:
            assert step.check(ctx) is False, f"{step.name} claims done on a fresh cluster"
        except AssertionError:
            raise
        except Exception:
            pass
    assert checked >= 10
    assert not state_dir.exists(), f"a check wrote into the state dir: {list(state_dir.rglob('*'))}"
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    writes = [r for r in fake_api.requests if r[0] not in ("GET",)]
    assert writes == [], writes
    started = [c for c in fake_tools.calls() if not read_only(c)]
    assert started == [], started
