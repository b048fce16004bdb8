"""Test suites shipped with devcluster: the E2E suite and the node checks.

Sources live in tests/e2e and tests/nodes; a wheel carries them under
devcluster/suites/. ``suite_dir`` finds either.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_REPO_TESTS = _HERE.parent.parent / "tests"


def suite_dir(name: str) -> Path:
    for candidate in (_HERE / name, _REPO_TESTS / name):
        if (candidate / "conftest.py").is_file():
            return candidate
    raise FileNotFoundError(f"devcluster test suite {name!r} is missing from this installation")
