"""A state dir that cannot be written, and no HOME: one clear error (exit 2), nothing written, no traceback.

Real directories: a path through a regular file; a read-only directory (mode 0500 for a normal user; for
root, who ignores modes, a read-only bind mount in a private mount namespace made with `unshare`).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_cli_errors import devcluster

COMMANDS = [("up", "--provider", "kind", "--skip-stack"), ("hosts", "add", "--ip", "10.1.2.3"), ("down",)]


def _hosts_config(tmp_path: Path) -> Path:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    (tmp_path / "devcluster.yaml").write_text(f"hosts:\n  file: {hosts}\n")
    return hosts


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("variable", ["DEVCLUSTER_STATE_DIR", "XDG_STATE_HOME"])
def test_a_state_dir_through_a_file_is_one_clear_error(tmp_path: Path, command: tuple[str, ...],
                                                       variable: str) -> None:
    hosts = _hosts_config(tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"DEVCLUSTER_STATE_DIR": "", variable: str(blocker)}
    proc = devcluster(*command, cwd=tmp_path, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{blocker} is not a directory" in proc.stderr and variable in proc.stderr
    assert "Traceback" not in proc.stderr
    assert hosts.read_text() == "127.0.0.1 localhost\n" and blocker.read_text() == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_a_read_only_state_dir_is_one_clear_error(tmp_path: Path, command: tuple[str, ...]) -> None:
    hosts = _hosts_config(tmp_path)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    env = {"DEVCLUSTER_STATE_DIR": str(readonly)}
    if os.geteuid() != 0:
        readonly.chmod(0o500)
        proc = devcluster(*command, cwd=tmp_path, env=env)
    else:
        if shutil.which("unshare") is None:
            pytest.skip("root ignores file modes and unshare (util-linux) is missing for a read-only mount")
        argv = shlex.join([sys.executable, "-m", "devcluster", *command])
        script = f"mount --bind -o ro {shlex.quote(str(readonly))} {shlex.quote(str(readonly))} && exec {argv}"
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120,
                              env={**os.environ, "COLUMNS": "300", **env})
        if "mount:" in proc.stderr or "unshare:" in proc.stderr:
            pytest.skip(f"no private mount namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"state dir {readonly}/devcluster is not writable" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert hosts.read_text() == "127.0.0.1 localhost\n" and list(readonly.iterdir()) == []


def test_no_home_for_a_system_user_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME unset and no passwd entry (a container's uid): the layer under, pwd, is what has no answer."""
    from devcluster import config
    from devcluster.errors import ConfigError

    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.delenv("DEVCLUSTER_STATE_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)

    def no_entry(_uid: int) -> pwd.struct_passwd:
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    cfg = config.load(None)
    with pytest.raises(ConfigError) as err:
        _ = cfg.state_path
    assert "HOME is not set" in err.value.message and err.value.exit_code == 2
    assert err.value.hint and "DEVCLUSTER_STATE_DIR" in err.value.hint


def test_logs_collect_into_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("keep me\n")
    proc = devcluster("logs", "--collect", str(target), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"--collect {target}: is not a directory" in proc.stderr and "Traceback" not in proc.stderr
    assert target.read_text() == "keep me\n" and not (tmp_path / "state").exists()
