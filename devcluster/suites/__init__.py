"""Test suites shipped with devcluster: the E2E suite and the node checks.

Sources live in tests/e2e and tests/nodes; a wheel carries them under
devcluster/suites/. ``suite_dir`` finds either.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_REPO_TESTS = _HERE.parent.parent / "tests"


def suite_dir(name: str) -> Path:
    for candidate in (_HERE / name, _REPO_TESTS / name):
        if (candidate / "conftest.py").is_file():
            return candidate
    raise FileNotFoundError(f"devcluster test suite {name!r} is missing from this installation")


def run_suite(name: str, args: list[str], env: dict[str, str], junitxml: Path | None = None) -> int:
    """Run a packaged suite with pytest; it is the user's foreground job, so it reports to the terminal."""
    suite = suite_dir(name)
    argv = [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-ra", "--rootdir", str(suite)]
    if junitxml is not None:
        argv.append(f"--junitxml={junitxml}")
    return subprocess.call(argv + args, env={**os.environ, **env})
