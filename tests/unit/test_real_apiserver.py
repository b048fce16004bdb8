"""devcluster against a REAL Kubernetes 1.30 control plane (../shared/k8s-1.30: real etcd, kube-apiserver,
controller-manager and scheduler; fake kubelets run no container but report pods Ready, complete Jobs and answer
`pods/exec` from a canned script) with the REAL helm. Skipped, with the reason, where ../shared is not there.

What only a real API server shows: admission and validation of what devcluster and helm send, helm's release
Secrets and the `pending-install` a killed helm leaves, the Deployment controller's rollout status, the exec API
(the operator token is minted through it here, not replaced in-process), finalizers and namespace deletion by
the real namespace controller. Still played: Traefik + Forail on the NodePort (tests/forail_standin.py, as
Services do not route without kube-proxy) and the operator's reconcile loop (a thread using the API as the
operator does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from devcluster.cli import app
from devcluster.errors import DevclusterError
from tests import realk8s
from tests.forail_standin import ForailStandIn, start_standin
from tests.helmcharts import release_status, write_chart

REPO = Path(__file__).resolve().parents[2]
CHARTS = REPO / "tests" / "fixtures" / "charts"
HELM = shutil.which("helm") or str(REPO / ".tools" / "bin" / "helm")
GROUP, VERSION = "forail.forail-platform.io", "v1alpha1"

pytestmark = pytest.mark.skipif(realk8s.unavailable_reason() is not None or not os.access(HELM, os.X_OK),
                                reason=realk8s.unavailable_reason() or "no helm binary (run scripts/test-setup.sh)")


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[realk8s.ControlPlane]:
    cp = realk8s.start(tmp_path_factory.mktemp("k8s"))
    try:
        yield cp
    finally:
        cp.down()


def kube(plane: realk8s.ControlPlane) -> Any:
    from kubernetes import client, config

    return config.new_client_from_config(config_file=str(plane.kubeconfig)), client


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def write_config(path: Path, port: int, hosts: Path, **stack: Any) -> Path:
    doc: dict[str, Any] = {
        "name": "real", "node_ports": {"http": port, "https": 30443}, "hosts": {"file": str(hosts)},
        "timeouts": {"rollout": 60, "helm": 60},
        "addons": {"traefik": {"chart": str(CHARTS / "traefik-standin"), "repo": ""},
                   "local_path": {"manifest": str(REPO / "tests" / "fixtures" / "local-path-storage.yaml")}},
        "stack": {"releases": [
            {"name": "forail", "chart": str(CHARTS / "forail-test"), "namespace": "forail", "kind": "forail",
             "timeout": 60},
            {"name": "forail-operator", "chart": str(CHARTS / "forail-operator-test"),
             "namespace": "forail-operator", "kind": "forail-operator", "timeout": 60}],
                  "verify_timeout": 20, **stack},
    }
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def forail_standin() -> Iterator[int]:
    ForailStandIn.reset()
    ForailStandIn.accepted_tokens.add(realk8s.MINTED_TOKEN)
    server = start_standin()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


NEVER_READY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: never}}
  template:
    metadata: {labels: {app: never}}
    spec:
      nodeSelector: {no-such-node: "true"}
      containers: [{name: c, image: example.invalid/never:1}]
"""


