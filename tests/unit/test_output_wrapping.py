"""Output is not hard-wrapped when it is not a terminal (pipes, CI logs), and commands to copy are one line
on a terminal too. Real runs of `python -m devcluster`: piped, and under a real pseudo-terminal 80 columns
wide. The failing step is the existing provider's target check against a closed loopback port."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from tests.unit.test_cli_errors import closed_port_kubeconfig

LONG = "kubeconfig-with-a-rather-long-name-so-that-the-resume-command-is-wider-than-eighty-columns.yaml"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return {**env, "DEVCLUSTER_STATE_DIR": str(tmp_path / "state"), "TERM": "xterm"}


RESUME = f"then resume with: devcluster up --kubeconfig {LONG} --skip-stack --from target"


def test_piped_errors_hints_and_warnings_are_not_wrapped(tmp_path: Path) -> None:
    closed_port_kubeconfig(tmp_path / LONG)
    (tmp_path / "devcluster.yaml").write_text("hostname: forail.local\n")  # a long warning line
    proc = subprocess.run([sys.executable, "-m", "devcluster", "up", "--kubeconfig", LONG, "--skip-stack"],
                          capture_output=True, text=True, cwd=tmp_path, env=_env(tmp_path), timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert any(line.endswith(RESUME) for line in lines), proc.stderr
    assert any(line.startswith("error: step 'target' failed") and line.endswith("Connection refused)")
               for line in lines), "the error is one line, however long"
    assert any(line.startswith("warning: forail.local ends in .local") and line.endswith("(the default forail.lan).")
               for line in lines), proc.stderr


def test_on_an_80_column_terminal_the_resume_command_is_still_one_line(tmp_path: Path) -> None:
    closed_port_kubeconfig(tmp_path / LONG)
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal
        os.chdir(tmp_path)
        os.execve(sys.executable, [sys.executable, "-m", "devcluster", "up", "--kubeconfig", LONG, "--skip-stack"],
                  _env(tmp_path))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")  # colours; the tty's CR LF
    assert RESUME in plain, text
