"""Features that once could be removed without any test noticing (issue 16): each test here fails when
the feature it names is taken out.

- an edited values file upgrades its release (the file's content is part of the release digest): the
  real `up` against tests/fakeapi.py, helm being the fake that renders with the real helm;
- `verify` counts only the operator's CRD group: `crds_in_group` against tests/fakeapi.py;
- `down` holds the cluster's lock: two real processes (this test holds the lock; `devcluster down` runs
  as a child with a recording fake `kind`, since Docker cannot run here);
- the TLS certificate: an expired or expiring one, stored or in the cluster, is reissued, and the
  tls-secret check takes only a certificate with SANs for the hostname and *.hostname;
- `runner.stream_stdout` keeps its timeout against a silent process and a consumer that stops reading
  (real processes: `sleep`, `yes`).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from rich.console import Console

import tests.unit.test_stack as stack_tests
from devcluster import config
from devcluster.clients import runner
from devcluster.engine.steps import Context
from devcluster.errors import CommandError
from devcluster.local import hosts, tls
from devcluster.local.clusterlock import cluster_lock
from devcluster.local.state import State
from devcluster.providers.existing import ExistingProvider
from devcluster.stages.verify import crds_in_group
from tests.fakeapi import FakeApiServer
from tests.unit.test_prereqs_api import kind_like_cluster, up

stack_env = stack_tests.stack_env  # the stack install flow's fixture: fakeapi, helm fake over the real helm

# ----------------------------------------------------------------- values files in the release digest


def test_an_edited_values_file_upgrades_its_release_on_the_next_up(stack_env, fake_tools, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Same path, new content: the second `up` must run `helm upgrade` for that release (and only it),
    and the release must then carry the file's new values."""
    kubeconfig, cfg = stack_env
    monkeypatch.setenv("DEVCLUSTER_FORAIL_TOKEN", "env-token-0123456789abcdef")
    values_file = cfg.parent / "mine.yaml"
    values_file.write_text("images:\n  backend:\n    tag: first\n")
    data = yaml.safe_load(cfg.read_text())
    data["stack"]["releases"][0]["values_files"] = [str(values_file)]
    cfg.write_text(yaml.safe_dump(data))

    def forail_upgrades() -> int:
        return sum(1 for c in fake_tools.calls("helm") if "upgrade" in c["argv"] and "forail" in c["argv"]
                   and c["argv"][c["argv"].index("--install") + 1] == "forail")

    first = stack_tests.cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert first.exit_code == 0, first.output + repr(first.exception)
    assert forail_upgrades() == 1
    values_file.write_text("images:\n  backend:\n    tag: second\n")
    second = stack_tests.cli("up", "--config", str(cfg), "--kubeconfig", str(kubeconfig))
    assert second.exit_code == 0, second.output + repr(second.exception)
    assert forail_upgrades() == 2, "an edited values file must upgrade the release"
    helm_state = json.loads((kubeconfig.parent / "helm-state.json").read_text())
    assert helm_state["forail/forail"]["values"]["images"]["backend"]["tag"] == "second"


# ----------------------------------------------------------------- verify: the operator's CRD group only


def crd(group: str, kind: str) -> dict[str, Any]:
    plural = kind.lower() + "s"
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
                     "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_crds_in_group_counts_only_the_operators_group(tmp_path: Path, fake_api: FakeApiServer) -> None:
    """Another operator's CRDs with the same kinds (a fork, an older group) must not count as installed."""
    group = config.load(None).stack.crd_group
    for kind in ("Inventory", "Credential"):
        fake_api.put(crd(group, kind))
    for kind in config.OPERATOR_KINDS:
        fake_api.put(crd("forail.example.org", kind))
    fake_api.put(crd(f"sub.{group}", "Team"))
    kc = fake_api.write_kubeconfig(tmp_path / "kc")
    cfg = config.load(None, {"provider": "existing", "existing.kubeconfig": str(kc)})
    state = State(tmp_path / "st")
    ctx = Context(cfg, state, Console(quiet=True), ExistingProvider(cfg, state))
    found = crds_in_group(ctx, group)
    assert sorted((c["spec"]["group"], c["spec"]["names"]["kind"]) for c in found) == [
        (group, "Credential"), (group, "Inventory")]
    assert len(crds_in_group(ctx, "forail.example.org")) == len(config.OPERATOR_KINDS)
    assert crds_in_group(ctx, "nothing.example.com") == []


# ----------------------------------------------------------------- down holds the cluster's lock

FAKE_KIND = """
args = sys.argv[1:]
if args[:2] == ["get", "clusters"]:
    print("test")
"""


