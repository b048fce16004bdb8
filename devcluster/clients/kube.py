"""Talking to the Kubernetes API through the official client.

One ``Kube`` per kubeconfig/context. Readiness rules (nodes, Deployments,
StatefulSets, Jobs) are pure functions of API objects so they can be tested
without a cluster and shared by the `up` steps, `status` and the E2E suite.
"""

from __future__ import annotations

import ipaddress
import json
import os
import urllib.parse
import warnings
from functools import cached_property
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes import client
from kubernetes import config as kconfig
from kubernetes.client.rest import ApiException

from devcluster.clients.access import ClusterAccess
from devcluster.errors import DevclusterError

# A kubeconfig with insecure-skip-tls-verify (a choice its owner made) would print urllib3's warning on every
# request, burying devcluster's own output.
warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)

FIELD_MANAGER = "devcluster"
MANAGED_LABELS = {"app.kubernetes.io/managed-by": "devcluster"}
DEFAULT_SC_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


# ---------------------------------------------------------------- pure readiness rules
#
# They read API objects as the JSON the server sends (Kube.read / Kube.list): the typed models of the
# kubernetes client cost a second or more to import, which every check would pay (docs/performance.md).


def node_is_ready(node: dict[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


def rollout_status(obj: dict[str, Any]) -> tuple[bool, str]:
    """Deployment/StatefulSet readiness as `kubectl rollout status` judges it."""
    spec = obj.get("spec") or {}
    spec_replicas = spec.get("replicas") if spec.get("replicas") is not None else 1
    st = obj.get("status")
    if not st:
        return False, "no status yet"
    if (st.get("observedGeneration") or 0) < ((obj.get("metadata") or {}).get("generation") or 0):
        return False, "spec change not yet observed"
    updated = st.get("updatedReplicas") or 0
    ready = st.get("readyReplicas") or 0
    # StatefulSets report availableReplicas too since 1.22; older objects may lack it.
    available = st.get("availableReplicas", ready) or 0
    ok = updated >= spec_replicas and ready >= spec_replicas and available >= spec_replicas
    return ok, f"{ready}/{spec_replicas} ready, {updated} updated"


def job_status(job: dict[str, Any]) -> tuple[bool | None, str]:
    """(True done, False failed, None running) for a Job."""
    status = job.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Complete" and cond.get("status") == "True":
            return True, "complete"
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return False, f"failed: {cond.get('reason') or ''} {cond.get('message') or ''}".strip()
    return None, f"{status.get('active') or 0} active"


def is_default_class(annotations: dict[str, str]) -> bool:
    return any(annotations.get(k) == "true" for k in DEFAULT_SC_ANNOTATIONS)


def default_class_patches(classes: dict[str, dict[str, str]], desired: str) -> dict[str, dict[str, Any]]:
    """Annotation patches that leave ``desired`` the only default StorageClass.

    ``classes`` maps class name to its annotations. kind ships ``standard`` as
    a default; two defaults make PVC binding depend on admission order.
    """
    patches: dict[str, dict[str, Any]] = {}
    for name, annots in classes.items():
        want = "true" if name == desired else "false"
        current = {k: annots.get(k) for k in DEFAULT_SC_ANNOTATIONS}
        if name == desired and current[DEFAULT_SC_ANNOTATIONS[0]] != "true":
            patches[name] = {"metadata": {"annotations": {DEFAULT_SC_ANNOTATIONS[0]: want}}}
        elif name != desired and is_default_class(annots):
            patches[name] = {"metadata": {"annotations": dict.fromkeys(
                [k for k, v in current.items() if v is not None], "false")}}
    return patches


LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "::1/128", "fc00::/7",
    "fe80::/10",
))


def is_local_server(server: str) -> bool:
    """True for API servers on loopback or RFC 1918/4193 addresses (laptop clusters, VMs, kind).

    Not ``ipaddress.is_private``: that also counts documentation and other
    special ranges that can be real, remote clusters.
    """
    host = urllib.parse.urlparse(server).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in net for net in LOCAL_NETWORKS if net.version == ip.version)


def missing_context(name: str, path: Path, contexts: list[dict[str, Any]]) -> DevclusterError:
    names = ", ".join(str(c.get("name")) for c in contexts) or "none"
    what = f"context {name!r} is not in {path}" if name else f"{path} names no current context"
    return DevclusterError(what, f"available contexts: {names}; pick one with --context (or existing.context)")


def require_context(access: ClusterAccess, data: dict[str, Any]) -> None:
    """The client's own error for a missing context is "Invalid kube-config file. Expected object with name ..."."""
    contexts = [c for c in data.get("contexts") or [] if isinstance(c, dict)]
    wanted = access.context or data.get("current-context")
    if not wanted or not any(c.get("name") == wanted for c in contexts):
        raise missing_context(access.context or "", kubeconfig_location(access.kubeconfig), contexts)


