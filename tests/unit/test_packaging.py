"""`pip install .` users get the Vagrantfile, scripts, kind base config and both test suites."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from the checkout, installed (without deps) into a venv that sees this interpreter's packages."""
    work = tmp_path_factory.mktemp("pkg")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(work / "dist"), str(REPO)], check=True, timeout=300, capture_output=True)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    wheel = next((work / "dist").glob("devcluster-*.whl"))
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
                    str(wheel)], check=True, timeout=300, capture_output=True)
    return venv


def test_wheel_carries_assets_and_suites(installed: Path) -> None:
    wheel = next((installed.parent / "dist").glob("devcluster-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("devcluster/assets/vagrant/Vagrantfile", "devcluster/assets/provisioning/join.sh",
                   "devcluster/assets/provisioning/common.sh", "devcluster/assets/kind/cluster.yaml",
                   "devcluster/suites/e2e/conftest.py", "devcluster/suites/nodes/test_node.py"):
        assert needed in names, needed


def test_installed_package_finds_its_files_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["DEVCLUSTER_STATE_DIR"] = str(tmp_path / "state")
    code = ("from devcluster.assets import asset_dir; from devcluster.suites import suite_dir; "
            "print(asset_dir('vagrant')); print(suite_dir('e2e'))")
    out = subprocess.run([str(installed / "bin" / "python"), "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert all("site-packages" in p and str(REPO) not in p for p in out), out
    plan = subprocess.run([str(installed / "bin" / "devcluster"), "up", "--provider", "vagrant", "--dry-run"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0, plan.stderr
    assert "vm-cp1" in plan.stdout and not (tmp_path / "state").exists()
