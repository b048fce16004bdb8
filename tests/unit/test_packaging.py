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
    """A wheel built from the checkout, installed (without deps) into a target dir put first on PYTHONPATH;
    this interpreter supplies the dependencies."""
    work = tmp_path_factory.mktemp("pkg")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(work / "dist"), str(REPO)], check=True, timeout=300, capture_output=True)
    wheel = next((work / "dist").glob("devcluster-*.whl"))
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, timeout=300, capture_output=True)
    return target


def test_wheel_carries_assets_and_suites(installed: Path) -> None:
    wheel = next((installed.parent / "dist").glob("devcluster-*.whl"))  # beside the target dir
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("devcluster/assets/vagrant/Vagrantfile", "devcluster/assets/provisioning/join.sh",
                   "devcluster/assets/provisioning/common.sh", "devcluster/assets/kind/cluster.yaml",
                   "devcluster/suites/e2e/conftest.py", "devcluster/suites/nodes/test_node.py"):
        assert needed in names, needed


def test_installed_package_finds_its_files_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(installed), DEVCLUSTER_STATE_DIR=str(tmp_path / "state"))
    code = ("import devcluster; from devcluster.assets import asset_dir; from devcluster.suites import suite_dir; "
            "print(devcluster.__file__); print(asset_dir('vagrant')); print(suite_dir('e2e'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True, timeout=60).stdout.split()
    assert all(p.startswith(str(installed)) for p in out), out
    plan = subprocess.run([sys.executable, "-m", "devcluster", "up", "--provider", "vagrant", "--dry-run"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert plan.returncode == 0, plan.stderr
    assert "vm-cp1" in plan.stdout and not (tmp_path / "state").exists()


def test_every_package_of_the_tree_is_listed_for_the_wheel() -> None:
    """setuptools ships only the listed packages: a new subpackage left out installs broken with `pip install .`
    (an editable install or a stale build/ dir hides it)."""
    import tomllib

    root = Path(__file__).resolve().parents[2]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {".".join(p.parent.relative_to(root).parts) for p in (root / "devcluster").rglob("__init__.py")}
    assert tree <= listed, f"not listed in pyproject.toml: {sorted(tree - listed)}"
