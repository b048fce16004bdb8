"""Test suites shipped with devcluster: the E2E suite and the node checks.

Sources live in tests/e2e and tests/nodes; a wheel carries them under
devcluster/suites/. ``suite_dir`` finds either.
"""

from __future__ import annotations

import sys
from pathlib import Path

from devcluster.clients import runner

_HERE = Path(__file__).resolve().parent
_REPO_TESTS = _HERE.parent.parent / "tests"


def suite_dir(name: str) -> Path:
    for candidate in (_HERE / name, _REPO_TESTS / name):
        if (candidate / "conftest.py").is_file():
            return candidate
    raise FileNotFoundError(f"devcluster test suite {name!r} is missing from this installation")


def run_suite(name: str, args: list[str], env: dict[str, str], junitxml: Path | None = None) -> int:
    """Run a packaged suite with pytest; it is the user's foreground job, so it reports to the terminal.

    Through the runner's ``interactive``: the terminal is the suite's and there is no overall timeout, as
    for a shell on a node: the user watches it and can interrupt it, its own API requests carry their
    timeouts, and one deadline for the whole suite would have to be the slowest nightly run's.
    """
    suite = suite_dir(name)
    argv = [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-ra", "--rootdir", str(suite)]
    if junitxml is not None:
        argv.append(f"--junitxml={junitxml}")
    return runner.interactive(argv + args, env=env)
