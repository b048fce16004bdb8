"""What `--help` loads: structure, not wall time (docs/performance.md has the timings).

`devcluster --help` and every subcommand's help must not import the heavy libraries that only some
commands use: the kubernetes client, paramiko, cryptography, testinfra, PyYAML, rich's console, pydantic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("kubernetes", "paramiko", "cryptography", "testinfra", "yaml", "rich.console", "pydantic", "vagrant")


def imported_modules(args: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "devcluster", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command", [[], ["up"], ["plan"], ["status"], ["hosts", "add"], ["stack", "install"],
                                     ["image", "load"], ["check", "nodes"], ["logs"]], ids=lambda c: " ".join(c) or "-")
def test_help_loads_no_heavy_library(command: list[str], tmp_path: Path) -> None:
    loaded = imported_modules([*command, "--help"], tmp_path)
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], heavy
