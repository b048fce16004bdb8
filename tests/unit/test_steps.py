"""The step engine: skip what is done, resume with --from, dry-run touches nothing, failures say where."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from devcluster.config import Config
from devcluster.engine.steps import Context, Step, execute
from devcluster.errors import ConfigError, StepError
from devcluster.local.state import State


class FakeProvider:
    """The engine only needs a name from its provider (steps that talk to a cluster use ctx.kube())."""

    name = "fake"


class World:
    """A tiny system under management: each step creates one named thing."""

    def __init__(self) -> None:
        self.things: set[str] = set()
        self.actions: list[str] = []

    def step(self, name: str, fail_first: bool = False) -> Step:
        failures = {"left": 1 if fail_first else 0}

        def act(ctx: Context) -> None:
            self.actions.append(name)
            if failures["left"]:
                failures["left"] -= 1
                raise OSError(f"{name} broke")  # an expected failure (a bug would propagate as itself)
            self.things.add(name)

        return Step(name, f"make {name}", act, lambda ctx: name in self.things, hint=f"look at {name}")


def make_ctx(tmp_path: Path, dry_run: bool = False) -> Context:
    return Context(Config(), State(tmp_path / "st"), Console(file=open(Path(tmp_path / "out.txt"), "w")),
                   FakeProvider(), dry_run=dry_run)  # type: ignore[arg-type]


def test_second_run_does_no_work(tmp_path: Path) -> None:
    world = World()
    steps = [world.step(n) for n in ("a", "b", "c")]
    first = execute(steps, make_ctx(tmp_path))
    assert [o.status for o in first] == ["ran", "ran", "ran"]
    second = execute(steps, make_ctx(tmp_path))
    assert [o.status for o in second] == ["done", "done", "done"]
    assert world.actions == ["a", "b", "c"]


def test_failure_names_step_and_resume_command_then_from_resumes(tmp_path: Path) -> None:
    world = World()
    steps = [world.step("a"), world.step("b", fail_first=True), world.step("c")]
    with pytest.raises(StepError) as err:
        execute(steps, make_ctx(tmp_path))
    assert "step 'b' failed: b broke" in err.value.message
    assert "look at b" in (err.value.hint or "") and "devcluster up --from b" in (err.value.hint or "")
    assert world.things == {"a"}
    outcomes = execute(steps, make_ctx(tmp_path), start_from="b")
    assert [o.name for o in outcomes] == ["b", "c"] and world.things == {"a", "b", "c"}


def test_a_step_whose_check_still_fails_after_running_is_an_error(tmp_path: Path) -> None:
    """Like `kind create --wait` exiting 0 on timeout: success is judged by the check, not the exit code."""
    step = Step("liar", "pretend", lambda ctx: None, lambda ctx: False)
    with pytest.raises(StepError, match="ran but its check still fails"):
        execute([step], make_ctx(tmp_path))


def test_dry_run_neither_checks_nor_acts(tmp_path: Path) -> None:
    def boom(ctx: Context) -> bool:
        raise AssertionError("checked during dry run")

    step = Step("x", "do x", lambda ctx: boom(ctx), boom)  # type: ignore[func-returns-value]
    outcomes = execute([step], make_ctx(tmp_path, dry_run=True))
    assert [o.status for o in outcomes] == ["would run"]
    assert not (tmp_path / "st").exists()


def test_unknown_from_lists_the_steps(tmp_path: Path) -> None:
    world = World()
    with pytest.raises(ConfigError, match="no such step") as err:
        execute([world.step("a")], make_ctx(tmp_path), start_from="zzz")
    assert "a" in (err.value.hint or "")

