"""Processes start only in devcluster/clients/runner.py (argument lists, timeouts, an error naming the command).

Read from the source with `ast`: a call of subprocess's process starters anywhere else in the package fails.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "devcluster"
STARTERS = {"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"}


def _starts(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "subprocess" \
                and node.attr in STARTERS:
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: subprocess.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "subprocess" and \
                any(alias.name in STARTERS for alias in node.names):
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: from subprocess import ...")
    return found


def test_no_process_starts_outside_the_runner() -> None:
    starts = [s for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "clients" / "runner.py"
              for s in _starts(p)]
    assert starts == [], starts
