"""The text of devcluster's block in a hosts file: find it, render it, put it in, take it out.

Pure functions of the file's text. devcluster owns only the lines between ``# BEGIN devcluster <cluster>``
and ``# END devcluster <cluster>``: everything else survives byte for byte, so ``with_block`` then
``without_block`` gives back the original text exactly (its line endings, a missing final newline).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from devcluster.errors import DevclusterError
from devcluster.local.hosts.names import Entry


def begin_marker(cluster: str) -> str:
    return f"# BEGIN devcluster {cluster}"


def end_marker(cluster: str) -> str:
    return f"# END devcluster {cluster}"


def disabled_prefix(cluster: str) -> str:
    """Marks a user's line that ``add --force`` commented out, so ``remove`` can put it back exactly."""
    return f"# devcluster {cluster} disabled: "



def line_ending(text: str) -> str:
    """The line ending most lines of ``text`` use (the first line's on a tie), so our block matches the file."""
    crlf = text.count("\r\n")
    lf = text.count("\n") - crlf
    if crlf != lf:
        return "\r\n" if crlf > lf else "\n"
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _block_eol(block: str) -> str:
    return "\r\n" if block.split("\n", 1)[0].endswith("\r") else "\n"


# The BEGIN marker of a block appended to a file without a final newline says so: devcluster ended the user's
# last line to start the block, and ``without_block`` takes that line ending back.
NEWLINE_NOTE = " (devcluster ended the line above)"

# After an END marker: the end of its line, or text glued onto it (`echo ... >> /etc/hosts` on a file whose block
# had no final newline) that cannot be the rest of a longer cluster name: that text is the user's own line.
END_TAIL = r"(?:[ \t]*(?:\r?\n|\Z)|(?![a-z0-9-]*[ \t]*(?:\r?\n|\Z))(?=[^\r\n]))"


def _begin_line(name_re: str) -> str:
    """A BEGIN marker line up to its line ending, for the cluster name ``name_re`` matches."""
    return r"(?m)^" + re.escape(begin_marker("")) + name_re + r"(?:" + re.escape(NEWLINE_NOTE) + r")?[ \t]*"


def block_pattern(cluster: str | None = None) -> re.Pattern[str]:
    """The one definition of a whole block, markers included: this cluster's, or (None) any cluster's, whose
    name is group ``name`` (shadowing.py tells other clusters' blocks from hand-written lines with it)."""
    name = r"(?P<name>\S+)" if cluster is None else r"(?P<name>" + re.escape(cluster) + r")"
    return re.compile(_begin_line(name) + r"\r?\n(?:.*\r?\n)*?" + re.escape(end_marker("")) + r"(?P=name)" + END_TAIL)


def split(text: str, cluster: str) -> tuple[str, str | None, str]:
    """Return (before, block, after); block includes both markers and the END marker's line ending.

    The block lacks a final line ending when text was glued onto its END marker (that text starts
    ``after``) or when an older devcluster wrote it at the end of a file without a final newline.
    """
    begin, end = begin_marker(cluster), end_marker(cluster)
    m = block_pattern(cluster).search(text)
    if not m:
        # \r? so that an unterminated block in a CRLF file is refused too, not duplicated.
        if re.search(_begin_line(re.escape(cluster)) + r"\r?$", text):
            raise DevclusterError(
                f"the hosts file has '{begin}' without a matching '{end}'",
                "fix the file by hand; devcluster will not guess where its block ends",
            )
        return text, None, ""
    return text[: m.start()], m.group(0), text[m.end() :]


def _ended_users_line(block: str, after: str) -> bool:
    """Whether devcluster added the line ending before this block (so removing it takes that ending back)."""
    if block.split("\n", 1)[0].rstrip("\r").rstrip(" \t").endswith(NEWLINE_NOTE):
        return after == ""
    return not block.endswith("\n") and after == ""  # written by an older devcluster: block ends the file


def render_block(cluster: str, entries: list[Entry], eol: str = "\n", ended_users_line: bool = False) -> str:
    lines = [begin_marker(cluster) + (NEWLINE_NOTE if ended_users_line else "")]
    lines += [f"{e.ip}\t{' '.join(e.hostnames)}" for e in entries]
    lines.append(end_marker(cluster))
    return eol.join(lines) + eol


def with_block(text: str, cluster: str, entries: list[Entry], eol: str | None = None) -> str:
    """``text`` with this cluster's block replaced (or appended); nothing else changes.

    An existing block keeps its place and its line ending; a new one takes the file's. The block always
    ends with a line ending, so a line appended later (`echo ... >> /etc/hosts`) is a line of its own;
    on a file without a final newline the BEGIN marker notes that devcluster ended the last line, so
    ``without_block`` can give back the original bytes.
    """
    before, block, after = split(text, cluster)
    if block is not None:
        eol = eol or _block_eol(block)
        return before + render_block(cluster, entries, eol, _ended_users_line(block, after)) + after
    eol = eol or line_ending(text)
    if text == "" or text.endswith("\n"):
        return text + render_block(cluster, entries, eol)
    return text + eol + render_block(cluster, entries, eol, ended_users_line=True)


def without_block(text: str, cluster: str) -> str:
    """``text`` without this cluster's block: the exact inverse of ``with_block`` appending it."""
    before, block, after = split(text, cluster)
    if block is None:
        return text
    if _ended_users_line(block, after):
        # Nothing follows the block: take back the line ending we gave the user's last line.
        eol = _block_eol(block)
        if before.endswith(eol):
            before = before[: -len(eol)]
        elif before.endswith("\n"):
            before = before[:-1]
    return before + after


def read_block(text: str, cluster: str) -> list[Entry]:
    _, block, _ = split(text, cluster)
    if block is None:
        return []
    entries = []
    for line in block.splitlines()[1:-1]:
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#"):
            entries.append(Entry(parts[0], tuple(parts[1:])))
    return entries



def disable_lines(text: str, cluster: str, linenos: Iterable[int]) -> str:
    """Comment out the given 1-based lines in place, marked so that ``restore_disabled`` undoes it exactly."""
    lines = text.split("\n")
    for n in set(linenos):
        lines[n - 1] = disabled_prefix(cluster) + lines[n - 1]
    return "\n".join(lines)


def restore_disabled(text: str, cluster: str) -> str:
    """Undo ``disable_lines`` for this cluster, byte for byte (line endings were never touched)."""
    prefix = disabled_prefix(cluster)
    if prefix not in text:
        return text
    return "\n".join(line.removeprefix(prefix) for line in text.split("\n"))

