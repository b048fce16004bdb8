"""Lines elsewhere in a hosts file that map our names too, and so defeat the block.

Resolvers take the first match in the file (getaddrinfo may return all), so such a line silently wins
over the block: a stale hand-written entry, or another cluster's block for the same name. Pure functions
of the text; ``HostsFile`` reports them and, with ``--force``, comments out the hand-written ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devcluster.config import is_ip_address
from devcluster.local.hosts.block import block_pattern

_ANY_BLOCK = block_pattern()


@dataclass(frozen=True)
class Conflict:
    """A line that maps one of our names outside our block."""

    lineno: int  # 1-based
    line: str  # without its line ending
    names: tuple[str, ...]  # which of our names it maps
    owner: str | None  # the cluster whose devcluster block holds it; None for a hand-written line


def _block_owners(text: str) -> dict[int, str]:
    """0-based line index -> cluster, for every line inside any devcluster block."""
    owners: dict[int, str] = {}
    for m in _ANY_BLOCK.finditer(text):
        first = text.count("\n", 0, m.start())
        count = m.group(0).count("\n") + (0 if m.group(0).endswith("\n") else 1)
        for i in range(first, first + count):
            owners[i] = m.group("name")
    return owners


def mapped_names(line: str) -> list[str]:
    """The names a hosts line maps, lower-cased; [] for comments and lines resolvers skip."""
    fields = line.split("#", 1)[0].split()
    if len(fields) < 2 or not is_ip_address(fields[0].split("%", 1)[0]):
        return []
    return [f.lower() for f in fields[1:]]


def conflicts(text: str, cluster: str, hostnames: Iterable[str]) -> list[Conflict]:
    """Every line outside this cluster's block that maps one of ``hostnames``, in file order."""
    wanted = {h.lower() for h in hostnames}
    owners = _block_owners(text)
    found = []
    for i, raw in enumerate(text.split("\n")):
        owner = owners.get(i)
        if owner == cluster:
            continue
        names = [n for n in mapped_names(raw) if n in wanted]
        if names:
            found.append(Conflict(i + 1, raw.removesuffix("\r"), tuple(dict.fromkeys(names)), owner))
    return found


def shadowing_lines(text: str, cluster: str, hostnames: Iterable[str]) -> list[tuple[int, str]]:
    """(1-based line number, line) of each conflict: what doctor lists."""
    return [(c.lineno, c.line) for c in conflicts(text, cluster, hostnames)]


def conflict_message(path: object, conflict: Conflict, force: bool, before_block: bool) -> str:
    """What the user is told about one conflict after ``add`` (``force``: hand-written lines were commented out)."""
    where = f'{path}:{conflict.lineno}: "{conflict.line}"'
    name = ", ".join(conflict.names)
    if conflict.owner is None and force:
        others = [n for n in mapped_names(conflict.line) if n not in conflict.names]
        also = f"; it also mapped {', '.join(others)}, which this file no longer resolves" if others else ""
        return (f"commented out {where}: it mapped {name} too and would have won over devcluster's block"
                f"{also}; `devcluster hosts remove` puts it back")
    wins = ("comes first, so it wins over devcluster's block" if before_block else
            "comes after devcluster's block, but resolvers that return every match may still answer with it")
    if conflict.owner is not None:
        return (f"warning: {where} maps {name} too and {wins}; it is in devcluster's block for cluster "
                f"{conflict.owner}: remove that cluster's block (devcluster hosts remove with its config)")
    return (f"warning: {where} maps {name} too and {wins}; remove that line, or re-run with --force to "
            "comment it out (reversibly)")
