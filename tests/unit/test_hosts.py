"""The managed /etc/hosts block, on real files in a temp dir."""

from __future__ import annotations

import multiprocessing
import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devcluster.errors import ConfigError, DevclusterError
from devcluster.local import hosts

ENTRY = hosts.Entry("192.168.56.32", ("forail.lan",))
# Any text that does not itself contain our markers, with any line endings.
foreign_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400).filter(
    lambda t: "# BEGIN devcluster" not in t and "# END devcluster" not in t
)


def _join_lines(lines: list[str], eols: list[str], final_newline: bool) -> str:
    text = "".join(line + eol for line, eol in zip(lines, eols[: len(lines)], strict=True))
    return text[: -len(eols[len(lines) - 1])] if lines and not final_newline else text


# Hosts-file-like text: lines joined by LF or CRLF (mixed), with or without a final newline.
hosts_like_text = st.builds(
    _join_lines,
    st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                     max_size=30), max_size=8),
    st.lists(st.sampled_from(["\n", "\r\n"]), min_size=8, max_size=8),
    st.booleans(),
).filter(lambda t: "# BEGIN devcluster" not in t and "# END devcluster" not in t)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.one_of(foreign_text, hosts_like_text))
def test_add_then_remove_restores_any_content_byte_for_byte(before: str) -> None:
    added = hosts.with_block(before, "dev", [ENTRY])
    assert hosts.read_block(added, "dev") == [ENTRY]
    assert added.startswith(before), "nothing before the block may change"
    assert added.endswith("\n"), "the block always ends its line: a later `echo >> hosts` is a line of its own"
    assert hosts.without_block(added, "dev") == before


@settings(max_examples=200)
@given(before=foreign_text, after=foreign_text, eol=st.sampled_from(["\n", "\r\n"]), at_eof=st.booleans())
def test_content_around_an_existing_block_survives_update(before: str, after: str, eol: str, at_eof: bool) -> None:
    """An update rewrites the block where it is, in its own line ending, and touches nothing around it."""
    if at_eof and (before == "" or before.endswith("\n")):
        before += "last line"  # only a file without a final newline gets a block that ends it
    sep = "" if before == "" or before.endswith("\n") else eol
    new_entry = hosts.Entry("127.0.0.1", ("forail.lan", "a.forail.lan"))
    noted = bool(sep) and at_eof  # devcluster ended the user's last line to start the block
    block = hosts.render_block("dev", [ENTRY], eol, noted)
    new_block = hosts.render_block("dev", [new_entry], eol, noted)
    if at_eof:
        after = ""
    text = before + sep + block + after
    updated = hosts.with_block(text, "dev", [new_entry])
    assert updated == before + sep + new_block + after
    assert hosts.read_block(updated, "dev") == [new_entry]
    assert hosts.without_block(updated, "dev") == (before if at_eof else before + sep + after)


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


@pytest.mark.parametrize(
    "original,added",
    [
        (b"", b"# BEGIN devcluster dev\n192.168.56.32\tforail.lan\n# END devcluster dev\n"),
        (b"127.0.0.1 localhost", b"127.0.0.1 localhost\n# BEGIN devcluster dev (devcluster ended the line above)\n"
                                 b"192.168.56.32\tforail.lan\n# END devcluster dev\n"),
        (b"127.0.0.1 localhost\r\n::1 localhost\r\n", b"127.0.0.1 localhost\r\n::1 localhost\r\n"
         b"# BEGIN devcluster dev\r\n192.168.56.32\tforail.lan\r\n# END devcluster dev\r\n"),
        (b"127.0.0.1 localhost\r\n::1 localhost", b"127.0.0.1 localhost\r\n::1 localhost\r\n"
         b"# BEGIN devcluster dev (devcluster ended the line above)\r\n192.168.56.32\tforail.lan\r\n"
         b"# END devcluster dev\r\n"),
        # Not UTF-8 (a Latin-1 comment): carried through untouched rather than a UnicodeDecodeError.
        (b"# caf\xe9\n127.0.0.1 localhost\n", b"# caf\xe9\n127.0.0.1 localhost\n"
         b"# BEGIN devcluster dev\n192.168.56.32\tforail.lan\n# END devcluster dev\n"),
    ],
    ids=["empty", "no-final-newline", "crlf", "crlf-no-final-newline", "not-utf8"],
)
def test_block_takes_the_files_line_endings_and_remove_restores_the_bytes(
    tmp_path: Path, original: bytes, added: bytes
) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(original)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    assert hf.add("dev", [ENTRY]) is True
    assert path.read_bytes() == added
    assert hf.show("dev") == [ENTRY]
    assert hf.remove("dev") is True
    assert path.read_bytes() == original


