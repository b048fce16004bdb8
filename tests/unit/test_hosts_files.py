"""How the hosts file is locked and written: symlinks, the directory lock, other users, temp files."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import multiprocessing
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path

import pytest

from devcluster.errors import DevclusterError
from devcluster.local import hosts

ENTRY = hosts.Entry("192.168.56.32", ("forail.lan",))
ORIGINAL = "127.0.0.1 localhost\n"
NOBODY = 65534

# A separate process that takes the same flock devcluster takes, and holds it until told to exit (a line on
# stdin: EOF would not do, forked writers inherit the pipe's write end).
HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


@contextlib.contextmanager
def lock_held_by_another_process(directory: Path) -> Iterator[Callable[[], None]]:
    """Yields ``release``; the lock is released on exit at the latest."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(directory)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None

    def release() -> None:
        if proc.poll() is None:
            proc.stdin.write("release\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        proc.wait(timeout=10)

    try:
        assert proc.stdout.readline() == "locked\n"
        yield release
    finally:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()


def _hosts_file(directory: Path, text: str = ORIGINAL) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "hosts"
    path.write_text(text)
    return path


def test_a_symlinked_hosts_file_stays_a_symlink_and_its_target_is_edited(tmp_path: Path) -> None:
    """Like macOS (/etc -> private/etc) or NixOS: editing must go through the links to the real file."""
    real = _hosts_file(tmp_path / "private" / "etc")
    real.chmod(0o644)
    (tmp_path / "etc").mkdir()
    middle = tmp_path / "etc" / "hosts.link"
    middle.symlink_to("../private/etc/hosts")
    link = tmp_path / "etc" / "hosts"
    link.symlink_to("hosts.link")
    inode = real.stat().st_ino

    hf = hosts.HostsFile(link, tmp_path / "b", use_sudo=False)
    assert hf.add("dev", [ENTRY]) is True
    assert link.is_symlink() and os.readlink(link) == "hosts.link" and os.readlink(middle) == "../private/etc/hosts"
    assert hosts.read_block(real.read_text(), "dev") == [ENTRY]
    assert real.stat().st_ino != inode, "the target is replaced atomically"
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    assert os.listdir(real.parent) == ["hosts"], "the temp file lives (and dies) beside the target"
    assert hf.show("dev") == [ENTRY]

    assert hf.remove("dev") is True
    assert link.is_symlink() and real.read_text() == ORIGINAL


def test_sudo_edits_the_target_of_a_symlinked_hosts_file(tmp_path: Path, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Process boundary: a fake `sudo` on PATH runs the command it is given (we are root in CI)."""
    fake_tools.add("sudo", "import subprocess\nsys.exit(subprocess.call(sys.argv[1:]))")
    real = _hosts_file(tmp_path / "private" / "etc")
    target = os.path.realpath(real)
    link = tmp_path / "hosts"
    link.symlink_to(real)

    hf = hosts.HostsFile(link, tmp_path / "b", use_sudo=True)
    hf.add("dev", [ENTRY])
    assert link.is_symlink()
    assert hosts.read_block(real.read_text(), "dev") == [ENTRY]
    argvs = [c["argv"] for c in fake_tools.calls("sudo")]
    assert argvs[0][0] == "install" and argvs[0][-1] == f"{target}.devcluster-new"
    assert argvs[1] == ["mv", "-f", f"{target}.devcluster-new", target]
    assert any(f"a link to {target}" in m and "using sudo" in m for m in hf.messages)


def test_add_and_remove_create_no_file_in_the_temp_dir_or_beside_the_hosts_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock is the directory itself: no lock files pile up in /tmp (the old design left one per path)."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    path = _hosts_file(tmp_path / "etc")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    hf.add("dev", [ENTRY])
    hf.remove("dev")
    assert list(tmpdir.iterdir()) == []
    assert os.listdir(path.parent) == ["hosts"]


def _add_in_child(path: str, backups: str) -> None:
    hosts.HostsFile(Path(path), Path(backups), use_sudo=False).add("dev", [ENTRY])


def test_a_writer_waits_while_another_process_holds_the_lock_then_proceeds(tmp_path: Path) -> None:
    path = _hosts_file(tmp_path / "etc")
    with lock_held_by_another_process(path.parent) as release:
        child = multiprocessing.get_context("fork").Process(target=_add_in_child,
                                                            args=(str(path), str(tmp_path / "b")))
        child.start()
        time.sleep(0.3)
        assert child.is_alive(), "the writer must wait for the lock"
        assert path.read_text() == ORIGINAL
        release()
        child.join(timeout=30)
    assert child.exitcode == 0
    assert hosts.read_block(path.read_text(), "dev") == [ENTRY]


def test_a_writer_gives_up_with_a_clear_error_when_the_lock_stays_held(tmp_path: Path) -> None:
    path = _hosts_file(tmp_path / "etc")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False, lock_timeout=0.3)
    with lock_held_by_another_process(path.parent):
        with pytest.raises(DevclusterError, match=r"gave up after 0.3s waiting for the lock on .*etc") as info:
            hf.add("dev", [ENTRY])
        assert info.value.hint and "another devcluster run" in info.value.hint
        assert path.read_text() == ORIGINAL
    assert hf.add("dev", [ENTRY]) is True


def test_a_missing_directory_is_an_error_with_a_hint_not_a_traceback(tmp_path: Path) -> None:
    hf = hosts.HostsFile(tmp_path / "missing" / "hosts", tmp_path / "b", use_sudo=False)
    with pytest.raises(DevclusterError, match=r"cannot lock .*missing to edit .*hosts") as info:
        hf.add("dev", [ENTRY])
    assert info.value.hint


def test_a_lock_the_filesystem_refuses_is_an_error_with_a_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS without lockd and friends: flock fails outright rather than blocking."""

    def refuse(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", refuse)
    path = _hosts_file(tmp_path / "etc")
    with pytest.raises(DevclusterError, match=os.strerror(errno.ENOLCK)) as info:
        hosts.HostsFile(path, tmp_path / "b", use_sudo=False).add("dev", [ENTRY])
    assert info.value.hint and str(path.parent) in info.value.hint
    assert path.read_text() == ORIGINAL


# ------------------------------------------------------------- another user (root only)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A root-owned directory user nobody can reach (pytest's tmp_path is private to root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: runs the second writer as user nobody (uid 65534) against root's lock")
    base = Path(tempfile.mkdtemp(prefix="devcluster-test-hosts-"))
    for parent in base.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            shutil.rmtree(base)
            pytest.skip(f"{parent} is not traversable by other users")
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def _as_nobody(path: str, backups: str, results: Queue) -> None:
    try:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        hf = hosts.HostsFile(Path(path), Path(backups))
        hf.add("nobody", [hosts.Entry("10.0.0.9", ("nobody.lan",))])
        results.put("ok")
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def _run_as_nobody(path: Path, backups: Path) -> tuple[BaseProcess, Queue]:
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_as_nobody, args=(str(path), str(backups), results))
    child.start()
    return child, results


def test_a_non_root_user_waits_for_the_lock_root_holds_then_writes(shared_dir: Path) -> None:
    """After `sudo devcluster ...`, a plain user's run must share root's lock, not crash on it."""
    etc = shared_dir / "etc"
    path = _hosts_file(etc)
    path.chmod(0o666)
    etc.chmod(0o755)  # nobody can write the file but not create files beside it
    backups = shared_dir / "backups"
    backups.mkdir()
    os.chown(backups, NOBODY, NOBODY)
    hosts.HostsFile(path, shared_dir / "root-backups", use_sudo=False).add("root", [ENTRY])

    with lock_held_by_another_process(etc) as release:  # root holds it
        child, results = _run_as_nobody(path, backups)
        time.sleep(0.3)
        assert child.is_alive(), f"nobody must wait for root's lock, got {results.get(timeout=5)!r}"
        release()
        outcome = results.get(timeout=30)
        child.join(timeout=30)
    assert outcome == "ok"
    text = path.read_text()
    assert hosts.read_block(text, "root") == [ENTRY]
    assert hosts.read_block(text, "nobody") == [hosts.Entry("10.0.0.9", ("nobody.lan",))]
    assert path.stat().st_uid == 0 and stat.S_IMODE(path.stat().st_mode) == 0o666, "rewritten in place"
    assert os.listdir(etc) == ["hosts"]


def test_a_directory_the_user_cannot_read_is_an_error_with_a_hint(shared_dir: Path) -> None:
    etc = shared_dir / "etc"
    path = _hosts_file(etc)
    path.chmod(0o666)
    etc.chmod(0o711)  # traversable, so the file is reachable, but not readable: no lock
    backups = shared_dir / "backups"
    backups.mkdir()
    os.chown(backups, NOBODY, NOBODY)
    child, results = _run_as_nobody(path, backups)
    outcome = results.get(timeout=30)
    child.join(timeout=30)
    assert outcome.startswith("DevclusterError: cannot lock") and "Permission denied" in outcome
    assert "hint:" in outcome
    assert path.read_text() == ORIGINAL


def test_a_file_the_user_cannot_read_is_an_error_with_a_hint(shared_dir: Path) -> None:
    etc = shared_dir / "etc"
    path = _hosts_file(etc)
    path.chmod(0o600)
    backups = shared_dir / "backups"
    backups.mkdir()
    os.chown(backups, NOBODY, NOBODY)
    child, results = _run_as_nobody(path, backups)
    outcome = results.get(timeout=30)
    child.join(timeout=30)
    assert outcome.startswith(f"DevclusterError: cannot read {os.path.realpath(path)}: Permission denied")
    assert "hint:" in outcome
