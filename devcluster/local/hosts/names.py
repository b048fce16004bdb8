"""What goes into a hosts entry, and what this machine's resolver makes of a name.

Validation refuses what a hosts file cannot hold (a swapped IP and name, an invalid label); the diagnostics
say what would still defeat a valid entry: a .local name answered by mDNS, and what the resolver really
answers (for doctor to compare with the block).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

from devcluster.config import is_ip_address, local_name_warning, valid_hostname
from devcluster.errors import ConfigError

NSSWITCH = Path("/etc/nsswitch.conf")


@dataclass(frozen=True)
class Entry:
    ip: str
    hostnames: tuple[str, ...]


def validate_entry(ip: str, hostnames: list[str] | tuple[str, ...]) -> Entry:
    if not is_ip_address(ip):
        raise ConfigError(f"{ip!r} is not a valid IP address")
    if not hostnames:
        raise ConfigError("at least one hostname is required")
    for name in hostnames:
        # Checked before the label rule: "10.0.0.1" is made of valid labels, and the
        # generic "not a valid hostname" would hide that the two were swapped.
        if is_ip_address(name.strip("[]")):
            raise ConfigError(f"{name!r} is an IP address, not a hostname",
                              "give the address with --ip and a name such as forail.lan as the hostname")
        if not valid_hostname(name):
            raise ConfigError(f"{name!r} is not a valid hostname")
    return Entry(ip, tuple(h.lower() for h in hostnames))


def hostname_warnings(hostname: str, nsswitch: Path = NSSWITCH) -> list[str]:
    """Risks of a valid name, said on every machine (config.local_name_warning); when this machine has
    the mDNS trap too, the warning says so."""
    warning = local_name_warning(hostname)
    if warning is None:
        return []
    if mdns_hijacks(hostname, nsswitch):
        warning += (f" This machine has the trap too: {nsswitch} consults mdns_minimal [NOTFOUND=return] "
                    "before files.")
    return [warning]


def mdns_hijacks(hostname: str, nsswitch: Path = NSSWITCH) -> bool:
    """True when .local lookups for ``hostname`` are answered by mDNS before /etc/hosts is read."""
    if not hostname.lower().endswith(".local"):
        return False
    try:
        text = nsswitch.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("hosts:"):
            continue
        words = line[len("hosts:") :].split()
        for i, word in enumerate(words):
            if word == "files":
                return False
            if re.fullmatch(r"mdns[46]?_minimal", word) and words[i + 1 : i + 2] == ["[NOTFOUND=return]"]:
                return True
        return False
    return False


def resolve(hostname: str) -> list[str]:
    """What the system resolver really answers (hosts file, mDNS, DNS...), for doctor to compare with the block."""
    try:
        infos = socket.getaddrinfo(hostname, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
