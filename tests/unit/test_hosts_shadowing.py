"""Lines elsewhere in the hosts file that map our names and so defeat the managed block."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.local import hosts

ENTRY = hosts.Entry("192.168.56.32", ("forail.lan", "api.forail.lan"))
HAND_WRITTEN = (
    "127.0.0.1 localhost\n"
    "10.9.9.9 Forail.LAN   # old VM\n"
    "# 10.8.8.8 forail.lan\n"
    "10.7.7.7 other.lan\n"
    "fe80::1%lo0 api.forail.lan\n"
    "not-an-ip forail.lan\n"
)


def test_shadowing_lines_finds_active_lines_for_our_names_case_insensitively() -> None:
    assert hosts.shadowing_lines(HAND_WRITTEN, "dev", ["forail.lan", "api.forail.lan"]) == [
        (2, "10.9.9.9 Forail.LAN   # old VM"),
        (5, "fe80::1%lo0 api.forail.lan"),
    ]


def test_our_own_block_does_not_shadow_but_another_clusters_block_does() -> None:
    text = hosts.with_block("127.0.0.1 localhost\r\n", "other", [hosts.Entry("10.1.1.1", ("forail.lan",))])
    text = hosts.with_block(text, "dev", [ENTRY])
    assert hosts.shadowing_lines(text, "dev", ENTRY.hostnames) == [(3, "10.1.1.1\tforail.lan")]
    assert hosts.shadowing_lines(text, "other", ["forail.lan"]) == [(6, "192.168.56.32\tforail.lan api.forail.lan")]


def test_add_warns_about_each_shadowing_line_and_leaves_it(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(HAND_WRITTEN)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    assert hf.add("dev", [ENTRY]) is True
    assert path.read_text().startswith(HAND_WRITTEN)
    assert hf.messages == [
        f'warning: {path}:2: "10.9.9.9 Forail.LAN   # old VM" maps forail.lan too and comes first, so it wins over '
        "devcluster's block; remove that line, or re-run with --force to comment it out (reversibly)",
        f'warning: {path}:5: "fe80::1%lo0 api.forail.lan" maps api.forail.lan too and comes first, so it wins over '
        "devcluster's block; remove that line, or re-run with --force to comment it out (reversibly)",
    ]
    assert hf.shadowing("dev", ENTRY.hostnames) == [(2, "10.9.9.9 Forail.LAN   # old VM"),
                                                     (5, "fe80::1%lo0 api.forail.lan")]


def test_a_line_after_the_block_is_reported_without_claiming_it_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text(hosts.render_block("dev", [ENTRY]) + "10.9.9.9 forail.lan\n")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    assert hf.add("dev", [ENTRY]) is False
    (message,) = hf.messages
    assert f'{path}:4: "10.9.9.9 forail.lan" maps forail.lan too and comes after' in message


def test_a_line_in_another_clusters_block_is_reported_and_never_commented_out(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    other = hosts.render_block("other", [hosts.Entry("10.1.1.1", ("forail.lan",))])
    path.write_text(other)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    hf.add("dev", [ENTRY], force=True)
    assert path.read_text() == other + hosts.render_block("dev", [ENTRY])
    (message,) = hf.messages
    assert "devcluster's block for cluster other" in message


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("final_newline", [True, False])
def test_force_comments_shadowing_lines_out_and_remove_restores_them_byte_for_byte(
    tmp_path: Path, eol: str, final_newline: bool
) -> None:
    path = tmp_path / "hosts"
    original = HAND_WRITTEN.replace("\n", eol).encode()
    if not final_newline:
        original = original.removesuffix(eol.encode())
    path.write_bytes(original)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    assert hf.add("dev", [ENTRY], force=True) is True
    lines = path.read_bytes().decode().split(eol)
    assert lines[1] == "# devcluster dev disabled: 10.9.9.9 Forail.LAN   # old VM"
    assert lines[4] == "# devcluster dev disabled: fe80::1%lo0 api.forail.lan"
    assert hf.shadowing("dev", ENTRY.hostnames) == []
    assert [m.split(" too ", 1)[0] for m in hf.messages] == [
        f'commented out {path}:2: "10.9.9.9 Forail.LAN   # old VM": it mapped forail.lan',
        f'commented out {path}:5: "fe80::1%lo0 api.forail.lan": it mapped api.forail.lan',
    ]
    assert all("`devcluster hosts remove` puts it back" in m for m in hf.messages)

    hf.messages.clear()
    assert hf.add("dev", [ENTRY], force=True) is False, "a second forced add finds nothing left to do"
    assert hf.messages == []
    assert hf.remove("dev") is True
    assert path.read_bytes() == original


def test_force_says_which_other_names_the_commented_line_took_with_it(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_text("10.9.9.9 forail.lan git.corp.lan\n")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    hf.add("dev", [ENTRY], force=True)
    (message,) = hf.messages
    assert message.startswith(f'commented out {path}:1: "10.9.9.9 forail.lan git.corp.lan"')
    assert "it also mapped git.corp.lan" in message


def test_remove_restores_only_this_clusters_disabled_lines() -> None:
    text = "# devcluster dev disabled: 10.9.9.9 forail.lan\n# devcluster dev2 disabled: 10.9.9.8 forail.lan\n"
    expected = "10.9.9.9 forail.lan\n# devcluster dev2 disabled: 10.9.9.8 forail.lan\n"
    assert hosts.restore_disabled(text, "dev") == expected


def test_conflicts_name_their_fields_and_the_block_that_owns_them() -> None:
    text = hosts.with_block(HAND_WRITTEN, "other", [hosts.Entry("10.1.1.1", ("api.forail.lan",))])
    found = hosts.conflicts(text, "dev", ENTRY.hostnames)
    assert [(c.lineno, c.names, c.owner) for c in found] == [
        (2, ("forail.lan",), None), (5, ("api.forail.lan",), None), (8, ("api.forail.lan",), "other")]
    assert found[-1].line == "10.1.1.1\tapi.forail.lan"
