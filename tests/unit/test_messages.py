"""Messages that name what is wrong and what to do: real runs of `python -m devcluster`, and
scripts/install-tools.sh offline with a fake `curl` on PATH that fails (nothing may be downloaded here)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_cli_errors import devcluster

ROOT = Path(__file__).resolve().parents[2]


def test_kubeconfig_of_the_existing_provider_names_the_file_it_looked_at(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proc = devcluster("kubeconfig", "-p", "existing", cwd=tmp_path, env={"HOME": str(home), "KUBECONFIG": ""})
    assert proc.returncode == 1
    assert f"no kubeconfig at {home}/.kube/config" in proc.stderr and "None" not in proc.stderr
    kc = home / ".kube" / "config"
    kc.parent.mkdir()
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")
    ok = devcluster("kubeconfig", "-p", "existing", cwd=tmp_path, env={"HOME": str(home), "KUBECONFIG": ""})
    assert ok.returncode == 0 and ok.stdout.strip() == str(kc)


def test_the_check_nodes_hint_names_only_options_it_has(tmp_path: Path) -> None:
    proc = devcluster("check", "nodes", "--provider", "kind", cwd=tmp_path)
    assert proc.returncode == 1
    assert "--kubeconfig" not in proc.stderr and "--context" not in proc.stderr, proc.stderr
    assert "devcluster up --provider kind" in proc.stderr


@pytest.mark.parametrize("group", ["hosts", "stack", "check", "image", "snapshot"])
def test_every_group_help_has_examples(tmp_path: Path, group: str) -> None:
    proc = devcluster(group, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "Example" in proc.stdout and f"devcluster {group} " in proc.stdout.split("Commands:")[0], proc.stdout


def _offline_path(tmp_path: Path) -> str:
    """PATH with a fake curl that fails as curl does without a network (exit 6, its one line on stderr)."""
    fakebin = tmp_path / "fakebin"
    fakebin.mkdir()
    curl = fakebin / "curl"
    curl.write_text('#!/bin/sh\necho "curl: (6) Could not resolve host: example" >&2\nexit 6\n')
    curl.chmod(0o755)
    return f"{fakebin}{os.pathsep}{os.environ['PATH']}"


def test_install_tools_offline_names_the_tool_the_url_and_the_way_out(tmp_path: Path) -> None:
    """The fake curl on PATH stands in for a machine without a network: nothing is downloaded."""
    env = {**os.environ, "PATH": _offline_path(tmp_path), "BIN_DIR": str(tmp_path / "bin"), "HOME": str(tmp_path)}
    proc = subprocess.run(["bash", str(ROOT / "scripts/install-tools.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode != 0
    assert "cannot download kind (kind-linux-" in proc.stderr
    assert "from https://kind.sigs.k8s.io/dl/v0.29.0/kind-linux-" in proc.stderr
    assert "TOOLS_DIR=" in proc.stderr, proc.stderr


def test_install_tools_uses_local_copies_from_tools_dir_and_verifies_them(tmp_path: Path) -> None:
    """With TOOLS_DIR holding the files, the fake (failing) curl is never needed; a bad copy is refused."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, "amd64")
    tools = tmp_path / "tools"
    tools.mkdir()
    kind = tools / f"kind-linux-{arch}"
    kind.write_text("#!/bin/sh\necho 'kind v0.29.0 go1.24 linux/amd64'\n")
    digest = hashlib.sha256(kind.read_bytes()).hexdigest()
    (tools / f"kind-linux-{arch}.sha256sum").write_text(f"{digest}  kind-linux-{arch}\n")
    env = {**os.environ, "PATH": _offline_path(tmp_path), "BIN_DIR": str(tmp_path / "bin"), "HOME": str(tmp_path),
           "TOOLS_DIR": str(tools)}
    proc = subprocess.run(["bash", str(ROOT / "scripts/install-tools.sh")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert (tmp_path / "bin" / "kind").read_bytes() == kind.read_bytes(), proc.stderr
    assert "cannot download kubectl" in proc.stderr, "the next tool, not in TOOLS_DIR, is named"
    (tools / f"kind-linux-{arch}.sha256sum").write_text(f"{'0' * 64}  kind-linux-{arch}\n")
    (tmp_path / "bin" / "kind").unlink()
    bad = subprocess.run(["bash", str(ROOT / "scripts/install-tools.sh")], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode != 0 and f"expected {'0' * 64}, got {digest}" in bad.stderr
