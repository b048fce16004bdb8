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


# Fields kube-apiserver refuses to change on update (422 Invalid, "field is immutable").
IMMUTABLE = {"Secret": [("type",)], "Job": [("spec", "selector"), ("spec", "template")],
             "Deployment": [("spec", "selector")], "StatefulSet": [("spec", "selector")]}
# Not owned by a field manager: identity and bookkeeping.
UNOWNED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"), ("metadata", "managedFields"),
           ("metadata", "resourceVersion"), ("metadata", "uid"), ("metadata", "generation"),
           ("metadata", "creationTimestamp"), ("status",)}


def leaves(obj: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Leaf field paths of an object (lists count as one leaf: enough for the managers' ownership)."""
    if not isinstance(obj, dict) or not obj:
        return {prefix: obj}
    out: dict[tuple[str, ...], Any] = {}
    for key, value in obj.items():
        path = (*prefix, key)
        if any(path[: len(u)] == u for u in UNOWNED):
            continue
        out.update(leaves(value, path))
    return out


def dig(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def fields_v1(paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """Ownership in the real managedFields format: {"f:data": {"f:key": {}}}."""
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


class FakeApiServer:
    def __init__(self, auto_ready: bool = True) -> None:
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}  # (apiVersion, plural, ns, name)
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content-type)
        self.auto_ready = auto_ready
        # When set, requests must carry `Authorization: Bearer <token>`, or get 401 like a real API server.
        self.require_token: str | None = None
        # Server-side apply: which manager owns which leaf field, per object, and with which operation.
        self.owners: dict[tuple[str, str, str, str], dict[tuple[str, ...], tuple[str, str]]] = {}
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

    # ------------------------------------------------------------ field managers

    def _conflicts(self, key: tuple[str, str, str, str], old: dict[str, Any], body: dict[str, Any],
                   manager: str) -> list[tuple[str, tuple[str, ...]]]:
        """Fields the applied body sets to another value than the one a different manager owns."""
        owners = self.owners.get(key, {})
        return [(owners[path][0], path) for path, value in leaves(body).items()
                if path in owners and owners[path][0] != manager and dig(old, path) != value]

    def _own(self, key: tuple[str, str, str, str], obj: dict[str, Any], manager: str, operation: str,
             fields: list[tuple[str, ...]] | None = None, replace: bool = False) -> None:
        owners = self.owners.setdefault(key, {})
        for path in (list(leaves(obj)) if replace or fields is None else fields):
            owners[path] = (manager, operation)
        by_manager: dict[tuple[str, str], list[tuple[str, ...]]] = {}
        for path, who in owners.items():
            by_manager.setdefault(who, []).append(path)
        obj["metadata"]["managedFields"] = [
            {"manager": m, "operation": op, "apiVersion": obj["apiVersion"], "fieldsType": "FieldsV1",
             "fieldsV1": fields_v1(paths)} for (m, op), paths in sorted(by_manager.items())]

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

            def _immutable_changed(self, res: Res, old: dict[str, Any], new: dict[str, Any], name: str) -> bool:
                for path in IMMUTABLE.get(res.kind, []):
                    before, after = dig(old, path), dig(new, path)
                    if before is not None and after is not None and before != after:
                        self._status(422, "Invalid", f'{res.kind} "{name}" is invalid: {".".join(path)}: Invalid '
                                     f"value: {json.dumps(after)}: field is immutable")
                        return True
                return False

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
                            stored = server._store(res, ns, body, create=True)
                            server._own(key, stored, (query.get("fieldManager") or ["unknown"])[0], "Update",
                                        replace=True)
                            self._send(201, stored)
                    elif method == "PUT":
                        body = self._body()
                        old = server.objects.get(key)
                        if old is None:
                            self._status(404, "NotFound", f'{res.plural} "{name}" not found')
                            return
                        wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
                        if wanted_rv and wanted_rv != old["metadata"]["resourceVersion"]:
                            self._status(409, "Conflict", f'Operation cannot be fulfilled on {res.plural} "{name}": '
                                         "the object has been modified; please apply your changes to the latest "
                                         "version and try again")
                            return
                        if self._immutable_changed(res, old, body, name):
                            return
                        manager = (query.get("fieldManager") or ["unknown"])[0]
                        stored = server._store(res, ns, body, create=False)
                        server._own(key, stored, manager, "Update", replace=True)
                        self._send(200, stored)
                    elif method == "PATCH":
                        ctype = self.headers.get("Content-Type") or ""
                        body = self._body()
                        old = server.objects.get(key)
                        apply = "apply-patch" in ctype
                        if old is None and not apply:
                            self._status(404, "NotFound", f'{res.plural} "{name}" not found')
                            return
                        manager = (query.get("fieldManager") or [""])[0]
                        if apply and not manager:
                            self._status(400, "BadRequest",
                                         "PATCH requests with apply content type must have a fieldManager")
                            return
                        new = merge_patch(old or {}, body)
                        if old is not None and self._immutable_changed(res, old, new, name):
                            return
                        if apply:
                            force = (query.get("force") or ["false"])[0] == "true"
                            conflicts = server._conflicts(key, old or {}, body, manager)
                            if conflicts and not force:
                                self._status(409, "Conflict", f"Apply failed with {len(conflicts)} conflict(s): "
                                             + "; ".join(f'conflict with "{m}": .{".".join(p)}'
                                                         for m, p in conflicts))
                                return
                        stored = server._store(res, ns, new, create=old is None)
                        server._own(key, stored, manager or "unknown", "Apply" if apply else "Update",
                                    fields=list(leaves(body)))
                        self._send(200, stored)
                    elif method == "DELETE":
                        server.owners.pop(key, None)
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
