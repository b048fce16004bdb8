"""Every step's check only looks: on a fresh state dir it writes nothing, changes nothing in the cluster,
and starts no process but read-only queries.

A check may answer "no cluster yet" with a DevclusterError on a fresh state dir (there is no kubeconfig to
read); anything else it raises fails the test. So that every check is exercised, not only the ones before
the cluster step, the second test gives each provider a cluster that exists (its kubeconfig points at
tests/fakeapi.py, seeded with what a new cluster has): there no check may raise at all.

Fake executables on PATH record every process a check starts (kind, vagrant and VirtualBox cannot run
here); the cluster is tests/fakeapi.py, which records every request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from devcluster import config
from devcluster.engine.steps import Context
from devcluster.errors import DevclusterError
from devcluster.local.state import State
from devcluster.plan import up_steps
from devcluster.providers import get_provider

# What a check may ask an outside tool: questions, never changes.
READ_ONLY = [("kind", ["get", "clusters"]), ("kind", ["get", "nodes"]), ("vagrant", ["status"]), ("helm", ["status"]),
             ("docker", ["container", "inspect"]), ("docker", ["exec", "cat"])]


def read_only(call: dict) -> bool:  # type: ignore[type-arg]
    argv = [a for a in call["argv"] if not a.startswith("--")]
    return any(call["tool"] == tool and all(word in argv for word in words) for tool, words in READ_ONLY)


def _context(provider: str, tmp_path: Path, fake_tools, fake_api, monkeypatch) -> tuple[Context, Path, Path]:  # type: ignore[no-untyped-def]
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
    return Context(cfg, state, Console(quiet=True), get_provider(cfg, state)), state_dir, hosts


def _check_all(ctx: Context, allowed: tuple[type[Exception], ...]) -> dict[str, Any]:
    """Every step's answer; an exception outside ``allowed`` fails the test (it would hide a check's reads)."""
    answers: dict[str, Any] = {}
    for step in up_steps(ctx.config, ctx.provider):
        if step.check is None:
            continue
        try:
            answers[step.name] = step.check(ctx)
        except allowed as exc:
            answers[step.name] = exc
        except Exception as exc:
            raise AssertionError(f"the check of {step.name} raised {type(exc).__name__}: {exc}") from exc
    return answers


@pytest.mark.parametrize("provider", ["kind", "vagrant", "existing"])
def test_every_check_on_a_fresh_state_dir_only_reads_with_fake_tools(provider: str, tmp_path: Path, fake_tools,
                                                                     fake_api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ctx, state_dir, hosts = _context(provider, tmp_path, fake_tools, fake_api, monkeypatch)
    answers = _check_all(ctx, (DevclusterError,))
    for name, answer in answers.items():
        assert isinstance(answer, DevclusterError) or answer is False, f"{name} claims done on a fresh cluster"
    checked = len(answers)
    assert checked >= 10
    assert not state_dir.exists(), f"a check wrote into the state dir: {list(state_dir.rglob('*'))}"
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    writes = [r for r in fake_api.requests if r[0] not in ("GET",)]
    assert writes == [], writes
    started = [c for c in fake_tools.calls() if not read_only(c)]
    assert started == [], started


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("provider", ["kind", "vagrant", "existing"])
def test_every_check_of_a_new_cluster_reads_without_raising_with_fake_tools(provider: str, tmp_path: Path,
                                                                            fake_tools, fake_api,
                                                                            monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The cluster exists and is new: its kubeconfig (in the state dir for kind and Vagrant) points at the
    fake API, which holds what kubeadm/kind/k3s start with (a Ready node, CoreDNS's ConfigMap)."""
    ctx, state_dir, hosts = _context(provider, tmp_path, fake_tools, fake_api, monkeypatch)
    kubeconfig = ctx.provider.access().kubeconfig
    assert kubeconfig is not None
    if provider != "existing":
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        fake_api.write_kubeconfig(kubeconfig, ctx.provider.access().context or "kind-devcluster")
    fake_api.add_node("node-1", role="control-plane")
    fake_api.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
                  "data": {"Corefile": ".:53 {\n    forward . /etc/resolv.conf\n}\n"}})
    before = _tree(state_dir)
    answers = _check_all(ctx, ())
    assert len(answers) >= 10 and all(isinstance(a, bool) for a in answers.values()), answers
    assert _tree(state_dir) == before, "a check wrote into the state dir"
    assert hosts.read_text() == "127.0.0.1 localhost\n"
    writes = [r for r in fake_api.requests if r[0] not in ("GET",)]
    assert writes == [], writes
    started = [c for c in fake_tools.calls() if not read_only(c)]
    assert started == [], started
