"""The managed /etc/hosts block, on real files in a temp dir."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devcluster import hosts
from devcluster.errors import ConfigError, DevclusterError

ENTRY = hosts.Entry("192.168.56.32", ("forail.lan",))
# Any text that does not itself contain our markers, with any line endings.
foreign_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400).filter(
    lambda t: "# BEGIN devcluster" not in t and "# END devcluster" not in t
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(before=foreign_text)
def test_add_then_remove_restores_any_content_byte_for_byte(before: str) -> None:
    added = hosts.with_block(before, "dev", [ENTRY])
    assert hosts.read_block(added, "dev") == [ENTRY]
    restored = hosts.without_block(added, "dev")
    if before == "" or before.endswith("\n"):
        assert restored == before
    else:
        # We had to end the user's last line to start ours; that newline is the only difference.
        assert restored == before + "\n"


@settings(max_examples=200)
@given(before=foreign_text, after=foreign_text)
def test_content_around_an_existing_block_survives_update(before: str, after: str) -> None:
    sep = "" if before == "" or before.endswith("\n") else "\n"
    text = before + sep + hosts.render_block("dev", [ENTRY]) + after
    new_entry = hosts.Entry("127.0.0.1", ("forail.lan", "api.forail.lan"))
    updated = hosts.with_block(text, "dev", [new_entry])
    assert updated == before + sep + hosts.render_block("dev", [new_entry]) + after
    assert hosts.without_block(updated, "dev") == before + sep + after


def test_add_is_idempotent_and_other_clusters_blocks_are_untouched(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    original = "127.0.0.1 localhost\n# BEGIN devcluster other\n10.0.0.1 other.lan\n# END devcluster other\n"
    path.write_text(original)
    hf = hosts.HostsFile(path, tmp_path / "backups", use_sudo=False)
    assert hf.add("dev", [ENTRY]) is True
    first = path.read_bytes()
    assert hf.add("dev", [ENTRY]) is False
    assert path.read_bytes() == first
    assert hf.show("other") == [hosts.Entry("10.0.0.1", ("other.lan",))]
    assert hf.remove("dev") is True
    assert path.read_text() == original
    assert hf.remove("dev") is False


def test_write_keeps_mode_and_makes_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n")
    path.chmod(0o640)
    inode_before = path.stat().st_ino
    hf = hosts.HostsFile(path, tmp_path / "backups", use_sudo=False)
    hf.add("dev", [ENTRY])
    assert path.stat().st_mode & 0o777 == 0o640
    assert path.stat().st_ino != inode_before, "expected an atomic replace (new inode)"
    backups = list((tmp_path / "backups").iterdir())
    assert len(backups) == 1 and backups[0].read_text() == "127.0.0.1 localhost\n"
    assert backups[0].stat().st_mode & 0o777 == 0o600


def test_crlf_file_and_missing_final_newline_are_preserved(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"127.0.0.1 localhost\r\n::1 localhost")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    hf.add("dev", [ENTRY])
    assert path.read_bytes().startswith(b"127.0.0.1 localhost\r\n::1 localhost\n# BEGIN devcluster dev\n")
    hf.remove("dev")
    assert path.read_bytes() == b"127.0.0.1 localhost\r\n::1 localhost\n"


def test_unterminated_block_is_refused_and_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    text = "127.0.0.1 localhost\n# BEGIN devcluster dev\n1.2.3.4 x.lan\n"
    path.write_text(text)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    with pytest.raises(DevclusterError, match="without a matching"):
        hf.add("dev", [ENTRY])
    assert path.read_text() == text


@pytest.mark.parametrize("ip,name", [("300.1.1.1", "forail.lan"), ("10.0.0.1", "bad_name.lan"),
                                     ("10.0.0.1", "-x.lan"), ("not-an-ip", "forail.lan"), ("10.0.0.1", "")])
def test_invalid_entries_are_rejected(ip: str, name: str) -> None:
    with pytest.raises(ConfigError):
        hosts.validate_entry(ip, [name] if name else [])


def _worker(args: tuple[str, str, int]) -> None:
    path, backups, i = args
    hf = hosts.HostsFile(Path(path), Path(backups), use_sudo=False)
    for _ in range(15):
        hf.add(f"c{i}", [hosts.Entry(f"10.0.0.{i}", (f"n{i}.lan",))])


def test_concurrent_writers_do_not_corrupt_the_file(tmp_path: Path) -> None:
    """Eight processes rewriting their own blocks at once: every block survives, nothing else changes."""
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n")
    with multiprocessing.get_context("fork").Pool(8) as pool:
        pool.map(_worker, [(str(path), str(tmp_path / "b"), i) for i in range(1, 9)])
    text = path.read_text()
    assert text.startswith("127.0.0.1 localhost\n")
    for i in range(1, 9):
        assert hosts.read_block(text, f"c{i}") == [hosts.Entry(f"10.0.0.{i}", (f"n{i}.lan",))]
    assert text.count("# BEGIN devcluster") == 8 and text.count("# END devcluster") == 8


@pytest.mark.parametrize(
    "nsswitch,host,expected",
    [
        ("hosts: mdns_minimal [NOTFOUND=return] files dns\n", "forail.local", True),
        ("hosts: mdns4_minimal [NOTFOUND=return] files dns\n", "forail.local", True),
        ("hosts: files mdns4_minimal [NOTFOUND=return] dns\n", "forail.local", False),
        ("hosts: mdns_minimal [NOTFOUND=return] files dns\n", "forail.lan", False),
        ("hosts: files dns\n", "forail.local", False),
    ],
)
def test_mdns_trap_detection(tmp_path: Path, nsswitch: str, host: str, expected: bool) -> None:
    p = tmp_path / "nsswitch.conf"
    p.write_text("# comment\n" + nsswitch)
    assert hosts.mdns_hijacks(host, p) is expected


def test_not_writable_file_uses_sudo_and_says_so(tmp_path: Path, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """Process-boundary test: a fake `sudo` on PATH runs the command it is given (we are root here)."""
    fake_tools.add("sudo", "import subprocess\nsys.exit(subprocess.call(sys.argv[1:]))")
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1 localhost\n")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=True)
    hf.add("dev", [ENTRY])
    assert hosts.read_block(path.read_text(), "dev") == [ENTRY]
    assert any("using sudo" in m for m in hf.messages)
    argvs = [c["argv"] for c in fake_tools.calls("sudo")]
    assert argvs[0][0] == "install" and argvs[1][:2] == ["mv", "-f"]
    assert not os.path.exists(f"{path}.devcluster-new")
