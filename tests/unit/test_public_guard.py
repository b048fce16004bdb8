"""A non-local API server is refused before any connection, in every command that connects.

The proof is a connection-recording stub, not a connection: socket connects, name lookups and new processes
(helm, the e2e suite's pytest) are recorded and refused in this process, and the kubeconfig's server is a
documentation address (203.0.113.10, TEST-NET-3) that nothing here ever reaches. The CLI runs in-process.
"""

from __future__ import annotations

import http.server
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devcluster.cli import main

PUBLIC = "https://203.0.113.10:6443"


def kubeconfig(path: Path, server: str, context: str = "prod") -> Path:
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: " + context + "\n"
                    f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
                    f"contexts: [{{name: {context}, context: {{cluster: c, user: u}}}}]\n"
                    "users: [{name: u, user: {token: t}}]\n")
    return path


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection, lookup or process the command tries; each is refused."""
    seen: list[str] = []

    def connect(_sock: socket.socket, address: Any) -> None:
        seen.append(f"connect {address}")
        raise ConnectionRefusedError("refused by the test's stub")

    def create_connection(address: Any, *_a: Any, **_k: Any) -> None:
        seen.append(f"create_connection {address}")
        raise ConnectionRefusedError("refused by the test's stub")

    def getaddrinfo(host: Any, *_a: Any, **_k: Any) -> None:
        seen.append(f"getaddrinfo {host}")
        raise socket.gaierror("refused by the test's stub")

    def popen(*args: Any, **_k: Any) -> None:
        seen.append(f"process {args[1] if len(args) > 1 else args}")
        raise OSError("refused by the test's stub")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    return seen


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["devcluster", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["status"], ["status", "-o", "json"], ["logs", "--collect", "."], ["e2e"], ["e2e", "--junitxml", "e2e.xml"],
    ["stack", "status"], ["stack", "uninstall"], ["stack", "install"], ["up", "--skip-stack"], ["check", "nodes"],
])
def test_every_connecting_command_refuses_a_public_server_before_any_connection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], attempts: list[str],
        command: list[str]) -> None:
    kc = kubeconfig(tmp_path / "kc", PUBLIC)
    provider = ["--provider", "existing"] if command[0] == "check" else ["--kubeconfig", str(kc)]
    if command[0] == "check":
        (tmp_path / "devcluster.yaml").write_text(f"existing:\n  kubeconfig: {kc}\n")
    code, err = run(monkeypatch, capsys, *command, *provider)
    assert code == 1, err
    assert f"context 'prod' points at {PUBLIC}, which is not a local or private address" in err
    assert "--yes" in err
    assert attempts == [], "nothing may be contacted or started before the refusal"
    assert not (tmp_path / "e2e.xml").exists() and not list(tmp_path.glob("devcluster-logs*"))


def test_with_yes_status_goes_on_to_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], attempts: list[str]) -> None:
    """--yes is the way through: the refusal above is the guard, not a broken command (the stub refuses)."""
    kc = kubeconfig(tmp_path / "kc", PUBLIC)
    code, err = run(monkeypatch, capsys, "status", "--kubeconfig", str(kc), "--yes")
    assert code == 1 and "is not reachable" in err
    assert attempts and all("203.0.113.10" in a for a in attempts)


@pytest.fixture
def not_kubernetes(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A web server on 127.0.0.1 that is not Kubernetes: 404 for /version."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>not found</html>")

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_web_server_that_is_not_kubernetes_is_not_reachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               not_kubernetes: str) -> None:
    kc = kubeconfig(tmp_path / "kc", not_kubernetes, context="kind-x")
    code, err = run(monkeypatch, capsys, "status", "--kubeconfig", str(kc))
    assert code == 1
    assert f"{not_kubernetes} answers, but not as a Kubernetes API server (no gitVersion at /version)" in err


def test_a_missing_context_names_the_context_the_file_and_the_ones_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    kc = kubeconfig(tmp_path / "kc", "http://127.0.0.1:9", context="kind-x")
    code, err = run(monkeypatch, capsys, "status", "--kubeconfig", str(kc), "--context", "kind-y")
    assert code == 1
    assert f"context 'kind-y' is not in {kc}" in err and "available contexts: kind-x" in err
    assert "Invalid kube-config" not in err
