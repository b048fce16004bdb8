"""Talking to the Kubernetes API through the official client: one ``Kube`` per kubeconfig/context.

Reads are JSON (``read``/``list``) through the client's own connection, auth and TLS; writes go through
the typed and dynamic APIs. What is read is judged elsewhere: readiness.py (when an object is ready),
local_server.py (whether the server is this machine's), kubeconfigs.py (which file and context),
api_errors.py (a failure in words).
"""

from __future__ import annotations

import json
import warnings
from functools import cached_property
from typing import Any

import urllib3
from kubernetes import client
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException

from devcluster.clients.access import ClusterAccess
from devcluster.clients.api_errors import api_error_detail
from devcluster.clients.kubeconfigs import KUBECONFIG_HINT, kubeconfig_location, read_kubeconfig, require_context
from devcluster.clients.readiness import node_is_ready, rollout_status
from devcluster.errors import DevclusterError, expected_errors

# A kubeconfig with insecure-skip-tls-verify (a choice its owner made) would print urllib3's warning on every
# request, burying devcluster's own output.
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

FIELD_MANAGER = "devcluster"
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "devcluster"}


class Kube:
    """Typed and dynamic API clients for one cluster."""

    def __init__(self, access: ClusterAccess) -> None:
        self.access = access
        location = kubeconfig_location(access.kubeconfig)
        require_context(access, read_kubeconfig(access.kubeconfig))
        try:
            self.api_client = kconfig.new_client_from_config(config_file=str(location), context=access.context)
        except (kconfig.ConfigException, OSError, TypeError, AttributeError, KeyError) as exc:
            raise DevclusterError(f"cannot load kubeconfig {location}: {exc}", KUBECONFIG_HINT) from exc

    @property
    def server(self) -> str:
        return str(self.api_client.configuration.host)

    @cached_property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @cached_property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api_client)

    @cached_property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.api_client)

    @cached_property
    def storage(self) -> client.StorageV1Api:
        return client.StorageV1Api(self.api_client)

    @cached_property
    def networking(self) -> client.NetworkingV1Api:
        return client.NetworkingV1Api(self.api_client)

    @cached_property
    def apiext(self) -> client.ApiextensionsV1Api:
        return client.ApiextensionsV1Api(self.api_client)

    @cached_property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @cached_property
    def dynamic(self) -> Any:
        from kubernetes.dynamic import DynamicClient

        return DynamicClient(self.api_client)

    def reachable(self, timeout: float = 5.0) -> tuple[bool, str]:
        """(True, version) when the API answers, else (False, why in words: 401 is not 'unreachable')."""
        try:
            info = self.read("/version", timeout=timeout)
        except ValueError:  # a body that is not JSON: some other web server
            info = None
        except expected_errors() as exc:  # a bug is not "unreachable": it propagates
            return False, api_error_detail(exc, self.server)
        version = (info or {}).get("gitVersion")
        if not isinstance(version, str) or not version:
            return False, (f"{self.server} answers, but not as a Kubernetes API server (no gitVersion at /version): "
                           "check the server URL in the kubeconfig")
        return True, version

    # ----------------------------------------------------------- reads (JSON, no typed models)

    def read(self, path: str, timeout: float = 15, query: dict[str, str] | None = None) -> dict[str, Any] | None:
        """GET ``path`` through the client's own connection, auth and TLS; None for 404.

        The generic request of the kubernetes client, not its typed API classes: those validate every call
        with pydantic and deserialize into models that take seconds to import on a laptop.
        """
        return self._request("GET", path, timeout, query)

    def delete(self, path: str, timeout: float = 15) -> bool:
        """DELETE ``path``; False when it was not there. An object with finalizers stays, marked, until they go."""
        return self._request("DELETE", path, timeout) is not None

    def _request(self, verb: str, path: str, timeout: float, query: dict[str, str] | None = None
                 ) -> dict[str, Any] | None:
        method, url, headers, body, post = self.api_client.param_serialize(
            verb, path, query_params=list((query or {}).items()), header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"])
        resp = self.api_client.call_api(method, url, headers, body, post, _request_timeout=timeout)
        resp.read()
        if resp.status == 404:
            return None
        if not 200 <= resp.status < 300:
            raise ApiException(http_resp=resp)
        data = json.loads(resp.data or b"{}")
        return data if isinstance(data, dict) else {}

    def list(self, path: str, label_selector: str = "") -> list[dict[str, Any]]:
        """The items of a list ``path`` (a missing namespace or resource type lists nothing)."""
        query = {"labelSelector": label_selector} if label_selector else None
        return list((self.read(path, query=query) or {}).get("items") or [])

    def nodes_summary(self) -> tuple[list[str], list[str]]:
        nodes = self.list("/api/v1/nodes")
        ready = [n["metadata"]["name"] for n in nodes if node_is_ready(n)]
        not_ready = [n["metadata"]["name"] for n in nodes if not node_is_ready(n)]
        return ready, not_ready

    def storage_class_annotations(self) -> dict[str, dict[str, str]]:
        """StorageClass name -> annotations, the input of the default-class rules."""
        items = self.list("/apis/storage.k8s.io/v1/storageclasses")
        return {sc["metadata"]["name"]: dict(sc["metadata"].get("annotations") or {}) for sc in items}

    def workload_status(self, kind: str, namespace: str, name: str) -> tuple[bool, str]:
        plural = "deployments" if kind == "Deployment" else "statefulsets"
        obj = self.read(f"/apis/apps/v1/namespaces/{namespace}/{plural}/{name}")
        if obj is None:
            return False, f"{kind} {namespace}/{name} not found"
        return rollout_status(obj)

    # ----------------------------------------------------------- writes

    def apply(self, obj: dict[str, Any]) -> Any:
        """Server-side apply: idempotent, and leaves fields others own alone."""
        resource = self.dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        return self.dynamic.server_side_apply(
            resource, body=obj, namespace=obj.get("metadata", {}).get("namespace"),
            field_manager=FIELD_MANAGER, force_conflicts=True,
        )

    def ensure_namespace(self, name: str) -> bool:
        if self.read(f"/api/v1/namespaces/{name}") is not None:
            return False
        self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=MANAGED_LABELS))
        )
        return True

    def upsert_secret(self, namespace: str, name: str, secret_type: str, data: dict[str, str]) -> bool:
        """Create or replace a Secret from base64 ``data``; returns whether anything changed."""
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=MANAGED_LABELS),
            type=secret_type, data=data,
        )
        current = self.read(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if current is None:
            self.core.create_namespaced_secret(namespace, body)
            return True
        if current.get("type") == secret_type and (current.get("data") or {}) == data:
            return False
        if current.get("type") != secret_type:  # type is immutable
            self.core.delete_namespaced_secret(name, namespace)
            self.core.create_namespaced_secret(namespace, body)
        else:
            self.core.replace_namespaced_secret(name, namespace, body)
        return True

    def exec_in_pod(self, namespace: str, pod: str, command: list[str], container: str | None = None,
                    timeout: int = 120) -> str:
        """Run ``command`` in a pod through the exec API and return its stdout."""
        from kubernetes.stream import stream

        resp = stream(
            self.core.connect_get_namespaced_pod_exec, pod, namespace, command=command,
            container=container, stderr=True, stdin=False, stdout=True, tty=False,
            _preload_content=False,
        )
        resp.run_forever(timeout=timeout)
        if resp.is_open():
            resp.close()
            raise DevclusterError(f"`{' '.join(command)}` in pod {namespace}/{pod} did not finish within {timeout}s")
        out = resp.read_stdout() if resp.peek_stdout() else ""
        err = resp.read_stderr() if resp.peek_stderr() else ""
        code = resp.returncode
        resp.close()
        if code not in (0, None):
            raise DevclusterError(
                f"`{' '.join(command)}` in pod {namespace}/{pod} exited {code}",
                (err.strip().splitlines() or [""])[-1] or None,
            )
        return out

    def restart_deployments(self, namespace: str, label_selector: str) -> list[str]:
        """What `kubectl rollout restart` does, for every Deployment the selector matches."""
        import datetime

        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat()
        names = []
        for dep in self.list(f"/apis/apps/v1/namespaces/{namespace}/deployments", label_selector):
            patch = {"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": stamp}}}}}
            name = dep["metadata"]["name"]
            self.apps.patch_namespaced_deployment(name, namespace, patch)
            names.append(name)
        return names

    def running_pod_for(self, namespace: str, deployment: str) -> str:
        dep = self.read(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}")
        if dep is None:
            raise DevclusterError(f"Deployment {namespace}/{deployment} not found")
        labels = (((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
        selector = ",".join(f"{k}={v}" for k, v in labels.items())
        for pod in self.list(f"/api/v1/namespaces/{namespace}/pods", selector):
            status = pod.get("status") or {}
            if status.get("phase") == "Running" and all(
                cs.get("ready") for cs in (status.get("containerStatuses") or [])
            ) and not pod["metadata"].get("deletionTimestamp"):
                return str(pod["metadata"]["name"])
        raise DevclusterError(f"no ready pod of Deployment {namespace}/{deployment}")