def test_update_keeps_the_blocks_place_and_line_ending(tmp_path: Path) -> None:
    """A CRLF block in the middle of an LF file stays CRLF and stays in the middle."""
    path = tmp_path / "hosts"
    head, tail = b"127.0.0.1 localhost\n", b"10.1.1.1 other.lan\n::1 localhost"
    path.write_bytes(head + b"# BEGIN devcluster dev\r\n1.2.3.4\tforail.lan\r\n# END devcluster dev\r\n" + tail)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    hf.add("dev", [ENTRY])
    assert path.read_bytes() == (head + b"# BEGIN devcluster dev\r\n192.168.56.32\tforail.lan\r\n"
                                 b"# END devcluster dev\r\n" + tail)
    hf.remove("dev")
    assert path.read_bytes() == head + tail


@pytest.mark.parametrize(
    "text,expected",
    [("", "\n"), ("a", "\n"), ("a\nb\n", "\n"), ("a\r\nb\r\n", "\r\n"), ("a\r\nb\r\nc\n", "\r\n"),
     ("a\nb\nc\r\n", "\n"), ("a\r\nb\n", "\r\n"), ("a\nb\r\n", "\n"), ("a\rb\r", "\n")],
)
def test_line_ending_is_the_majority_then_the_first(text: str, expected: str) -> None:
    assert hosts.line_ending(text) == expected


def test_unterminated_crlf_block_is_refused_not_duplicated(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    text = b"127.0.0.1 localhost\r\n# BEGIN devcluster dev\r\n1.2.3.4 x.lan\r\n"
    path.write_bytes(text)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    with pytest.raises(DevclusterError, match="without a matching"):
        hf.add("dev", [ENTRY])
    assert path.read_bytes() == text


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


@pytest.mark.parametrize("name", ["10.0.0.1", "::1", "fe80::1", "[::1]", "192.168.56.32"])
def test_an_ip_address_is_refused_as_a_hostname(name: str) -> None:
    with pytest.raises(ConfigError, match="is an IP address, not a hostname"):
        hosts.validate_entry("10.0.0.1", ["forail.lan", name])


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


@pytest.mark.parametrize("name", ["forail.local", "FORAIL.LOCAL", "api.forail.local."])
def test_local_names_are_warned_about_even_where_nsswitch_has_no_mdns(tmp_path: Path, name: str) -> None:
    """Teammates' laptops resolve .local by mDNS even if this machine does not: warn everywhere."""
    plain = tmp_path / "nsswitch.conf"
    plain.write_text("hosts: files dns\n")
    (warning,) = hosts.hostname_warnings(name, plain)
    assert name in warning and "mDNS" in warning and ".lan" in warning
    assert "This machine has the trap too" not in warning


def test_local_warning_adds_this_machines_trap_when_present(tmp_path: Path) -> None:
    trapped = tmp_path / "nsswitch.conf"
    trapped.write_text("hosts: mdns4_minimal [NOTFOUND=return] files dns\n")
    (warning,) = hosts.hostname_warnings("forail.local", trapped)
    assert "This machine has the trap too" in warning


@pytest.mark.parametrize("name", ["forail.lan", "local.lan", "forail.localdomain", "mylocal"])
def test_other_names_get_no_warning(tmp_path: Path, name: str) -> None:
    trapped = tmp_path / "nsswitch.conf"
    trapped.write_text("hosts: mdns4_minimal [NOTFOUND=return] files dns\n")
    assert hosts.hostname_warnings(name, trapped) == []


def test_resolve_asks_the_system_resolver() -> None:
    addresses = hosts.resolve("localhost")
    assert addresses and set(addresses) <= {"127.0.0.1", "::1"}
    assert len(addresses) == len(set(addresses)), "one entry per address, not per socket type"


def test_resolve_keeps_order_drops_duplicates_and_is_empty_when_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.2", 0)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fd00::2", 0, 0, 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.2", 0)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", 0)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    assert hosts.resolve("forail.lan") == ["10.0.0.2", "fd00::2", "10.0.0.1"]

    def unknown(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    assert hosts.resolve("nothing.invalid") == []


def test_the_local_warning_is_one_text_for_the_config_and_for_hosts_add(tmp_path: Path) -> None:
    """One copy of the .local warning: the config's hostname and `hosts add --hostname` say the same words."""
    from devcluster import config

    plain = tmp_path / "nsswitch.conf"
    plain.write_text("hosts: files dns\n")
    cfg = config.load(None, {"hostname": "forail.local"})
    assert config.warnings(cfg) == hosts.hostname_warnings("forail.local", plain)
