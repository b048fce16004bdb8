"""Bad input is refused up front: exit 2, one clear line naming the dotted key (or the file), no traceback,
nothing written. Commands run through `python -m devcluster` as users run them; each refusal happens while
the config is read, before any tool runs (none is on PATH that could be reached)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.test_cli_errors import devcluster

RELEASE = "stack:\n  releases:\n    - name: {name}\n      chart: {chart}\n{extra}"


def refused(tmp_path: Path, text: str | bytes, *needles: str, command: tuple[str, ...] = ("up",)) -> str:
    cfg = tmp_path / "devcluster.yaml"
    if isinstance(text, bytes):
        cfg.write_bytes(text)
    else:
        cfg.write_text(text)
    proc = devcluster(*command, "--config", str(cfg), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert not (tmp_path / "state").exists(), "nothing may be written"
    return proc.stderr


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    path = tmp_path / "chart"
    path.mkdir()
    (path / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    return path


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    refused(tmp_path, b"name: x\nhostname: caf\xe9.lan\n", "not UTF-8 text (byte 0xe9 on line 2)")


def test_a_missing_values_file_is_named_by_its_key(tmp_path: Path, chart: Path) -> None:
    refused(tmp_path, RELEASE.format(name="demo", chart=chart, extra="      values_files: [nope.yaml]\n"),
            "stack.releases[0].values_files[0]: nope.yaml does not exist")


def test_a_missing_local_chart_is_named_by_its_key(tmp_path: Path) -> None:
    refused(tmp_path, RELEASE.format(name="demo", chart="./charts/demo", extra=""),
            "stack.releases[0].chart: ./charts/demo does not exist")
    (tmp_path / "empty").mkdir()
    refused(tmp_path, RELEASE.format(name="demo", chart="./empty", extra=""),
            "stack.releases[0].chart: ./empty is not a chart directory")


@pytest.mark.parametrize("name", ["Demo", "demo_1", "-demo", "demo-", "a" * 54])
def test_an_invalid_helm_release_name_is_refused(tmp_path: Path, chart: Path, name: str) -> None:
    refused(tmp_path, RELEASE.format(name=name, chart=chart, extra=""),
            f"stack.releases[0].name: {name!r} is not a valid helm release name")


def test_valid_release_names_pass(tmp_path: Path, chart: Path) -> None:
    for name in ("a", "demo.v2", "a" * 53):
        (tmp_path / "devcluster.yaml").write_text(RELEASE.format(name=name, chart=chart, extra=""))
        proc = devcluster("config", "--config", str(tmp_path / "devcluster.yaml"), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("text,key", [
    ("timeouts:\n  helm: 0\n", "timeouts.helm: 0 is not a timeout"),
    ("timeouts:\n  rollout: -5\n", "timeouts.rollout: -5 is not a timeout"),
    ("kind:\n  create_timeout: 0\n", "kind.create_timeout: 0"),
    ("stack:\n  verify_timeout: -1\n", "stack.verify_timeout: -1"),
    ("stack:\n  releases:\n    - {name: demo, chart: 'oci://r.invalid/c', timeout: 0}\n",
     "stack.releases[0].timeout: 0"),
])
def test_zero_or_negative_timeouts_are_refused(tmp_path: Path, text: str, key: str) -> None:
    refused(tmp_path, text, key)


def test_a_hosts_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    refused(tmp_path, f"hosts:\n  file: {tmp_path / 'etc'}\n", f"hosts.file: {tmp_path / 'etc'} is a directory")


def test_duplicate_keys_are_refused_with_the_key_and_line(tmp_path: Path) -> None:
    refused(tmp_path, "name: a\nkind:\n  workers: 1\n  listen_address: 127.0.0.1\n  workers: 3\n",
            "kind.workers: duplicate key at", "devcluster.yaml:5 (first at line 3)")
    refused(tmp_path, "stack:\n  releases:\n    - name: a\n      name: b\n", "stack.releases[0].name: duplicate key")


def test_listen_address_all_interfaces_warns(tmp_path: Path) -> None:
    (tmp_path / "devcluster.yaml").write_text("kind:\n  listen_address: 0.0.0.0\n")
    proc = devcluster("config", "--config", str(tmp_path / "devcluster.yaml"), cwd=tmp_path)
    assert proc.returncode == 0
    assert "warning: kind.listen_address 0.0.0.0 exposes the NodePorts 30080/30443 to the network" in proc.stderr
    (tmp_path / "devcluster.yaml").write_text("kind:\n  listen_address: 127.0.0.1\n")
    assert "warning" not in devcluster("config", cwd=tmp_path).stderr


@pytest.mark.parametrize("kind", ["devnull", "fifo"])
def test_a_config_that_is_not_a_regular_file_says_so(tmp_path: Path, kind: str) -> None:
    if kind == "devnull":
        path = Path(os.devnull)
    else:
        path = tmp_path / "fifo"
        os.mkfifo(path)
    proc = devcluster("up", "--config", str(path), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"config file {path} is not a regular file" in proc.stderr
    assert "does not exist" not in proc.stderr
