"""Running commands on cluster nodes over SSH with paramiko.

Used to mint join credentials on cp1 and hand them to the other nodes on
stdin (they never touch a command line or a file on the host), and to read
the admin kubeconfig. Targets come from `vagrant ssh-config`, parsed with
paramiko's own ssh_config parser.
"""

from __future__ import annotations

import io
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import paramiko

from devcluster.errors import DevclusterError


@dataclass(frozen=True)
class SshTarget:
    alias: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]


@dataclass(frozen=True)
class SshResult:
    exit_status: int
    stdout: str
    stderr: str


def parse_ssh_config(text: str) -> dict[str, SshTarget]:
    """Every Host block of an ssh_config text (as `vagrant ssh-config` prints it)."""
    cfg = paramiko.SSHConfig()
    cfg.parse(io.StringIO(text))
    targets = {}
    for alias in sorted(h for h in cfg.get_hostnames() if h != "*"):
        entry = cfg.lookup(alias)
        targets[alias] = SshTarget(
            alias, entry.get("hostname", alias), int(entry.get("port", 22)), entry.get("user", "root"),
            tuple(entry.get("identityfile", [])),
        )
    return targets


class SshSession:
    """One connection; host keys of throw-away VMs are not pinned (they change on every `up`)."""

    def __init__(self, target: SshTarget, timeout: float = 30) -> None:
        self.target = target
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # throw-away VMs: keys change
        try:
            self.client.connect(
                target.hostname, port=target.port, username=target.user,
                key_filename=list(target.key_files) or None, timeout=timeout, banner_timeout=timeout,
                auth_timeout=timeout, allow_agent=False, look_for_keys=not target.key_files,
            )
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise DevclusterError(
                f"cannot SSH to {target.alias} ({target.user}@{target.hostname}:{target.port}): {exc}",
                "is the VM running? `vagrant status` / `devcluster status`",
            ) from exc

    def _line(self, command: list[str], sudo: bool) -> str:
        line = shlex.join(command)
        return "sudo -n " + line if sudo and self.target.user != "root" else line

    def _exec(self, line: str, feed: Callable[[Any], None], timeout: float, check: bool) -> SshResult:
        """Run ``line``, let ``feed`` write its stdin, collect the output and the exit status."""
        stdin, out_ch, err_ch = self.client.exec_command(line, timeout=timeout)
        feed(stdin)
        stdin.channel.shutdown_write()
        out = out_ch.read().decode(errors="replace")
        err = err_ch.read().decode(errors="replace")
        status = out_ch.channel.recv_exit_status()
        if check and status != 0:
            tail = "\n    ".join((err or out).strip().splitlines()[-15:])
            detail = f"\n    {tail}" if tail else ""
            raise DevclusterError(f"on {self.target.alias}: `{line}` exited {status}{detail}")
        return SshResult(status, out, err)

    def run(self, command: list[str], stdin_data: str | None = None, timeout: float = 600,
            check: bool = True, sudo: bool = False) -> SshResult:
        def feed(stdin: Any) -> None:
            if stdin_data is not None:
                stdin.write(stdin_data)

        return self._exec(self._line(command, sudo), feed, timeout, check)

    def run_streaming(self, command: list[str], source: BinaryIO, sudo: bool = False, timeout: float = 1800,
                      chunk: int = 1 << 20) -> SshResult:
        """Run ``command`` with ``source``'s bytes as its stdin, copied in chunks (an image tarball can be
        gigabytes: it is never held in memory or written to a file on either side)."""
        def feed(stdin: Any) -> None:
            while data := source.read(chunk):
                stdin.write(data)

        return self._exec(self._line(command, sudo), feed, timeout, check=True)

    def put(self, local: Path, remote: str, mode: int = 0o700) -> None:
        """Copy a file to the node over SFTP (the k3s binary: ~70 MB), readable by root only by default."""
        sftp = self.client.open_sftp()
        try:
            sftp.put(str(local), remote)
            sftp.chmod(remote, mode)
        finally:
            sftp.close()

    def run_script(self, script: Path, args: list[str], env: dict[str, str], stdin_data: str | None = None,
                   sudo: bool = True, timeout: float = 900) -> SshResult:
        """Upload a local script (0700, removed afterwards) and run it with ``env`` and ``stdin_data``."""
        remote = f"/tmp/devcluster-{os.getpid()}-{script.name}"
        sftp = self.client.open_sftp()
        try:
            with sftp.open(remote, "w") as fh:
                fh.write(script.read_text())
            sftp.chmod(remote, 0o700)
        finally:
            sftp.close()
        assignments = [f"{k}={v}" for k, v in env.items()]
        try:
            return self.run(["env", *assignments, "bash", remote, *args], stdin_data=stdin_data, sudo=sudo,
                            timeout=timeout)
        finally:
            self.run(["rm", "-f", remote], check=False, sudo=sudo)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