@pytest.fixture
def down_env(tmp_path: Path, fake_tools):  # type: ignore[no-untyped-def]
    """A config for kind cluster `test` whose hosts block is in a scratch hosts file; a recording `kind`."""
    fake_tools.add("kind", FAKE_KIND)
    hosts_path = tmp_path / "hosts"
    hosts_path.write_text(hosts.with_block("127.0.0.1 localhost\n", "test",
                                           [hosts.validate_entry("127.0.0.1", ["forail.lan"])]))
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text(yaml.safe_dump({"name": "test", "provider": "kind", "hosts": {"file": str(hosts_path)}}))
    return cfg, hosts_path, config.load(cfg).state_path


def start_down(cfg: Path, fake_tools, *extra: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    env = {**os.environ, "COLUMNS": "300", "PATH": f"{fake_tools.bindir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen([sys.executable, "-m", "devcluster", "down", "--config", str(cfg), *extra],
                            cwd=cfg.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kind_deletes(fake_tools) -> list[list[str]]:  # type: ignore[no-untyped-def]
    return [c["argv"] for c in fake_tools.calls("kind") if c["argv"][:2] == ["delete", "cluster"]]


def test_down_refuses_while_another_run_holds_the_lock_with_fake_kind(down_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    """A `down` racing an `up` would delete the cluster under it: with the lock held here, `down` stops at
    once naming the holder, and neither the cluster nor the hosts block is touched."""
    cfg, hosts_path, state_root = down_env
    before = hosts_path.read_text()
    with cluster_lock(state_root, "test", command="devcluster up (held by the test)"):
        proc = start_down(cfg, fake_tools)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "is busy" in err and f"pid {os.getpid()}" in err and "--wait-lock" in err
    assert kind_deletes(fake_tools) == [], "down deleted the cluster while another run held its lock"
    assert hosts_path.read_text() == before


def test_down_with_wait_lock_waits_for_the_holder_then_deletes_with_fake_kind(down_env, fake_tools) -> None:  # type: ignore[no-untyped-def]
    cfg, hosts_path, state_root = down_env
    with cluster_lock(state_root, "test", command="devcluster up (held by the test)"):
        proc = start_down(cfg, fake_tools, "--wait-lock", "60")
        time.sleep(2.0)
        assert proc.poll() is None, "down must wait for the lock"
        assert kind_deletes(fake_tools) == []
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "waiting up to 60s" in err
    assert kind_deletes(fake_tools) and kind_deletes(fake_tools)[0][:4] == ["delete", "cluster", "--name", "test"]
    assert "forail.lan" not in hosts_path.read_text()


# ----------------------------------------------------------------- TLS: expired or foreign certificates


def make_cert(dns_names: list[str], not_after: datetime.timedelta,
              not_before: datetime.timedelta = datetime.timedelta(days=-400)) -> tls.CertPair:
    """A self-signed pair valid from now+not_before to now+not_after (negative: in the past)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0] if dns_names else "forail.lan")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + not_before).not_valid_after(now + not_after))
    if dns_names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
                                        critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return tls.CertPair(cert.public_bytes(serialization.Encoding.PEM),
                        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))


BOTH = ["forail.lan", "*.forail.lan"]
DAY = datetime.timedelta(days=1)
BAD_CERTS = {
    "expired": (BOTH, -DAY),
    "expires-in-2-days": (BOTH, 2 * DAY),
    "other-host": (["other.lan", "*.other.lan"], 300 * DAY),
    "no-wildcard": (["forail.lan"], 300 * DAY),
    "only-wildcard": (["*.forail.lan"], 300 * DAY),
    "no-san-at-all": ([], 300 * DAY),
}


@pytest.mark.parametrize("case", ["expired", "expires-in-2-days"])
def test_a_stored_certificate_past_or_near_its_not_after_is_reissued(tmp_path: Path, case: str) -> None:
    sans, not_after = BAD_CERTS[case]
    stale = make_cert(sans, not_after)
    (tmp_path / "tls.crt").write_bytes(stale.cert_pem)
    (tmp_path / "tls.key").write_bytes(stale.key_pem)
    fresh = tls.load_or_create(tmp_path, "forail.lan")
    assert fresh != stale
    assert x509.load_pem_x509_certificate(fresh.cert_pem).not_valid_after_utc > \
        datetime.datetime.now(datetime.timezone.utc) + 300 * DAY
    assert (tmp_path / "tls.crt").read_bytes() == fresh.cert_pem


@pytest.mark.parametrize("case", list(BAD_CERTS))
def test_the_certificate_check_refuses_expired_and_foreign_certificates(case: str) -> None:
    sans, not_after = BAD_CERTS[case]
    assert not tls.cert_still_valid(make_cert(sans, not_after).cert_pem, "forail.lan")
    assert tls.cert_still_valid(make_cert(BOTH, 300 * DAY).cert_pem, "forail.lan"), "a good one is kept"


@pytest.fixture
def prereqs_env(tmp_path: Path, fake_api: FakeApiServer, fake_tools, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A kind-like cluster on tests/fakeapi.py for `up --skip-stack`; helm is the recording fake."""
    kind_like_cluster(fake_api)
    kubeconfig = fake_api.write_kubeconfig(tmp_path / "kubeconfig", context="kind-test")
    monkeypatch.setenv("FAKE_HELM_STATE", str(tmp_path / "helm-state.json"))
    fake_tools.add("helm", (stack_tests.FIXTURES / "fake_helm.py").read_text())
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")
    cfg = tmp_path / "devcluster.yaml"
    cfg.write_text(yaml.safe_dump({"name": "test", "hosts": {"file": str(tmp_path / "hosts")}, "addons": {
        "local_path": {"manifest": str(stack_tests.FIXTURES / "local-path-storage.yaml")}}}))
    return kubeconfig, cfg


def tls_secret(pair: tls.CertPair) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "forail-tls", "namespace": "forail"},
            "data": {"tls.crt": base64.b64encode(pair.cert_pem).decode(),
                     "tls.key": base64.b64encode(pair.key_pem).decode()}}


@pytest.mark.parametrize("case", list(BAD_CERTS))
def test_up_replaces_a_tls_secret_that_is_expired_or_for_another_host(prereqs_env, fake_api, case: str) -> None:  # type: ignore[no-untyped-def]
    """The tls-secret step's check must not accept whatever certificate the secret holds: after `up` the
    secret carries a certificate for forail.lan and *.forail.lan that is good for months."""
    kubeconfig, cfg = prereqs_env
    sans, not_after = BAD_CERTS[case]
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "forail"}})
    fake_api.put(tls_secret(make_cert(sans, not_after)))
    code, out = up(kubeconfig, cfg)
    assert code == 0, out
    cert_pem = base64.b64decode(fake_api.get("v1", "secrets", "forail-tls", "forail")["data"]["tls.crt"])
    assert sorted(tls.cert_sans(cert_pem)) == ["*.forail.lan", "forail.lan"]
    assert x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc > \
        datetime.datetime.now(datetime.timezone.utc) + 300 * DAY


