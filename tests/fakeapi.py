"""A small in-memory Kubernetes API server on loopback, for tests at the HTTP boundary.

What it is: enough of the REST surface (discovery, CRUD, list with label
selectors, JSON merge / strategic merge / server-side apply PATCH) for the
real `kubernetes` client to talk to it over HTTP, so devcluster's API code
runs unmodified. What it is not: a control plane. There are no controllers,
admission, defaulting or exec; tests play the controllers by editing
`FakeApiServer.objects` (or with ``auto_ready``) and say so.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Res:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES = [
    Res("", "v1", "namespaces", "Namespace", False),
    Res("", "v1", "nodes", "Node", False),
    Res("", "v1", "secrets", "Secret", True),
    Res("", "v1", "configmaps", "ConfigMap", True),
    Res("", "v1", "pods", "Pod", True),
    Res("", "v1", "events", "Event", True),
    Res("", "v1", "services", "Service", True),
    Res("", "v1", "serviceaccounts", "ServiceAccount", True),
    Res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True),
    Res("apps", "v1", "deployments", "Deployment", True),
    Res("apps", "v1", "statefulsets", "StatefulSet", True),
    Res("apps", "v1", "daemonsets", "DaemonSet", True),
    Res("batch", "v1", "jobs", "Job", True),
    Res("storage.k8s.io", "v1", "storageclasses", "StorageClass", False),
    Res("networking.k8s.io", "v1", "ingresses", "Ingress", True),
    Res("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    Res("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Res("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    Res("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Res("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Res("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False),
]


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (also used for strategic merge and apply: close enough for maps)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class FakeApiServer:
    def __init__(self, auto_ready: bool = True) -> None:
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}  # (apiVersion, plural, ns, name)
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content-type)
        self.auto_ready = auto_ready
        # When set, requests must carry `Authorization: Bearer <token>`, or get 401 like a real API server.
        self.require_token: str | None = None
        self.resources = list(RESOURCES)
        # Stand-ins for controllers: called with (resource, object) after every write; may edit the object.
        self.controllers: list[Callable[[Res, dict[str, Any]], None]] = []
        self.lock = threading.RLock()
        self._rv = itertools.count(1)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> FakeApiServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def write_kubeconfig(self, path: Path, context: str = "kind-devcluster") -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "users": [{"name": context, "user": {"token": "test"}}],
        }))
        return path

    # ------------------------------------------------------------ direct access for tests

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = self._by_kind(obj["apiVersion"], obj["kind"])
        with self.lock:
            return self._store(res, obj.get("metadata", {}).get("namespace", ""), obj, create=True)

    def get(self, api_version: str, plural: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        return self.objects.get((api_version, plural, namespace, name))

    def list(self, api_version: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        return [o for (av, pl, ns, _), o in sorted(self.objects.items())
                if av == api_version and pl == plural and (namespace is None or ns == namespace)]

    def add_node(self, name: str, ready: bool = True, role: str = "worker", ip: str = "10.0.0.1") -> None:
        labels = {f"node-role.kubernetes.io/{role}": ""} if role == "control-plane" else {}
        self.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels},
                  "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                             "addresses": [{"type": "InternalIP", "address": ip}],
                             "nodeInfo": {"kubeletVersion": "v1.30.13", "architecture": "amd64",
                                          "bootID": "", "containerRuntimeVersion": "containerd://1.7",
                                          "kernelVersion": "6", "kubeProxyVersion": "v1.30.13",
                                          "machineID": "", "operatingSystem": "linux", "osImage": "x",
                                          "systemUUID": ""}}})

    # ------------------------------------------------------------ internals

    def _by_kind(self, api_version: str, kind: str) -> Res:
        for r in self.resources:
            if r.api_version == api_version and r.kind == kind:
                return r
        raise KeyError(f"{api_version} {kind}")

    def _store(self, res: Res, ns: str, obj: dict[str, Any], create: bool) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = (res.api_version, res.plural, ns if res.namespaced else "", meta["name"])
        old = self.objects.get(key)
        if res.namespaced:
            meta["namespace"] = ns
        meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        meta["resourceVersion"] = str(next(self._rv))
        spec_changed = old is None or old.get("spec") != obj.get("spec")
        meta["generation"] = (old or {}).get("metadata", {}).get("generation", 0) + (1 if spec_changed else 0)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        if res.kind == "Secret" and "stringData" in obj:
            import base64

            obj.setdefault("data", {}).update({k: base64.b64encode(v.encode()).decode()
                                               for k, v in obj.pop("stringData").items()})
        if self.auto_ready and res.kind in ("Deployment", "StatefulSet"):
            n = obj.get("spec", {}).get("replicas", 1)
            obj["status"] = {"observedGeneration": meta["generation"], "replicas": n, "readyReplicas": n,
                             "updatedReplicas": n, "availableReplicas": n}
            self._running_pod(obj, ns)
        if self.auto_ready and res.kind == "Job":
            obj["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        if res.kind == "CustomResourceDefinition":
            self._register_crd(obj)
        for controller in self.controllers:
            controller(res, obj)
        self.objects[key] = obj
        return obj

    def _running_pod(self, owner: dict[str, Any], ns: str) -> None:
        """What a ReplicaSet controller and a kubelet would eventually produce: one Running, ready pod."""
        template = owner.get("spec", {}).get("template", {})
        labels = template.get("metadata", {}).get("labels", {})
        containers = template.get("spec", {}).get("containers", [])
        name = f"{owner['metadata']['name']}-fake0"
        self.objects[("v1", "pods", ns, name)] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": str(uuid.uuid4()),
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": c["name"], "image": c.get("image", "x")} for c in containers]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", "x"), "imageID": "",
                 "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}} for c in containers]},
        }

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            res = Res(spec["group"], version["name"], spec["names"]["plural"], spec["names"]["kind"],
                      spec.get("scope") == "Namespaced")
            if res not in self.resources:
                self.resources.append(res)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _status(self, code: int, reason: str, message: str) -> None:
                self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                                  "reason": reason, "message": message, "metadata": {}})

            def _body(self) -> Any:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                if not raw:
                    return None
                return yaml.safe_load(raw) if "yaml" in (self.headers.get("Content-Type") or "") \
                    else json.loads(raw)

            def _route(self) -> tuple[Res | None, str, str, dict[str, list[str]]] | None:
                parsed = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(parsed.query)
                parts = [p for p in parsed.path.split("/") if p]
                if parts[:2] == ["api", "v1"]:
                    group, version, rest = "", "v1", parts[2:]
                elif parts[:1] == ["apis"] and len(parts) >= 3:
                    group, version, rest = parts[1], parts[2], parts[3:]
                else:
                    return None
                ns = ""
                if len(rest) >= 3 and rest[0] == "namespaces":
                    ns, rest = rest[1], rest[2:]
                if not rest:
                    return None
                plural, name = rest[0], (rest[1] if len(rest) > 1 else "")
                for r in server.resources:
                    if r.group == group and r.version == version and r.plural == plural:
                        return r, ns, name, query
                return None, ns, name, query

            def _discovery(self) -> bool:
                path = urllib.parse.urlparse(self.path).path.rstrip("/")
                if path == "/version":
                    self._send(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.13-fake",
                                     "gitCommit": "0", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                                     "goVersion": "go1.22", "compiler": "gc", "platform": "linux/amd64"})
                elif path == "/api":
                    self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
                elif path == "/apis":
                    groups = sorted({(r.group, r.version) for r in server.resources if r.group})
                    self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                        {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                         "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]})
                elif path == "/api/v1" or (path.startswith("/apis/") and path.count("/") == 3):
                    gv = "v1" if path == "/api/v1" else path[len("/apis/"):]
                    self._send(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                        {"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                         "kind": r.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}
                        for r in server.resources if r.api_version == gv]})
                else:
                    return False
                return True

            def _handle(self, method: str) -> None:
                server.requests.append((method, self.path, self.headers.get("Content-Type") or ""))
                if server.require_token is not None and \
                        self.headers.get("Authorization") != f"Bearer {server.require_token}":
                    self._status(401, "Unauthorized", "Unauthorized")
                    return
                if method == "GET" and self._discovery():
                    return
                route = self._route()
                if route is None or route[0] is None:
                    self._status(404, "NotFound", f"the server could not find the requested resource {self.path}")
                    return
                res, ns, name, query = route
                assert res is not None
                key = (res.api_version, res.plural, ns if res.namespaced else "", name)
                with server.lock:
                    if res.namespaced and ns and method in ("POST", "PUT", "PATCH") and \
                            ("v1", "namespaces", "", ns) not in server.objects:
                        self._status(404, "NotFound", f'namespaces "{ns}" not found')
                        return
                    if method == "GET" and not name:
                        items = [o for (av, pl, n, _), o in sorted(server.objects.items())
                                 if av == res.api_version and pl == res.plural and (not ns or n == ns)]
                        sel = (query.get("labelSelector") or [""])[0]
                        if sel:
                            want = dict(p.split("=", 1) for p in sel.split(","))
                            items = [o for o in items if all(
                                (o["metadata"].get("labels") or {}).get(k) == v for k, v in want.items())]
                        self._send(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                                         "metadata": {"resourceVersion": "1"}, "items": items})
                    elif method == "GET":
                        obj = server.objects.get(key)
                        if obj is None:
                            self._status(404, "NotFound", f'{res.plural} "{name}" not found')
                        else:
                            self._send(200, obj)
                    elif method == "POST":
                        body = self._body()
                        name = body["metadata"]["name"]
                        key = (res.api_version, res.plural, ns if res.namespaced else "", name)
                        if key in server.objects:
                            self._status(409, "AlreadyExists", f'{res.plural} "{name}" already exists')
                        else:
                            self._send(201, server._store(res, ns, body, create=True))
                    elif method == "PUT":
                        if key not in server.objects:
                            self._status(404, "NotFound", f'{res.plural} "{name}" not found')
                        else:
                            self._send(200, server._store(res, ns, self._body(), create=False))
                    elif method == "PATCH":
                        ctype = self.headers.get("Content-Type") or ""
                        body = self._body()
                        old = server.objects.get(key)
                        if old is None and "apply-patch" not in ctype:
                            self._status(404, "NotFound", f'{res.plural} "{name}" not found')
                            return
                        self._send(200, server._store(res, ns, merge_patch(old or {}, body), create=old is None))
                    elif method == "DELETE":
                        obj = server.objects.pop(key, None)
                        if obj is None:
                            self._status(404, "NotFound", f'{res.plural} "{name}" not found')
                        else:
                            self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                             "metadata": {}})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        return Handler
