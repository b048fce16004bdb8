"""Shared fixtures: an isolated state dir, and recording fake executables.

Fake executables stand in for tools that cannot run on the test machine
(kind needs Docker, vagrant up needs VirtualBox): each records its argv (and
stdin) as one JSON line, then behaves as the test scripts it to.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FAKE_TEMPLATE = """#!{python}
import json, os, sys
log = {log!r}
data = sys.stdin.read() if not sys.stdin.isatty() and os.environ.get("FAKE_READ_STDIN") else ""
with open(log, "a") as fh:
    fh.write(json.dumps({{"tool": {name!r}, "argv": sys.argv[1:], "stdin": data}}) + "\\n")
{body}
"""


class FakeTools:
    def __init__(self, bindir: Path, log: Path) -> None:
        self.bindir = bindir
        self.log = log

    def add(self, name: str, body: str = "sys.exit(0)") -> Path:
        path = self.bindir / name
        path.write_text(FAKE_TEMPLATE.format(python=sys.executable, log=str(self.log), name=name, body=body))
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    def calls(self, name: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        rows = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [r for r in rows if name is None or r["tool"] == name]


def doctor_tools(fake_tools: FakeTools, monkeypatch: pytest.MonkeyPatch, helm: str = "v3.17.3+ge4da497",
                 kubectl: str = "v1.30.14", docker: str = "print('28.2.2')") -> None:
    """Fakes of what `doctor --provider kind` asks for their versions (kind/Docker cannot run here), alone on
    PATH with the system's directories."""
    monkeypatch.setenv("PATH", str(fake_tools.bindir) + os.pathsep + "/usr/bin:/bin")
    fake_tools.add("kind", "print('kind v0.29.0 go1.24.2 linux/amd64')")
    fake_tools.add("helm", f"print({helm!r})")
    fake_tools.add("docker", docker)
    fake_tools.add("kubectl", f"print('Client Version: {kubectl}')")
    fake_tools.add("git", "print('git version 2.39.5')")


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeTools:
    bindir = tmp_path / "fakebin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return FakeTools(bindir, tmp_path / "calls.jsonl")


@pytest.fixture(autouse=True)
def isolated_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state dir and never reads the developer's devcluster.yaml."""
    state = tmp_path / "state"
    monkeypatch.setenv("DEVCLUSTER_STATE_DIR", str(state))
    monkeypatch.chdir(tmp_path)
    return state


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        p = tmp_path / "devcluster.yaml"
        p.write_text(text)
        return p

    return write


@pytest.fixture
def fake_api():  # type: ignore[no-untyped-def]
    from tests.fakeapi import FakeApiServer

    server = FakeApiServer().start()
    yield server
    server.stop()