def test_prerequisites_install_after_a_helm_killed_mid_install_and_a_rerun_only_checks(
        plane: realk8s.ControlPlane, forail_standin: int, tmp_path: Path) -> None:
    """A helm killed while `--wait`ing leaves Traefik's release `pending-install` on the real API server (every
    plain upgrade then fails "another operation is in progress"); `up` recovers it and installs the prerequisites;
    the StorageClass, IngressClass and TLS rules hold against the real admission; the re-run changes nothing."""
    chart = write_chart(tmp_path / "never", NEVER_READY, version="0.0.1")
    helm = subprocess.Popen([HELM, "upgrade", "--install", "traefik", str(chart), "-n", "traefik",
                             "--create-namespace", "--wait", "--timeout", "300s", "--kubeconfig",
                             str(plane.kubeconfig)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while (release_status(HELM, plane.kubeconfig, "traefik", "traefik") != "pending-install"
           and time.monotonic() < deadline):
        time.sleep(0.2)
    helm.send_signal(signal.SIGKILL)
    helm.wait()
    assert release_status(HELM, plane.kubeconfig, "traefik", "traefik") == "pending-install"

    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    cfg = write_config(tmp_path / "devcluster.yaml", forail_standin, hosts)
    first = cli("up", "--config", str(cfg), "--kubeconfig", str(plane.kubeconfig), "--skip-stack")
    assert first.exit_code == 0, first.output + repr(first.exception)
    assert "recovering" in first.output
    assert release_status(HELM, plane.kubeconfig, "traefik", "traefik") == "deployed"

    api, client = kube(plane)
    classes = {sc.metadata.name: (sc.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class")
               for sc in client.StorageV1Api(api).list_storage_class().items}
    assert classes == {"local-path": "true", "standard": "false"}, "the harness's default `standard` is undefaulted"
    ic = client.NetworkingV1Api(api).read_ingress_class("traefik")
    assert ic.metadata.annotations["ingressclass.kubernetes.io/is-default-class"] == "true"
    svc = client.CoreV1Api(api).read_namespaced_service("traefik", "traefik")
    assert svc.spec.type == "NodePort"
    assert sorted(p.node_port for p in svc.spec.ports) == sorted([forail_standin, 30443])
    secret = client.CoreV1Api(api).read_namespaced_secret("forail-tls", "forail")
    assert secret.type == "kubernetes.io/tls"
    assert "127.0.0.1\tforail.lan" in hosts.read_text()

    again = cli("up", "--config", str(cfg), "--kubeconfig", str(plane.kubeconfig), "--skip-stack")
    assert again.exit_code == 0, again.output
    acted = [line for line in again.output.splitlines() if line.startswith("→") and not line.startswith("→ target")]
    assert acted == [], "a re-run on a ready cluster only checks (target is a check of its own)"


class Operator:
    """forail-operator's reconcile loop, played through the real API: it puts its finalizer on every Inventory
    and gives it status.forailId; of one being deleted it removes the finalizer, but only while its Deployment
    exists (once `helm uninstall` removed it, nothing finalizes anything)."""

    def __init__(self, plane: realk8s.ControlPlane) -> None:
        self.api, self.client = kube(plane)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def running(self) -> bool:
        deps = self.client.AppsV1Api(self.api).list_namespaced_deployment(
            "forail-operator", label_selector="app.kubernetes.io/instance=forail-operator").items
        return bool(deps)

    def _loop(self) -> None:
        custom = self.client.CustomObjectsApi(self.api)
        while not self.stop.wait(0.1):
            with contextlib.suppress(Exception):  # the CRD may not be there yet; the next round retries
                if not self.running():
                    continue
                for obj in custom.list_cluster_custom_object(GROUP, VERSION, "inventories")["items"]:
                    meta, ns, name = obj["metadata"], obj["metadata"]["namespace"], obj["metadata"]["name"]
                    finalizer = "inventory.forail.forail-platform.io/finalizer"
                    if meta.get("deletionTimestamp"):
                        custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "inventories", name,
                                                              {"metadata": {"finalizers": None}})
                    elif finalizer not in (meta.get("finalizers") or []):
                        custom.patch_namespaced_custom_object(GROUP, VERSION, ns, "inventories", name,
                                                              {"metadata": {"finalizers": [finalizer]}})
                    elif not (obj.get("status") or {}).get("forailId"):
                        custom.patch_namespaced_custom_object_status(GROUP, VERSION, ns, "inventories", name,
                                                                     {"status": {"forailId": 42}})


def test_the_stack_runs_a_job_then_uninstalls_leaving_no_finalizer_and_the_namespaces_delete(
        plane: realk8s.ControlPlane, forail_standin: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole `up` on a real API server: the 2026.7.1-interface chart gets hybrid with both privileges (the
    real task Deployment is privileged), the token is minted through the real exec API, the operator chart is
    installed with it, the sample Inventory is reconciled, and the verify job runs through the ingress. A job
    that stays pending fails `stack verify --job` and says so. `stack uninstall` removes the CRs while the
    operator runs, then the releases; then both namespaces delete (the real namespace controller)."""
    monkeypatch.delenv("DEVCLUSTER_FORAIL_TOKEN", raising=False)
    hosts = tmp_path / "hosts"
    hosts.write_text("")
    cfg = write_config(tmp_path / "devcluster.yaml", forail_standin, hosts)
    operator = Operator(plane)
    try:
        up = cli("up", "--config", str(cfg), "--kubeconfig", str(plane.kubeconfig))
        assert up.exit_code == 0, up.output + repr(up.exception)
        out = " ".join(up.output.split())
        assert "jobs run as podman in a privileged task pod (hybrid; dev only): chart 2026.7.1" in out
        assert "job 101 successful" in out
        api, client = kube(plane)
        task = client.AppsV1Api(api).read_namespaced_deployment("forail-task", "forail")
        assert task.spec.template.spec.containers[0].security_context.privileged is True
        settings = client.CoreV1Api(api).read_namespaced_config_map("forail-settings", "forail")
        assert settings.data["FORAIL_NODE_TYPE"] == "hybrid"
        import base64

        creds = client.CoreV1Api(api).read_namespaced_secret("forail-operator-credentials", "forail-operator")
        assert base64.b64decode(creds.data["token"]).decode() == realk8s.MINTED_TOKEN, "minted through exec"
        assert ForailStandIn.launches == [101]

        ForailStandIn.outcome = "pending"
        stuck = cli("stack", "verify", "--job", "--config", str(cfg), "--kubeconfig", str(plane.kubeconfig))
        assert isinstance(stuck.exception, DevclusterError), stuck.output
        assert "job 102 (Demo Job Template) is still pending" in stuck.exception.message

        gone = cli("stack", "uninstall", "--config", str(cfg), "--kubeconfig", str(plane.kubeconfig))
        assert gone.exit_code == 0, gone.output + repr(gone.exception)
        assert "deleted and finalized: Inventory forail/devcluster-smoke" in " ".join(gone.output.split())
        custom = client.CustomObjectsApi(api)
        assert custom.list_cluster_custom_object(GROUP, VERSION, "inventories")["items"] == []
        core = client.CoreV1Api(api)
        for ns in ("forail", "forail-operator"):
            core.delete_namespace(ns)
        deadline = time.monotonic() + 90
        left = ["forail", "forail-operator"]
        while left and time.monotonic() < deadline:
            left = [n.metadata.name for n in core.list_namespace().items
                    if n.metadata.name in ("forail", "forail-operator")]
            time.sleep(0.5)
        assert not left, f"namespaces still terminating: {left}"
    finally:
        operator.stop.set()
