"""A hosts file without a final newline: the block still ends its line, so `echo ... >> /etc/hosts` later
appends a line of its own, and a marker someone glued text onto (an older devcluster left the block
without a final newline) is recovered with the user's entry kept. Real files throughout."""

from __future__ import annotations

from pathlib import Path

import pytest

from devcluster.local import hosts

ENTRY = hosts.Entry("192.168.56.32", ("forail.lan",))


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_a_line_appended_after_add_is_its_own_line_and_remove_keeps_it(tmp_path: Path, eol: str) -> None:
    path = tmp_path / "hosts"
    original = f"127.0.0.1 localhost{eol}::1 localhost".encode()
    path.write_bytes(original)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    assert hf.add("dev", [ENTRY]) is True
    assert path.read_bytes().endswith(f"# END devcluster dev{eol}".encode())
    with path.open("ab") as fh:  # echo "5.6.7.8 other.lan" >> /etc/hosts
        fh.write(b"5.6.7.8 other.lan\n")
    assert hf.show("dev") == [ENTRY]
    assert hf.add("dev", [hosts.Entry("10.0.0.5", ("forail.lan",))]) is True, "a later add is not refused"
    assert hf.remove("dev") is True
    assert path.read_bytes() == original + eol.encode() + b"5.6.7.8 other.lan\n"


def test_remove_right_after_add_still_gives_back_the_original_bytes(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    path.write_bytes(b"127.0.0.1 localhost")
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    hf.add("dev", [ENTRY])
    hf.add("dev", [hosts.Entry("10.0.0.5", ("forail.lan",))])
    assert hf.remove("dev") is True
    assert path.read_bytes() == b"127.0.0.1 localhost"


GLUED = (b"127.0.0.1 localhost\n# BEGIN devcluster dev\n192.168.56.32\tforail.lan\n"
         b"# END devcluster dev5.6.7.8 other.lan\n")


@pytest.mark.parametrize("command", ["add", "remove"])
def test_text_glued_onto_the_end_marker_is_recovered_as_the_users_line(tmp_path: Path, command: str) -> None:
    """What an older devcluster's block without a final newline plus `echo >>` left behind."""
    path = tmp_path / "hosts"
    path.write_bytes(GLUED)
    hf = hosts.HostsFile(path, tmp_path / "b", use_sudo=False)
    assert hf.show("dev") == [ENTRY]
    if command == "add":
        assert hf.add("dev", [ENTRY]) is True
        assert path.read_bytes() == (b"127.0.0.1 localhost\n# BEGIN devcluster dev\n192.168.56.32\tforail.lan\n"
                                     b"# END devcluster dev\n5.6.7.8 other.lan\n")
    else:
        assert hf.remove("dev") is True
        assert path.read_bytes() == b"127.0.0.1 localhost\n5.6.7.8 other.lan\n"


def test_a_longer_cluster_name_is_not_mistaken_for_glued_text(tmp_path: Path) -> None:
    """`# END devcluster dev2` closes cluster dev2's block, not dev's with "2" glued on."""
    text = "# BEGIN devcluster dev2\n1.2.3.4\ta.lan\n# END devcluster dev2\n"
    assert hosts.read_block(text, "dev") == []
    assert hosts.with_block(text, "dev", [ENTRY]) == text + hosts.render_block("dev", [ENTRY])
