"""A bug is a bug: it is neither polled until a timeout, nor dressed up as a failed step with a resume hint.

The outside world's failures (API errors, a refused connection, OSError, DevclusterError) are expected: a wait
keeps polling through them and a step turns them into a StepError naming the step. Anything else propagates;
the CLI prints one line saying it is a bug, with the exception type and how to get the traceback (exit 1), and
`--debug` or DEVCLUSTER_DEBUG=1 prints the traceback. The CLI runs as `python -m devcluster` does, against
tests/fakeapi.py; only the step list is replaced, by one step whose check has a KeyError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from devcluster.engine.steps import Context, Step, execute
from devcluster.engine.waiting import wait_for
from devcluster.errors import DevclusterError, StepError
from tests.fakeapi import FakeApiServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_probe_with_a_key_error_raises_at_once_not_after_the_timeout() -> None:
    clock, calls = Clock(), []

    def probe() -> tuple[bool, str]:
        calls.append(clock.now)
        return {}["status"], ""  # type: ignore[return-value]

    with pytest.raises(KeyError):
        wait_for("a rollout", probe, timeout=600, console=Console(quiet=True), clock=clock, sleep=clock.sleep)
    assert calls == [0.0], "the probe was polled again after a bug"


def test_an_api_blip_is_polled_through() -> None:
    from kubernetes.client.rest import ApiException

    clock, answers = Clock(), iter([ApiException(status=503, reason="Service Unavailable"),
                                    ConnectionRefusedError("refused"), (True, "rolled out")])

    def probe() -> tuple[bool, str]:
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    detail = wait_for("a rollout", probe, timeout=600, console=Console(quiet=True), clock=clock, sleep=clock.sleep)
    assert detail == "rolled out" and clock.now == 0.25 + 0.375, "two brisk pauses (0.25 s, growing by half)"


def _ctx(tmp_path: Path) -> Context:
    from devcluster import config
    from devcluster.local.state import State
    from devcluster.providers import get_provider

    cfg = config.load(None, {"provider": "kind", "state_dir": str(tmp_path / "state")})
    state = State(cfg.state_path)
    return Context(cfg, state, Console(quiet=True), get_provider(cfg, state))


def test_a_step_with_a_bug_raises_the_bug_not_a_step_error(tmp_path: Path) -> None:
    def buggy(_ctx: Context) -> bool:
        return {}["ready"]  # type: ignore[no-any-return]

    with pytest.raises(KeyError):
        execute([Step("traefik", "install Traefik", lambda _c: None, buggy)], _ctx(tmp_path))


@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), DevclusterError("helm failed")])
def test_an_expected_failure_is_a_step_error_with_the_resume_command(tmp_path: Path, exc: Exception) -> None:
    def action(_ctx: Context) -> None:
        raise exc

    with pytest.raises(StepError) as info:
        execute([Step("traefik", "install Traefik", action)], _ctx(tmp_path))
    assert "step 'traefik' failed" in info.value.message and "--from traefik" in (info.value.hint or "")


BUGGY_UP = textwrap.dedent("""
    import sys
    from devcluster import plan
    from devcluster.engine.steps import Step

    def check(ctx):
        return ctx.config.__dict__["no-such-key"]

    plan.up_steps = lambda cfg, provider, skip_stack=False: [Step("namespace", "create it", lambda c: None, check)]
    from devcluster.cli import main
    sys.argv = ["devcluster", *sys.argv[1:]]
    main()
""")


def _up(tmp_path: Path, kc: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "DEVCLUSTER_DEBUG"}
    full.update({"COLUMNS": "300", "DEVCLUSTER_STATE_DIR": str(tmp_path / "state"), **(env or {})})
    return subprocess.run([sys.executable, "-c", BUGGY_UP, *args, "up", "--kubeconfig", str(kc)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=full)


def test_a_bug_in_a_step_is_one_line_saying_so_with_exit_1(tmp_path: Path, fake_api: FakeApiServer) -> None:
    proc = _up(tmp_path, fake_api.write_kubeconfig(tmp_path / "kc"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a bug in devcluster (KeyError): 'no-such-key'" in proc.stderr, proc.stderr
    assert "--debug" in proc.stderr and "DEVCLUSTER_DEBUG=1" in proc.stderr
    assert "Traceback" not in proc.stderr and "--from namespace" not in proc.stderr


@pytest.mark.parametrize("how", ["--debug", "DEVCLUSTER_DEBUG=1"])
def test_debug_prints_the_traceback_of_a_bug(tmp_path: Path, fake_api: FakeApiServer, how: str) -> None:
    kc = fake_api.write_kubeconfig(tmp_path / "kc")
    proc = _up(tmp_path, kc, "--debug") if how == "--debug" else _up(tmp_path, kc, env={"DEVCLUSTER_DEBUG": "1"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" in proc.stderr and "KeyError: 'no-such-key'" in proc.stderr
    assert 'File "<string>", line 7, in check' in proc.stderr  # the frame of the bug
