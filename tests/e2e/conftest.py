"""End-to-end checks against a real cluster, read from KUBECONFIG.

They skip (with the reason) when no cluster is reachable, unless
DEVCLUSTER_E2E_REQUIRE_CLUSTER=1 (set by `devcluster e2e`), where an
unreachable cluster is a failure. Expected names and ports come from the
DEVCLUSTER_* variables `devcluster e2e` exports, defaulting to devcluster's
defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config


@dataclass(frozen=True)
class Expect:
    hostname: str = os.environ.get("DEVCLUSTER_HOSTNAME", "forail.lan")
    namespace: str = os.environ.get("DEVCLUSTER_NAMESPACE", "forail")
    tls_secret: str = os.environ.get("DEVCLUSTER_TLS_SECRET", "forail-tls")
    ingress_address: str = os.environ.get("DEVCLUSTER_INGRESS_ADDRESS", "127.0.0.1")
    http_port: int = int(os.environ.get("DEVCLUSTER_HTTP_PORT", "30080"))
    https_port: int = int(os.environ.get("DEVCLUSTER_HTTPS_PORT", "30443"))
    traefik_namespace: str = os.environ.get("DEVCLUSTER_TRAEFIK_NAMESPACE", "traefik")
    traefik_release: str = os.environ.get("DEVCLUSTER_TRAEFIK_RELEASE", "traefik")
    stack: bool = os.environ.get("DEVCLUSTER_STACK", "1") == "1"
    operator_namespace: str = os.environ.get("DEVCLUSTER_OPERATOR_NAMESPACE", "forail-operator")
    operator_release: str = os.environ.get("DEVCLUSTER_OPERATOR_RELEASE", "forail-operator")
    crd_group: str = os.environ.get("DEVCLUSTER_CRD_GROUP", "forail.forail-platform.io")
    sample_organization: str = os.environ.get("DEVCLUSTER_SAMPLE_ORGANIZATION", "Default")
    job_template: str = os.environ.get("DEVCLUSTER_JOB_TEMPLATE", "Demo Job Template")
    job_timeout: int = int(os.environ.get("DEVCLUSTER_JOB_TIMEOUT", "300"))
    # the token itself stays in its 0600 file (or the user's own variable): never in the environment we export
    token_file: str = os.environ.get("DEVCLUSTER_FORAIL_TOKEN_FILE", "")
    token_env: str = os.environ.get("DEVCLUSTER_FORAIL_TOKEN_ENV", "DEVCLUSTER_FORAIL_TOKEN")

    def token(self) -> str:
        if os.environ.get(self.token_env, "").strip():
            return os.environ[self.token_env].strip()
        path = Path(self.token_file) if self.token_file else None
        return path.read_text().strip() if path and path.is_file() else ""


@pytest.fixture(scope="session")
def expect() -> Expect:
    return Expect()


def _unavailable(reason: str) -> None:
    if os.environ.get("DEVCLUSTER_E2E_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"no cluster: {reason}", pytrace=False)
    pytest.skip(f"no Kubernetes cluster reachable: {reason}")


@pytest.fixture(scope="session")
def api() -> client.ApiClient:
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig and not Path("~/.kube/config").expanduser().is_file():
        _unavailable("KUBECONFIG is not set and ~/.kube/config does not exist")
    try:
        api_client = config.new_client_from_config(config_file=kubeconfig or None,
                                                   context=os.environ.get("DEVCLUSTER_CONTEXT") or None)
        client.VersionApi(api_client).get_code(_request_timeout=5)
    except Exception as exc:  # any failure to reach the API means "no cluster" here
        _unavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    return api_client


@pytest.fixture(scope="session")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="session")
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture(scope="session")
def stack_installed(expect: Expect, core: client.CoreV1Api) -> None:
    if not expect.stack:
        pytest.skip("the stack is disabled in devcluster.yaml (stack.enabled: false or no releases)")
    secrets = core.list_namespaced_secret(expect.namespace, label_selector="owner=helm", _request_timeout=15)
    if not secrets.items:
        pytest.fail(f"no helm release in namespace {expect.namespace}: run `devcluster up` (without --skip-stack)",
                    pytrace=False)


@pytest.fixture(autouse=True)
def _needs_cluster(api: client.ApiClient) -> None:
    """Every E2E test, including the HTTP-only ones, needs the cluster (or skips with the reason)."""