def test_up_keeps_a_good_tls_secret(prereqs_env, fake_api) -> None:  # type: ignore[no-untyped-def]
    kubeconfig, cfg = prereqs_env
    good = make_cert(BOTH, 300 * DAY)
    fake_api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "forail"}})
    fake_api.put(tls_secret(good))
    code, out = up(kubeconfig, cfg)
    assert code == 0, out
    kept = fake_api.get("v1", "secrets", "forail-tls", "forail")["data"]["tls.crt"]
    assert base64.b64decode(kept) == good.cert_pem


# ----------------------------------------------------------------- runner.stream_stdout's timeout


def timed_stream(argv: list[str], consume: Any, timeout: float) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    try:
        runner.stream_stdout(argv, consume, timeout=timeout)
    except BaseException as exc:  # the test inspects whatever came out
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def test_stream_stdout_times_out_on_a_process_that_prints_nothing() -> None:
    """`sleep 8` prints nothing: the consumer sits in read(); the 1s timeout must still fire."""
    exc, elapsed = timed_stream(["sleep", "8"], lambda out: out.read(), timeout=1)
    assert isinstance(exc, CommandError) and exc.timed_out, exc
    assert "command timed out: sleep 8" in exc.message
    assert elapsed < 2.5, f"timed out after {elapsed:.1f}s, not ~1s"


def test_stream_stdout_times_out_on_a_consumer_that_stops_reading() -> None:
    """`yes` writes forever; the consumer (a wedged SSH channel) reads once, then blocks."""
    release = threading.Event()

    def wedged(out: IO[bytes]) -> None:
        out.read(4096)
        release.wait(8)

    try:
        exc, elapsed = timed_stream(["yes"], wedged, timeout=1)
    finally:
        release.set()
    assert isinstance(exc, CommandError) and exc.timed_out, exc
    assert elapsed < 2.5, f"timed out after {elapsed:.1f}s, not ~1s"


def test_stream_stdout_streams_reports_failures_and_passes_consumer_errors_on() -> None:
    got: list[bytes] = []
    runner.stream_stdout(["printf", "image-tarball"], lambda out: got.append(out.read()), timeout=10)
    assert got == [b"image-tarball"]
    exc, _ = timed_stream(["sh", "-c", "echo 'no such image' >&2; exit 3"], lambda out: out.read(), timeout=10)
    assert isinstance(exc, CommandError) and exc.returncode == 3 and "no such image" in exc.message

    def broken(out: IO[bytes]) -> None:
        raise KeyError("a bug in the consumer")

    exc, elapsed = timed_stream(["sleep", "8"], broken, timeout=30)
    assert isinstance(exc, KeyError) and elapsed < 2.5, "a consumer's bug surfaces as itself, at once"
