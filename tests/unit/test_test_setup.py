"""scripts/test-setup.sh on a machine where it cannot install: it must say what to install, not crash."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_non_root_without_sudo_names_the_missing_packages(tmp_path: Path) -> None:
    """A fake `id` (uid 1000) and a fake `dpkg-query` (nothing installed) on a PATH without sudo: the script
    runs as far as its package check, then stops with the apt-get command to run as root (exit 2)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "python3", "grep", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (bindir / tool).symlink_to(found)
    (bindir / "id").write_text("#!/bin/bash\necho 1000\n")
    (bindir / "dpkg-query").write_text("#!/bin/bash\nexit 1\n")
    for fake in ("id", "dpkg-query"):
        (bindir / fake).chmod(0o755)
    proc = subprocess.run([str(bindir / "bash"), str(REPO / "scripts" / "test-setup.sh")], capture_output=True,
                          text=True, timeout=60, env={"PATH": str(bindir), "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "these Debian packages are missing: vagrant shellcheck openssh-server iproute2 git" in proc.stderr
    assert "apt-get install -y vagrant" in proc.stderr and "sudo is not installed" in proc.stderr
    assert "command not found" not in proc.stderr


def test_setup_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        import pytest

        pytest.skip("shellcheck is not installed (scripts/test-setup.sh installs it)")
    scripts = [str(p) for p in (REPO / "scripts").glob("*.sh")]
    proc = subprocess.run(["shellcheck", *scripts], capture_output=True, text=True, timeout=60,
                          env={**os.environ})
    assert proc.returncode == 0, proc.stdout
