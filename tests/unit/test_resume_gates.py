"""`up --from STEP` never skips the steps that establish that the cluster exists and answers (issue 16.3).

The CLI test runs `up` on the kind provider with no cluster at all: the gate's check (a kubeconfig whose
API answers) fails without any tool being run, so no fake executable is needed; the hosts file is a real
file in the test's directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from devcluster.cli import app
from devcluster.config import Config
from devcluster.engine.steps import Context, Step, execute
from devcluster.errors import DevclusterError, StepError
from devcluster.local.state import State


def test_up_from_hosts_without_a_cluster_fails_and_writes_nothing(tmp_path: Path,
                                                                  write_config: Callable[[str], Path]) -> None:
    """It exited 0, said "cluster is ready", printed a KUBECONFIG that does not exist and wrote the block."""
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("127.0.0.1 localhost\n")
    write_config(f"provider: kind\nhosts:\n  file: {hosts_file}\n")
    res = CliRunner().invoke(app, ["up", "--from", "hosts", "--skip-stack"], env={"COLUMNS": "200"})
    assert isinstance(res.exception, StepError), res.output  # main() prints it and exits 1
    assert "is ready" not in res.output and "export KUBECONFIG" not in res.output
    assert "step 'kubeconfig' is not done" in str(res.exception) and "--from kubeconfig" in str(res.exception)
    assert hosts_file.read_text() == "127.0.0.1 localhost\n"


class Provider:
    name = "fake"


def run(steps: list[Step], start_from: str, tmp_path: Path) -> list[str]:
    ctx = Context(Config(), State(tmp_path / "state"), Console(quiet=True), Provider())  # type: ignore[arg-type]
    return [o.name for o in execute(steps, ctx, start_from)]


def test_a_gate_before_the_resume_point_is_checked_and_never_made(tmp_path: Path) -> None:
    made: list[str] = []
    cluster = {"up": False}

    def make(name: str) -> Callable[[Context], None]:
        return lambda ctx: made.append(name)

    steps = [Step("create", "make it", make("create"), lambda ctx: cluster["up"]),
             Step("kubeconfig", "reach it", make("kubeconfig"), lambda ctx: cluster["up"], gate=True),
             Step("later", "use it", make("later"))]
    with pytest.raises(StepError, match=r"--from later skips .* step 'kubeconfig' is not done"):
        run(steps, "later", tmp_path)
    assert made == []
    cluster["up"] = True
    assert run(steps, "later", tmp_path) == ["kubeconfig", "later"]
    assert made == ["later"], "a passing gate is only checked; the steps before it stay skipped"


def test_a_gate_without_a_check_runs_its_action(tmp_path: Path) -> None:
    """The existing provider's `target` step checks in its action (context safe, API reachable)."""
    seen: list[str] = []

    def refuse(ctx: Context) -> None:
        seen.append("target")
        raise DevclusterError("context points at a public address")

    steps = [Step("target", "check it", refuse, gate=True), Step("later", "use it", lambda ctx: seen.append("x"))]
    with pytest.raises(StepError, match="step 'target' failed: context points at a public address"):
        run(steps, "later", tmp_path)
    assert seen == ["target"]
