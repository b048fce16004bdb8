"""A managed, reversible block in /etc/hosts, one module per job.

devcluster owns only the lines between ``# BEGIN devcluster <cluster>`` and
``# END devcluster <cluster>``: everything else in the file survives byte for
byte, so ``add`` then ``remove`` gives back the original file exactly (its line
endings, a missing final newline, bytes that are not UTF-8). Writes are atomic
(temp file + rename in the directory of the real file, so a symlinked
/etc/hosts stays a symlink; mode and owner kept) with a backup, serialised by a
lock on that directory so concurrent runs cannot interleave, and fall back to
sudo only when the file is not writable by us.

- names.py: what an entry may hold (validation) and what the resolver makes of a name (.local, getaddrinfo);
- block.py: the block's text (find, render, add, remove; comment lines out and back);
- shadowing.py: lines elsewhere that map our names too (``Conflict``) and what to say about them;
- lock.py: one run at a time edits the file (a flock on its directory, local/flock.py's loop);
- write.py: backup, atomic replace, in-place rewrite, sudo (through clients/runner.py);
- file.py: ``HostsFile``, which puts those in order for one file.

The names below are the package's public face; callers import from here.
"""

from devcluster.local.hosts.block import (
    begin_marker,
    disable_lines,
    disabled_prefix,
    end_marker,
    line_ending,
    read_block,
    render_block,
    restore_disabled,
    with_block,
    without_block,
)
from devcluster.local.hosts.file import HostsFile, hosts_file_for
from devcluster.local.hosts.names import Entry, hostname_warnings, mdns_hijacks, resolve, validate_entry
from devcluster.local.hosts.shadowing import Conflict, conflicts, shadowing_lines

__all__ = [
    "Conflict",
    "Entry",
    "HostsFile",
    "begin_marker",
    "conflicts",
    "disable_lines",
    "disabled_prefix",
    "end_marker",
    "hostname_warnings",
    "hosts_file_for",
    "line_ending",
    "mdns_hijacks",
    "read_block",
    "render_block",
    "resolve",
    "restore_disabled",
    "shadowing_lines",
    "validate_entry",
    "with_block",
    "without_block",
]