def kubeconfig_server(access: ClusterAccess) -> tuple[str, str]:
    """(context name, server URL) the kubeconfig selects, for the safety check."""
    data = read_kubeconfig(access.kubeconfig)
    contexts, active = kconfig.list_kube_config_contexts(config_file=str(kubeconfig_location(access.kubeconfig)))
    wanted = access.context or (active or {}).get("name")
    chosen = None
    for ctx in contexts:
        if ctx["name"] == wanted:
            chosen = ctx
    if chosen is None:
        raise missing_context(access.context or "", kubeconfig_location(access.kubeconfig), contexts)
    cluster_name = chosen["context"]["cluster"]
    for cl in data.get("clusters", []):
        if cl["name"] == cluster_name:
            return chosen["name"], cl["cluster"]["server"]
    raise DevclusterError(f"cluster {cluster_name!r} of context {chosen['name']!r} is not in the kubeconfig")


# ---------------------------------------------------------------- the client


KUBECONFIG_HINT = "check --kubeconfig/--context, or run `devcluster up` to create the cluster"


def kubeconfig_location(kubeconfig: Path | None) -> Path:
    """The file the client reads when none is given: $KUBECONFIG's first entry, else ~/.kube/config."""
    if kubeconfig is not None:
        return kubeconfig.expanduser()
    first = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    try:
        return Path(first or "~/.kube/config").expanduser()
    except RuntimeError as exc:  # no HOME and no passwd entry
        raise DevclusterError(f"cannot find the default kubeconfig: {exc} (HOME is not set)",
                              "set HOME or KUBECONFIG, or pass --kubeconfig") from exc


def read_kubeconfig(kubeconfig: Path | None) -> dict[str, Any]:
    """The kubeconfig as a mapping, or an error naming the file: the client's own errors on a missing
    or malformed file are a bare 'Invalid kube-config' or a TypeError from deep inside it."""
    path = kubeconfig_location(kubeconfig)
    if not path.is_file():
        raise DevclusterError(f"no kubeconfig at {path}", KUBECONFIG_HINT)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise DevclusterError(f"cannot read kubeconfig {path}: {exc}", KUBECONFIG_HINT) from exc
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        raise DevclusterError(f"{path} is not a kubeconfig: expected a YAML mapping with clusters, contexts and "
                              "users", KUBECONFIG_HINT)
    return data


def api_error_detail(exc: BaseException, server: str) -> str:
    """What a failed API call means, in words: unauthorized is not the same as unreachable."""
    if isinstance(exc, ApiException):
        if exc.status == 401:
            return (f"the API server at {server} rejected the credentials (HTTP 401 Unauthorized): "
                    "the kubeconfig's token or client certificate is wrong or expired")
        if exc.status == 403:
            return f"the API server at {server} refused access (HTTP 403 Forbidden): {exc.reason}"
        return f"the API server at {server} answered HTTP {exc.status} {exc.reason}"
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, urllib3.exceptions.SSLError):
        return f"TLS to {server} failed: {text}"
    if isinstance(exc, (urllib3.exceptions.NewConnectionError, ConnectionError)):
        return f"nothing answers at {server} ({text.split(': ', 1)[-1]})"
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return f"{server} did not answer in time"
    return f"{server}: {type(exc).__name__}: {text}"


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
        except Exception as exc:
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

    def get_or_none(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args, _request_timeout=15)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

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
        if self.get_or_none(self.core.read_namespace, name) is not None:
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
        current = self.get_or_none(self.core.read_namespaced_secret, name, namespace)
        if current is None:
            self.core.create_namespaced_secret(namespace, body)
            return True
        if current.type == secret_type and (current.data or {}) == data:
            return False
        if current.type != secret_type:  # type is immutable
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
        for dep in self.apps.list_namespaced_deployment(namespace, label_selector=label_selector,
                                                        _request_timeout=15).items:
            patch = {"spec": {"template": {"metadata": {"annotations": {
                "kubectl.kubernetes.io/restartedAt": stamp}}}}}
            self.apps.patch_namespaced_deployment(dep.metadata.name, namespace, patch)
            names.append(dep.metadata.name)
        return names

    def running_pod_for(self, namespace: str, deployment: str) -> str:
        dep = self.get_or_none(self.apps.read_namespaced_deployment, deployment, namespace)
        if dep is None:
            raise DevclusterError(f"Deployment {namespace}/{deployment} not found")
        selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
        pods = self.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=15).items
        for pod in pods:
            if pod.status.phase == "Running" and all(
                cs.ready for cs in (pod.status.container_statuses or [])
            ) and not pod.metadata.deletion_timestamp:
                return pod.metadata.name
        raise DevclusterError(f"no ready pod of Deployment {namespace}/{deployment}")
