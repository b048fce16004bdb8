"""The small modules everything else stands on: runner, fetch, tls, waiting, Corefile and StorageClass rules."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from devcluster.clients import fetch, runner
from devcluster.clients.readiness import default_class_patches
from devcluster.engine.waiting import wait_for
from devcluster.errors import CommandError, DevclusterError
from devcluster.local import tls
from devcluster.stages.prerequisites import corefile_with_rewrite, dockerconfigjson, traefik_values

PY = sys.executable


# ----------------------------------------------------------------- runner


def test_runner_captures_output_and_passes_stdin() -> None:
    res = runner.run([PY, "-c", "import sys; print(sys.stdin.read().upper())"], input_text="secret")
    assert res.ok and res.stdout == "SECRET\n"


def test_runner_failure_names_the_command_and_keeps_the_tail_of_stderr() -> None:
    with pytest.raises(CommandError) as err:
        runner.run([PY, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(4)"], hint="try again")
    assert err.value.returncode == 4 and "command failed (exit 4)" in err.value.message
    assert "boom" in err.value.message and err.value.hint == "try again" and PY in err.value.message


def test_runner_timeout_kills_and_says_so() -> None:
    start = time.monotonic()
    with pytest.raises(CommandError, match="command timed out"):
        runner.run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert time.monotonic() - start < 10


def test_runner_echo_streams_lines_and_still_captures() -> None:
    seen: list[str] = []
    res = runner.run([PY, "-c", "import sys; print('a'); sys.stderr.write('b\\n'); print('c')"], echo=seen.append)
    assert sorted(seen) == ["a", "b", "c"] and sorted(res.stdout.split()) == ["a", "b", "c"]
    with pytest.raises(CommandError, match="timed out"):
        runner.run([PY, "-c", "import time; print('x', flush=True); time.sleep(30)"], timeout=0.5, echo=seen.append)


def test_runner_missing_executable() -> None:
    with pytest.raises(DevclusterError, match="`no-such-tool-xyz` was not found"):
        runner.run(["no-such-tool-xyz"])


# ----------------------------------------------------------------- fetch


def test_fetch_local_file_checks_the_pin(tmp_path: Path) -> None:
    f = tmp_path / "m.yaml"
    f.write_text("kind: Namespace\napiVersion: v1\nmetadata: {name: x}\n---\n# empty\n")
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    assert fetch.fetch(str(f), tmp_path / "cache", digest) == f.read_bytes()
    assert fetch.fetch(f"file://{f}", tmp_path / "cache") == f.read_bytes()
    assert [d["kind"] for d in fetch.load_manifest(f.read_bytes())] == ["Namespace"]
    with pytest.raises(DevclusterError, match="does not match the pinned"):
        fetch.fetch(str(f), tmp_path / "cache", "0" * 64)
    with pytest.raises(DevclusterError, match="does not exist"):
        fetch.fetch(str(tmp_path / "missing.yaml"), tmp_path / "cache")


def test_fetch_uses_the_cache_for_urls(tmp_path: Path) -> None:
    """A cached URL is served from the state dir: no network (the URL is never contacted here)."""
    url = "https://example.invalid/pinned/manifest.yaml"
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / hashlib.sha256(url.encode()).hexdigest()).write_bytes(b"kind: List\n")
    assert fetch.fetch(url, cache) == b"kind: List\n"


# ----------------------------------------------------------------- tls


def test_tls_pair_is_reused_and_remade_for_another_hostname(tmp_path: Path) -> None:
    first = tls.load_or_create(tmp_path, "forail.lan")
    assert sorted(tls.cert_sans(first.cert_pem)) == ["*.forail.lan", "forail.lan"]
    assert (tmp_path / "tls.key").stat().st_mode & 0o777 == 0o600
    assert tls.load_or_create(tmp_path, "forail.lan") == first
    other = tls.load_or_create(tmp_path, "other.lan")
    assert other != first and "other.lan" in tls.cert_sans(other.cert_pem)


def test_tls_cert_problem_reads_the_pem_once_and_names_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    """One parse of the certificate serves the expiry and the names (a spy on the real parser, no timing):
    cert_problem used to parse the PEM again for each look at its names."""
    from cryptography import x509

    pair = tls.generate("forail.lan")
    parsed: list[bytes] = []
    real = x509.load_pem_x509_certificate
    monkeypatch.setattr(x509, "load_pem_x509_certificate", lambda pem: parsed.append(pem) or real(pem))
    assert tls.cert_problem(pair.cert_pem, "forail.lan") is None
    assert tls.cert_problem(pair.cert_pem, "other.lan") == \
        "issued for forail.lan, *.forail.lan, not other.lan, *.other.lan"
    assert len(parsed) == 2, f"{len(parsed)} parses for two checks"
    assert tls.cert_problem(b"junk", "forail.lan") == "not a PEM certificate"


# ----------------------------------------------------------------- waiting


def test_wait_for_times_out_with_the_last_status() -> None:
    now = [0.0]
    probes = iter([(False, "0/3 Ready"), (False, "2/3 Ready"), (False, "2/3 Ready")])
    with pytest.raises(DevclusterError, match=r"timed out after 4s waiting for nodes; last status: 2/3 Ready"):
        wait_for("nodes", lambda: next(probes), timeout=4, console=Console(quiet=True), interval=2,
                 clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))


def test_wait_for_survives_api_blips() -> None:
    calls = iter([ConnectionRefusedError("connection refused"), (True, "ready")])

    def probe() -> tuple[bool, str]:
        item = next(calls)
        if isinstance(item, Exception):
            raise item
        return item

    assert wait_for("x", probe, timeout=10, console=Console(quiet=True), sleep=lambda s: None) == "ready"


# ----------------------------------------------------------------- pure cluster rules


def test_corefile_rewrite_is_added_once_and_updated_in_place() -> None:
    corefile = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"
    once = corefile_with_rewrite(corefile, "forail.lan", "traefik.traefik.svc.cluster.local")
    assert once == (".:53 {\n    rewrite name exact forail.lan traefik.traefik.svc.cluster.local\n    errors\n"
                    "    forward . /etc/resolv.conf\n}\n")
    assert corefile_with_rewrite(once, "forail.lan", "traefik.traefik.svc.cluster.local") == once
    moved = corefile_with_rewrite(once, "forail.lan", "ingress.other.svc.cluster.local")
    assert moved.count("rewrite name exact forail.lan") == 1 and "ingress.other" in moved
    with pytest.raises(DevclusterError, match=r"no `\.:53"):
        corefile_with_rewrite("example.org:53 {\n}\n", "forail.lan", "x")


def test_default_class_patches_cover_both_annotations() -> None:
    classes = {
        "standard": {"storageclass.kubernetes.io/is-default-class": "true"},
        "legacy": {"storageclass.beta.kubernetes.io/is-default-class": "true"},
        "local-path": {},
        "other": {},
    }
    patches = default_class_patches(classes, "local-path")
    assert patches == {
        "standard": {"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "false"}}},
        "legacy": {"metadata": {"annotations": {"storageclass.beta.kubernetes.io/is-default-class": "false"}}},
        "local-path": {"metadata": {"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}},
    }
    settled = {"standard": {"storageclass.kubernetes.io/is-default-class": "false"},
               "local-path": {"storageclass.kubernetes.io/is-default-class": "true"}}
    assert default_class_patches(settled, "local-path") == {}


def test_dockerconfigjson_payload() -> None:
    import base64
    import json

    data = dockerconfigjson("registry.example:5000", "bot", "pw", "bot@example.org")
    payload = json.loads(base64.b64decode(data[".dockerconfigjson"]))
    entry = payload["auths"]["registry.example:5000"]
    assert base64.b64decode(entry["auth"]).decode() == "bot:pw" and entry["email"] == "bot@example.org"


def test_traefik_values_follow_the_configured_ports() -> None:
    from devcluster import config

    cfg = config.load(None, {"node_ports.http": 31080, "node_ports.https": 31443})
    values = traefik_values(cfg)
    assert values["ports"]["web"]["nodePort"] == 31080 and values["ports"]["websecure"]["nodePort"] == 31443


def test_runner_tool_behind_an_unreadable_path_entry_is_not_runnable_not_a_traceback(tmp_path: Path,
                                                                                    monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """As a normal user, PATH may hold a directory only root can read (e.g. root's pyenv): Python then raises
    PermissionError, not FileNotFoundError, for a missing tool."""
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every directory; the failure only shows for a normal user")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    monkeypatch.setenv("PATH", f"{locked}{os.pathsep}/usr/bin:/bin")
    with pytest.raises(DevclusterError, match="`no-such-tool-xyz` was not found"):
        runner.run(["no-such-tool-xyz"])
