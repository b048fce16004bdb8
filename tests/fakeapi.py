"""A small in-memory Kubernetes API server on loopback, for tests at the HTTP boundary.

What it is: enough of the REST surface for the real `kubernetes` client to talk to it over HTTP, so devcluster's
API code runs unmodified - and strict where kube-apiserver 1.30 is strict, so a client-boundary test fails where a
real cluster would refuse the request:

* discovery; create/read/update/delete/list, deletecollection, dry runs;
* optimistic concurrency: PUT with a stale ``metadata.resourceVersion`` is 409 Conflict (custom resources and CRDs
  also need one: their strategies refuse unconditional updates);
* validation as the API server does it: 400 for bodies it cannot decode (non-string label values, Secret data that
  is not base64, resourceVersion on create, name/namespace/apiVersion mismatches), 422 Invalid for names, label
  keys/values, pod templates, selectors that do not match the template, Job restart policies and immutable fields;
* PATCH by content type - JSON merge patch (RFC 7386), strategic merge (lists of named items merged by ``name``),
  JSON patch (RFC 6902) and server-side apply with field managers and conflicts; anything else 415;
* the ``status`` subresource (a write to the main resource keeps the stored status, a write to ``/status`` changes
  only the status), ``pods/log`` as text/plain, 404 for subresources it does not know;
* label and field selectors with the real grammar; finalizers hold a deletion; deleting a namespace deletes its
  contents.

What it is not: a control plane. There are no controllers, scheduler or kubelet, no watch and no exec; tests play the
controllers by editing `FakeApiServer.objects`, with ``controllers`` hooks or with ``auto_ready`` and say so.
Where the exact wording of an error matters to a client, the message is the one kube-apiserver sends; the comments
name the apiserver code it comes from.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import hashlib
import json
import random
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests import fakeproto


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
    Res("apps", "v1", "replicasets", "ReplicaSet", True),
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

Key = tuple[str, str, str, str]  # (apiVersion, plural, namespace, name)
FieldPath = tuple[str, ...]  # ("spec", "template", ...); 'k:{"name":"web"}' picks an item of a list keyed by name

# Built-in kinds whose status is a subresource (their REST storage has a status strategy): writes to the main
# resource keep the stored status, writes to /status change nothing else.
STATUS_SUBRESOURCE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Node", "Pod", "Service",
                            "Namespace", "PersistentVolumeClaim", "Ingress", "CustomResourceDefinition"}
# Kinds whose registry sets ReturnDeletedObject (pkg/registry/*/storage; the OpenAPI spec, hence the kubernetes
# client's delete_* return types, says the same): DELETE answers with the object, the others with a Status naming
# it. A Namespace answers with itself, Terminating, while its controller empties it.
RETURNS_DELETED_OBJECT = {"Pod", "Service", "ServiceAccount", "StorageClass", "Namespace", "PersistentVolumeClaim"}
# What the pod template is called in each workload kind, for the pod validation.
POD_TEMPLATE = {"Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"),
                "ReplicaSet": ("spec", "template"),
                "DaemonSet": ("spec", "template"), "Job": ("spec", "template")}
# Fields kube-apiserver refuses to change on update (422 Invalid, "field is immutable").
IMMUTABLE = {"Secret": [("type",)], "Job": [("spec", "selector"), ("spec", "template")],
             "Deployment": [("spec", "selector")], "StatefulSet": [("spec", "selector")],
             "DaemonSet": [("spec", "selector")], "ReplicaSet": [("spec", "selector")]}
# StatefulSet update validation (pkg/apis/apps/validation): everything else in its spec is forbidden to change.
STATEFULSET_MUTABLE = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds"}
# Not owned by a field manager: identity and bookkeeping (the apiserver leaves them out of managedFields).
UNOWNED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"), ("metadata", "managedFields"),
           ("metadata", "resourceVersion"), ("metadata", "uid"), ("metadata", "generation"),
           ("metadata", "creationTimestamp"), ("metadata", "deletionTimestamp"),
           ("metadata", "deletionGracePeriodSeconds"), ("metadata", "selfLink")}

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
# The order the apiserver lists them in its 415 message (endpoints/installer.go); custom resources have no
# strategic merge (no Go struct tags to merge by).
BUILTIN_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH]
CUSTOM_PATCH_TYPES = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
PROTOBUF = "application/vnd.kubernetes.protobuf"
BODY_TYPES = ["application/json", "application/yaml", PROTOBUF]
CREATION_TIMESTAMP = "2026-01-01T00:00:00Z"


# ---------------------------------------------------------------- errors as the apiserver words them


@dataclass
class FieldError:
    """One entry of a field.ErrorList (k8s.io/apimachinery/pkg/util/validation/field)."""

    path: str
    type: str  # Invalid | Required | Forbidden | NotSupported
    detail: str = ""
    value: str = ""  # already formatted the way the apiserver prints it (strings quoted)

    def body(self) -> str:
        if self.type == "Invalid":
            return f"Invalid value: {self.value}: {self.detail}"
        if self.type == "NotSupported":
            return f"Unsupported value: {self.value}: {self.detail}"
        if self.type == "Required":
            return f"Required value: {self.detail}" if self.detail else "Required value"
        return f"Forbidden: {self.detail}"

    @property
    def reason(self) -> str:
        return {"Invalid": "FieldValueInvalid", "Required": "FieldValueRequired", "Forbidden": "FieldValueForbidden",
                "NotSupported": "FieldValueNotSupported"}[self.type]


class ApiError(Exception):
    """A refusal the handler turns into a Status body with the same code, reason and message as the real server."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": self.message, "reason": self.reason}
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out


def qualified_resource(res: Res) -> str:
    """schema.GroupResource.String(): `secrets`, `deployments.apps`."""
    return f"{res.plural}.{res.group}" if res.group else res.plural


def _details(res: Res, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if res.group:
        out["group"] = res.group
    out["kind"] = res.plural  # the apiserver puts the resource here ("Yes we set Kind field to resource")
    return out


def not_found(res: Res, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified_resource(res)} "{name}" not found', _details(res, name))


def path_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def conflict(res: Res, name: str, why: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {qualified_resource(res)} "{name}": {why}',
                    _details(res, name))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """errors.NewInvalid: `Kind.group "name" is invalid: <one error>` or `... is invalid: [<e1>, <e2>]`."""
    qualified = f"{kind}.{group}" if group else kind
    texts = [f"{e.path}: {e.body()}" for e in errors]
    aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": e.reason, "message": e.body(), "field": e.path} for e in errors]
    return ApiError(422, "Invalid", f'{qualified} "{name}" is invalid: {aggregate}', details)


def gostr(value: Any) -> str:
    """A value the way field errors print it: strings quoted (%q), the rest as JSON (close to Go's %v)."""
    return json.dumps(value, separators=(",", ":"))


# ---------------------------------------------------------------- field paths and managed fields


def keyed(items: Any) -> bool:
    """A list merged item by item: every item a mapping with a string `name` (containers, env, ports, volumes)."""
    return isinstance(items, list) and bool(items) and all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items)


def key_part(name: str) -> str:
    """The path element of a named list item, in managedFields' own spelling: k:{"name":"web"}."""
    return "k:" + json.dumps({"name": name}, separators=(",", ":"))


def leaves(obj: Any, prefix: FieldPath = ()) -> dict[FieldPath, Any]:
    """Leaf field paths of an object with their values; named list items are walked into, other lists are atomic
    (one leaf), as server-side apply treats `listType: map` and atomic lists."""
    if isinstance(obj, dict) and obj:
        out: dict[FieldPath, Any] = {}
        for key, value in obj.items():
            path = (*prefix, key)
            if path not in UNOWNED:
                out.update(leaves(value, path))
        return out
    if keyed(obj):
        out = {}
        for item in obj:
            out.update(leaves(item, (*prefix, key_part(item["name"]))))
        return out
    return {prefix: obj}


def dig(obj: Any, path: Iterable[str]) -> Any:
    for part in path:
        if isinstance(obj, list) and part.startswith("k:"):
            want = json.loads(part[2:])
            obj = next((i for i in obj if isinstance(i, dict) and all(i.get(k) == v for k, v in want.items())), None)
        elif isinstance(obj, dict):
            obj = obj.get(part)
        else:
            return None
    return obj


def remove_path(obj: Any, path: FieldPath) -> None:
    """Delete one field; a named list item left empty goes too (its fields were all the manager's)."""
    parent = dig(obj, path[:-1])
    if isinstance(parent, dict):
        parent.pop(path[-1], None)
    elif isinstance(parent, list):
        parent[:] = [i for i in parent if dig([i], [path[-1]]) is None]
    for depth in range(len(path) - 1, 0, -1):
        if path[depth - 1].startswith("k:") and dig(obj, path[:depth]) == {}:
            owner = dig(obj, path[: depth - 1])
            if isinstance(owner, list):
                owner[:] = [i for i in owner if i != {}]


def path_string(path: FieldPath) -> str:
    """How structured-merge-diff prints a path in conflict messages: .spec.containers[name="web"].image."""
    out = ""
    for part in path:
        if part.startswith("k:"):
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(part[2:]).items()) + "]"
        else:
            out += "." + part
    return out


def fields_v1(paths: Iterable[FieldPath]) -> dict[str, Any]:
    """Ownership in the real managedFields format: {"f:data": {"f:key": {}}}, named items as {"k:{...}": {".": {}}}."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part if part.startswith("k:") else f"f:{part}", {})
            if part.startswith("k:"):
                node.setdefault(".", {})
    return tree


def touching(paths: set[FieldPath]) -> Callable[[FieldPath], bool]:
    """Whether a path is one of ``paths``, inside one, or contains one: a change there changes the other."""
    ancestors = {p[:i] for p in paths for i in range(len(p))}

    def touched(q: FieldPath) -> bool:
        return q in paths or q in ancestors or any(q[:i] in paths for i in range(len(q)))

    return touched


@dataclass(frozen=True)
class Manager:
    """A managedFields identity: appliers are one manager whatever apiVersion they use, updaters one per version
    (BuildManagerIdentifier in k8s.io/apimachinery/pkg/util/managedfields)."""

    name: str
    operation: str  # Apply | Update
    api_version: str = ""
    subresource: str = ""

    def identifier(self) -> str:
        ident: dict[str, str] = {"manager": self.name, "operation": self.operation}
        if self.operation == "Update":
            ident["apiVersion"] = self.api_version
        if self.subresource:
            ident["subresource"] = self.subresource
        return json.dumps(ident, separators=(",", ":"))

    def describe(self) -> str:
        """printManager in managedfields/internal/conflict.go (the identifier carries no time)."""
        text = json.dumps(self.name)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        return f"{text} using {self.api_version}" if self.operation == "Update" else text


def conflict_message(conflicts: list[tuple[Manager, FieldPath]]) -> str:
    """getConflictMessage in managedfields/internal/conflict.go, word for word."""
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {manager.describe()}: {path_string(path)}"
    by_manager: dict[Manager, list[FieldPath]] = {}
    for manager, path in conflicts:
        by_manager.setdefault(manager, []).append(path)
    lines = []
    for manager in sorted(by_manager, key=Manager.identifier):
        lines.append(f"conflicts with {manager.describe()}:")
        lines += [f"- {path_string(p)}" for p in sorted(by_manager[manager], key=path_string)]
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# ---------------------------------------------------------------- patches


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, null deletes, everything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge(target: Any, patch: Any) -> Any:
    """Strategic merge patch, as far as tests need it: a merge patch whose lists of named items (containers, env,
    ports, volumes) merge by `name`; `$patch: delete|replace` directives; other lists replace. Server-side apply
    merges the same way (named lists are `listType: map`)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):  # $retainKeys, $setElementOrder/...: ordering hints and the like
            continue
        if value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            out.pop(key, None)
        elif isinstance(value, list):
            out[key] = _merge_list(out.get(key), value)
        else:
            out[key] = strategic_merge(out.get(key), value)
    return out


def _merge_list(current: Any, patch: list[Any]) -> list[Any]:
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if not keyed(patch) or not (current in (None, []) or keyed(current)):
        return copy.deepcopy(patch)
    out = copy.deepcopy(current or [])
    for item in patch:
        index = next((n for n, i in enumerate(out) if i["name"] == item["name"]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append(strategic_merge({}, item))
        else:
            out[index] = strategic_merge(out[index], item)
    return out


class PatchFailed(Exception):
    """A JSON patch that does not apply (the apiserver answers 422 with the json-patch library's words)."""


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchFailed(f"JSON pointer must be empty or start with a \"/\": {path}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _container(doc: Any, parts: list[str], op: str, path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchFailed(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value")
    return node


def json_patch(doc: Any, ops: Any) -> Any:
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    if not isinstance(ops, list):
        raise ValueError("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise ValueError("json: cannot unmarshal into Go value of type jsonpatch.Operation")
        kind, path = op.get("op"), op.get("path", "")
        parts = _pointer(path)
        if kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = copy.deepcopy(_get(doc, source, kind, op.get("from", "")))
            if kind == "move":
                doc = _remove(doc, source, "move", op.get("from", ""))
            doc = _add(doc, parts, value, kind, path)
        elif kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")), "add", path)
        elif kind == "remove":
            doc = _remove(doc, parts, "remove", path)
        elif kind == "replace":
            _get(doc, parts, "replace", path)
            doc = _add(_remove(doc, parts, "replace", path), parts, copy.deepcopy(op.get("value")), "replace", path)
        elif kind == "test":
            if _get(doc, parts, "test", path) != op.get("value"):
                raise PatchFailed(f"testing value {path} failed: test failed")
        else:
            raise PatchFailed(f"Unexpected kind: {kind}")
    return doc


def _get(doc: Any, parts: list[str], op: str, path: str) -> Any:
    if not parts:
        return doc
    node = _container(doc, parts, op, path)
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        return node[last]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        return node[int(last)]
    raise PatchFailed(f"{op} operation does not apply: doc is missing key: {path}: missing value")


def _add(doc: Any, parts: list[str], value: Any, op: str, path: str) -> Any:
    if not parts:
        return value
    node = _container(doc, parts, op, path)
    last = parts[-1]
    if isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list):
        if last == "-":
            node.append(value)
        elif last.isdigit() and int(last) <= len(node):
            node.insert(int(last), value)
        else:
            raise PatchFailed(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value")
    else:
        raise PatchFailed(f"{op} operation does not apply: doc is missing path: \"{path}\": missing value")
    return doc


def _remove(doc: Any, parts: list[str], op: str, path: str) -> Any:
    if not parts:
        return None
    node = _container(doc, parts, op, path)
    last = parts[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]
    else:
        raise PatchFailed(f"Unable to remove nonexistent key: {last}: missing value")
    return doc


# ---------------------------------------------------------------- selectors


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # = != in notin exists !exists < >
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, Any]) -> bool:
        value = labels.get(self.key)
        present = self.key in labels
        if self.op == "=":
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "in":
            return present and value in self.values
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        try:  # gt / lt compare integers; a label that is no integer matches neither
            have, want = int(str(value)), int(next(iter(self.values)))
        except ValueError:
            return False
        return present and (have > want if self.op == ">" else have < want)


def _split_top(text: str) -> list[str]:
    """Split at commas outside parentheses: `app in (a,b),tier!=db` is two requirements."""
    parts, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def parse_label_selector(text: str) -> list[Requirement]:
    """The grammar of k8s.io/apimachinery/pkg/labels.Parse: k=v, k==v, k!=v, k, !k, k in (..), k notin (..),
    k>n, k<n, ANDed by commas. Keys and values are validated as labels (the real parser does too)."""
    if not text.strip():
        return []
    reqs = []
    for raw in _split_top(text):
        part = raw.strip()
        if m := re.fullmatch(r"(\S+)\s+(in|notin)\s*\((.*)\)", part):
            key, op, vals = m.group(1), m.group(2), [v.strip() for v in m.group(3).split(",")]
            if vals == [""]:
                raise ValueError(f"for 'in', 'notin' operators, values set can't be empty: {part!r}")
        elif m := re.fullmatch(r"!\s*([^\s=!<>(),]+)", part):
            key, op, vals = m.group(1), "!exists", []
        elif m := re.fullmatch(r"([^\s=!<>(),]+)\s*(==|=|!=|<|>)\s*([^\s=!<>(),]*)", part):
            key, op, vals = m.group(1), m.group(2), [m.group(3)]
            op = "=" if op == "==" else op
            if op in "<>" and not re.fullmatch(r"-?\d+", vals[0]):
                raise ValueError(f"for 'Gt', 'Lt' operators, the value must be an integer: {part!r}")
        elif re.fullmatch(r"[^\s=!<>(),]+", part):
            key, op, vals = part, "exists", []
        else:
            raise ValueError(f"found '{part}', expected: identifier, '!', 'in', 'notin', '=', '==', '!=', '<', '>'")
        errs = label_key_errors(key)
        if errs:
            raise ValueError(f"key: Invalid value: {gostr(key)}: {errs[0]}")
        for v in vals:
            if op not in "<>" and not LABEL_VALUE.fullmatch(v):
                raise ValueError(f"values[0][{key}]: Invalid value: {gostr(v)}: {LABEL_VALUE_MSG}")
        reqs.append(Requirement(key, op, frozenset(vals)))
    return reqs


# Field selectors each kind supports beyond metadata.name/metadata.namespace (GetAttrs of the kind's registry).
FIELD_SELECTORS = {
    "Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
            "spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName"},
    "Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
              "reportingComponent", "source", "type"},
    "Secret": {"type"}, "Node": {"spec.unschedulable"}, "Namespace": {"status.phase"},
    "Job": {"status.successful"}, "ReplicaSet": {"status.replicas"},
}


def parse_field_selector(kind: str, text: str) -> list[tuple[str, str, str]]:
    """`metadata.name=x,metadata.namespace!=y`; a field the kind does not index is a 400 like the real one."""
    out = []
    for raw in _split_top(text) if text.strip() else []:
        m = re.fullmatch(r"\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*", raw)
        if not m:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{raw}'")
        name, op, value = m.groups()
        extra = FIELD_SELECTORS.get(kind, set())
        if name not in {"metadata.name", "metadata.namespace"} | extra:
            if extra:
                raise ValueError(f"field label not supported: {name}")
            raise ValueError(f'"{name}" is not a known field selector: only "metadata.name", "metadata.namespace"')
        out.append((name, "!=" if op == "!=" else "=", value))
    return out


def field_value(obj: dict[str, Any], name: str) -> str:
    value = dig(obj, name.split("."))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


# ---------------------------------------------------------------- validation (k8s.io/apimachinery validation)

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_1123_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
                  "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
                  "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
LABEL_1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                  "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                  "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                      "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def name_errors(kind: str, name: str) -> list[str]:
    """The name rule of each kind's ValidateObjectMeta: Services DNS-1035 labels, Namespaces RFC 1123 labels, RBAC
    objects and custom resources path segments, everything else RFC 1123 subdomains."""
    if kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding") or kind == "":
        bad = name in (".", "..") or "/" in name or "%" in name
        return ["may not contain '/'" if "/" in name else "may not be '.' or '..'"] if bad else []
    rule, msg, limit = {"Service": (DNS1035_LABEL, LABEL_1035_MSG, 63),
                        "Namespace": (DNS1123_LABEL, LABEL_1123_MSG, 63)}.get(
                            kind, (DNS1123_SUBDOMAIN, SUBDOMAIN_MSG, 253))
    errs = [] if len(name) <= limit else [f"must be no more than {limit} characters"]
    return errs + ([] if rule.fullmatch(name) else [msg])


def label_key_errors(key: str) -> list[str]:
    prefix, _, name = key.rpartition("/")
    errs = []
    if "/" in prefix:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix "
                "and '/' (e.g. 'example.com/MyName')"]
    if "/" in key and (not prefix or not DNS1123_SUBDOMAIN.fullmatch(prefix)):
        errs.append("prefix part " + SUBDOMAIN_MSG)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    elif not QUALIFIED_NAME.fullmatch(name):
        errs.append(QUALIFIED_NAME_MSG)
    return errs


def _metadata_errors(obj: dict[str, Any], prefix: str = "metadata") -> list[FieldError]:
    meta = obj.get("metadata") or {}
    errs = []
    for key, value in (meta.get("labels") or {}).items():
        errs += [FieldError(f"{prefix}.labels", "Invalid", e, gostr(key)) for e in label_key_errors(key)]
        if len(str(value)) > 63:
            errs.append(FieldError(f"{prefix}.labels", "Invalid", "must be no more than 63 characters", gostr(value)))
        elif not LABEL_VALUE.fullmatch(str(value)):
            errs.append(FieldError(f"{prefix}.labels", "Invalid", LABEL_VALUE_MSG, gostr(value)))
    for key in meta.get("annotations") or {}:
        errs += [FieldError(f"{prefix}.annotations", "Invalid", e, gostr(key)) for e in label_key_errors(key)]
    return errs


def selector_matches(selector: dict[str, Any], labels: dict[str, Any]) -> bool:
    """metav1.LabelSelector against a set of labels (matchLabels and matchExpressions)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    return all(Requirement(e["key"], ops.get(e.get("operator", ""), "in"), frozenset(e.get("values") or []))
               .matches(labels) for e in selector.get("matchExpressions") or [])


def _pod_spec_errors(spec: Any, prefix: str, template: bool) -> list[FieldError]:
    """What ValidatePodSpec refuses most often: no containers, a container without a name, a pod (not a template:
    templates may leave the image to higher-level tooling) without an image."""
    spec = spec if isinstance(spec, dict) else {}
    containers = spec.get("containers") or []
    if not containers:
        return [FieldError(f"{prefix}.containers", "Required")]
    errs = []
    for n, container in enumerate(containers):
        if not (container or {}).get("name"):
            errs.append(FieldError(f"{prefix}.containers[{n}].name", "Required"))
        if not template and not (container or {}).get("image"):
            errs.append(FieldError(f"{prefix}.containers[{n}].image", "Required"))
    return errs


def _gomap(labels: dict[str, Any]) -> str:
    return "map[string]string{" + ", ".join(f"{gostr(k)}:{gostr(v)}" for k, v in sorted(labels.items())) + "}"


def validate(res: Res, obj: dict[str, Any], old: dict[str, Any] | None, custom: bool) -> list[FieldError]:
    """The checks of the kinds' ValidateX/ValidateXUpdate that client code most often trips over; names only on
    create (they cannot change), custom resources' names as path segments."""
    meta = obj["metadata"]
    errs = [] if old is not None else [FieldError("metadata.name", "Invalid", e, gostr(meta["name"]))
                                       for e in name_errors("" if custom else res.kind, meta["name"])]
    errs += _metadata_errors(obj)
    if res.kind == "CustomResourceDefinition":
        spec = obj.get("spec") or {}
        want = f"{(spec.get('names') or {}).get('plural')}.{spec.get('group')}"
        if meta["name"] != want:
            errs.append(FieldError("metadata.name", "Invalid", 'must be spec.names.plural+"."+spec.group',
                                   gostr(meta["name"])))
    if res.kind == "Pod":
        errs += _pod_spec_errors(obj.get("spec"), "spec", template=False)
    if res.kind in POD_TEMPLATE:
        template = dig(obj, POD_TEMPLATE[res.kind]) or {}
        errs += _metadata_errors(template, "spec.template.metadata")
        errs += _pod_spec_errors(template.get("spec"), "spec.template.spec", template=True)
        selector = dig(obj, ("spec", "selector"))
        labels = dig(template, ("metadata", "labels")) or {}
        if res.kind != "Job" and not selector:
            errs.append(FieldError("spec.selector", "Required"))
        elif selector and not selector_matches(selector, labels):
            errs.append(FieldError("spec.template.metadata.labels", "Invalid", "`selector` does not match template "
                                   "`labels`", _gomap(labels)))
        if res.kind == "Job":
            policy = dig(template, ("spec", "restartPolicy")) or "Always"
            if policy not in ("OnFailure", "Never"):
                errs.append(FieldError("spec.template.spec.restartPolicy", "NotSupported",
                                       'supported values: "OnFailure", "Never"', gostr(policy)))
    if old is not None:
        errs += _update_errors(res, obj, old)
    return errs


def _update_errors(res: Res, obj: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    errs = []
    for path in IMMUTABLE.get(res.kind, []):
        before, after = dig(old, path), dig(obj, path)
        if before is not None and before != after:
            errs.append(FieldError(".".join(path), "Invalid", "field is immutable", gostr(after)))
    if res.kind == "StatefulSet":
        changed = {k for k in set(obj.get("spec") or {}) | set(old.get("spec") or {})
                   if dig(obj, ("spec", k)) != dig(old, ("spec", k))} - STATEFULSET_MUTABLE - {"selector"}
        if changed:
            errs.append(FieldError("spec", "Forbidden", "updates to statefulset spec for fields other than "
                                   "'replicas', 'ordinals', 'template', 'updateStrategy', "
                                   "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    if res.kind in ("Secret", "ConfigMap") and old.get("immutable"):
        for key in ("data", "binaryData"):
            if obj.get(key) != old.get(key):
                errs.append(FieldError(key, "Forbidden", "field is immutable when `immutable` is set"))
        if not obj.get("immutable"):
            errs.append(FieldError("immutable", "Forbidden", "field is immutable when `immutable` is set"))
    return errs


def _json_type(value: Any) -> str:
    return "bool" if isinstance(value, bool) else "number" if isinstance(value, (int, float)) else \
        "array" if isinstance(value, list) else "object" if isinstance(value, dict) else "string"


def decode_errors(res: Res, obj: dict[str, Any]) -> str | None:
    """What the apiserver's JSON decoder refuses before any validation runs (400): string maps holding something
    else, Secret data that is not base64."""
    fields = [(("metadata", "labels"), "ObjectMeta.metadata.labels"),
              (("metadata", "annotations"), "ObjectMeta.metadata.annotations")]
    if res.kind == "ConfigMap":
        fields.append((("data",), "ConfigMap.data"))
    if res.kind == "Secret":
        fields.append((("stringData",), "Secret.stringData"))
    for path, go_field in fields:
        mapping = dig(obj, path)
        if mapping is not None and not isinstance(mapping, dict):
            return f"json: cannot unmarshal {_json_type(mapping)} into Go struct field {go_field} of type " \
                   "map[string]string"
        for value in (mapping or {}).values():
            if value is not None and not isinstance(value, str):
                return f"json: cannot unmarshal {_json_type(value)} into Go struct field {go_field} of type string"
    if res.kind == "Secret":
        for value in (obj.get("data") or {}).values():
            if value is None:
                continue
            if not isinstance(value, str):
                return f"json: cannot unmarshal {_json_type(value)} into Go struct field Secret.data of type []uint8"
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                bad = next((n for n, ch in enumerate(value) if not re.match(r"[A-Za-z0-9+/=]", ch)), len(value))
                return f"illegal base64 data at input byte {bad}"
    return None


# ---------------------------------------------------------------- the server


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str  # without parameters
    raw: bytes
    user_agent: str

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Reply:
    code: int
    body: Any
    content_type: str = "application/json"


@dataclass
class _Pending:
    """A status the fake's rollout 'controller' has computed but not yet written: reads left before it lands."""

    reads_left: int
    status: dict[str, Any] = field(default_factory=dict)


class FakeApiServer:
    def __init__(self, auto_ready: bool = True, rollout_delay: int = 0) -> None:
        """``auto_ready`` plays the workload controllers: Deployments/StatefulSets report every replica ready and get a
        Running pod ``<name>-fake0``, Jobs complete. ``rollout_delay`` makes that status lag a spec change for this
        many reads of the object (GETs, and lists that include it), so a waiter that checks
        ``status.observedGeneration`` against ``metadata.generation`` has to wait like on a real cluster."""
        self.objects: dict[Key, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content-type)
        self.auto_ready = auto_ready
        self.rollout_delay = rollout_delay
        # When set, requests must carry `Authorization: Bearer <token>`, or get 401 like a real API server.
        self.require_token: str | None = None
        # Server-side apply: the fields each manager owns, per object.
        self.managed: dict[Key, dict[Manager, set[FieldPath]]] = {}
        self.resources = list(RESOURCES)
        # Stand-ins for controllers: called with (resource, object) after every write; may edit the object.
        self.controllers: list[Callable[[Res, dict[str, Any]], None]] = []
        # What GET pods/<name>/log answers: keyed (namespace, pod) or (namespace, pod, container); default "".
        self.pod_logs: dict[tuple[str, ...], str] = {}
        self.lock = threading.RLock()
        self._rv = 0
        self._custom: set[Res] = set()  # resources served from a CRD
        self._custom_status: set[Res] = set()  # ... whose CRD version declares subresources.status
        self._pending: dict[Key, _Pending] = {}
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

    # ------------------------------------------------------------ direct access for tests (no validation)

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

    # ------------------------------------------------------------ storage

    def _by_kind(self, api_version: str, kind: str) -> Res:
        for r in self.resources:
            if r.api_version == api_version and r.kind == kind:
                return r
        raise KeyError(f"{api_version} {kind}")

    def _has_status(self, res: Res) -> bool:
        return res in self._custom_status if res in self._custom else res.kind in STATUS_SUBRESOURCE_KINDS

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _store(self, res: Res, ns: str, obj: dict[str, Any], create: bool, status_write: bool = False
               ) -> dict[str, Any]:
        """Persist ``obj`` with the bookkeeping the apiserver does (uid, resourceVersion, generation) and let the
        stand-in controllers react; ``status_write`` is a write to /status, which no controller reacts to."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        key = (res.api_version, res.plural, ns if res.namespaced else "", meta["name"])
        old = self.objects.get(key)
        if res.namespaced:
            meta["namespace"] = ns
        if old is not None:  # identity and creation time are the stored object's, whatever the request says
            meta["uid"] = old["metadata"]["uid"]
            meta["creationTimestamp"] = old["metadata"].get("creationTimestamp", CREATION_TIMESTAMP)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", CREATION_TIMESTAMP)
        meta["resourceVersion"] = self._next_rv()
        spec_changed = old is None or old.get("spec") != obj.get("spec")
        meta["generation"] = (old or {}).get("metadata", {}).get("generation", 0) + (1 if spec_changed else 0)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        if res.kind == "Secret" and "stringData" in obj:
            obj.setdefault("data", {}).update({k: base64.b64encode(v.encode()).decode()
                                               for k, v in (obj.pop("stringData") or {}).items()})
        if self.auto_ready and not status_write and res.kind in ("Deployment", "StatefulSet"):
            n = obj.get("spec", {}).get("replicas", 1)
            ready = {"observedGeneration": meta["generation"], "replicas": n, "readyReplicas": n,
                     "updatedReplicas": n, "availableReplicas": n}
            if self.rollout_delay > 0 and spec_changed:
                self._pending[key] = _Pending(self.rollout_delay, ready)
                obj["status"] = copy.deepcopy((old or {}).get("status") or {})
            elif key not in self._pending:
                obj["status"] = ready
            if res.kind == "Deployment":
                self._replica_set(obj, ns, n)
            self._running_pod(obj, ns)
        if self.auto_ready and not status_write and res.kind == "Job":
            obj["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        if res.kind == "CustomResourceDefinition":
            self._register_crd(obj)
            if not status_write:  # what the apiextensions controllers report once the names are accepted
                spec = obj.get("spec") or {}
                obj["status"] = {"conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}],
                                 "acceptedNames": spec.get("names") or {},
                                 "storedVersions": [v["name"] for v in spec.get("versions") or [] if v.get("storage")]}
        for controller in self.controllers:
            controller(res, obj)
        self.objects[key] = obj
        return obj

    def _observe(self, key: Key) -> None:
        """One read of the object: a lagging rollout status lands once its reads are used up."""
        pending = self._pending.get(key)
        if pending is None or key not in self.objects:
            return
        if pending.reads_left > 0:
            pending.reads_left -= 1
            return
        del self._pending[key]
        obj = self.objects[key]
        obj["status"] = pending.status
        obj["metadata"]["resourceVersion"] = self._next_rv()

    def _replica_set(self, deployment: dict[str, Any], ns: str, replicas: int) -> None:
        """What the deployment controller makes: a ReplicaSet it controls whose template is the Deployment's plus
        the pod-template-hash label (helm --wait finds a Deployment's new ReplicaSet this way and counts its ready
        replicas). Its status is ready at once: a rollout lag is the Deployment's (``rollout_delay``)."""
        template = copy.deepcopy(deployment.get("spec", {}).get("template") or {})
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
        template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = digest
        selector = copy.deepcopy(deployment.get("spec", {}).get("selector") or {})
        selector.setdefault("matchLabels", {})["pod-template-hash"] = digest
        meta = deployment["metadata"]
        name = f"{meta['name']}-{digest}"
        self.objects[("apps/v1", "replicasets", ns, name)] = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": ns, "labels": template["metadata"]["labels"],
                         "uid": str(uuid.uuid4()), "creationTimestamp": CREATION_TIMESTAMP,
                         "resourceVersion": self._next_rv(), "generation": 1,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": replicas, "selector": selector, "template": template},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                       "fullyLabeledReplicas": replicas, "observedGeneration": 1},
        }

    def _running_pod(self, owner: dict[str, Any], ns: str) -> None:
        """What a ReplicaSet controller and a kubelet would eventually produce: one Running, ready pod."""
        template = owner.get("spec", {}).get("template", {})
        labels = template.get("metadata", {}).get("labels", {})
        containers = template.get("spec", {}).get("containers", [])
        name = f"{owner['metadata']['name']}-fake0"
        self.objects[("v1", "pods", ns, name)] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "uid": str(uuid.uuid4()),
                         "creationTimestamp": CREATION_TIMESTAMP, "resourceVersion": self._next_rv()},
            "spec": {"containers": [{"name": c["name"], "image": c.get("image", "x")} for c in containers]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", "x"), "imageID": "",
                 "state": {"running": {"startedAt": CREATION_TIMESTAMP}}} for c in containers]},
        }

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            res = Res(spec["group"], version["name"], spec["names"]["plural"], spec["names"]["kind"],
                      spec.get("scope") == "Namespaced")
            if res not in self.resources:
                self.resources.append(res)
            self._custom.add(res)
            if "status" in (version.get("subresources") or {}):
                self._custom_status.add(res)

    # ------------------------------------------------------------ field managers

    def _render_managed(self, key: Key, obj: dict[str, Any]) -> None:
        sets = self.managed.setdefault(key, {})
        for manager in [m for m, paths in sets.items() if not paths]:
            del sets[manager]
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        entries = []
        for manager, paths in sets.items():
            entry: dict[str, Any] = {"manager": manager.name, "operation": manager.operation,
                                     "apiVersion": obj["apiVersion"], "time": now, "fieldsType": "FieldsV1",
                                     "fieldsV1": fields_v1(paths)}
            if manager.subresource:
                entry["subresource"] = manager.subresource
            entries.append(entry)
        if entries:
            obj["metadata"]["managedFields"] = entries
        else:
            obj["metadata"].pop("managedFields", None)

    def _own_update(self, key: Key, before: dict[str, Any] | None, after: dict[str, Any], manager: Manager) -> None:
        """An update takes the fields it changed from everyone else; fields it removed are nobody's any more."""
        old_leaves = leaves(before) if before is not None else {}
        new_leaves = leaves(after)
        changed = {p for p, v in new_leaves.items() if p not in old_leaves or old_leaves[p] != v}
        removed = set(old_leaves) - set(new_leaves)
        touched = touching(changed | removed)
        sets = self.managed.setdefault(key, {})
        for paths in sets.values():
            paths -= {q for q in paths if touched(q)}
        sets.setdefault(manager, set()).update(changed)

    def _view(self, res: Res, obj: dict[str, Any] | None, sub: str) -> dict[str, Any] | None:
        """The part of an object a write owns: its status for /status, all but the status for the main resource of
        a kind with a status subresource, everything otherwise."""
        if obj is None:
            return None
        if sub == "status":
            return {"status": copy.deepcopy(obj.get("status"))} if obj.get("status") is not None else {}
        if self._has_status(res):
            return {k: v for k, v in obj.items() if k != "status"}
        return obj

    # ------------------------------------------------------------ request handling

    def _route(self, path: str) -> tuple[Res, str, str, str]:
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise path_not_found()
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and not (group == "" and rest[2] in ("status", "finalize")):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise path_not_found()
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else ""), (rest[2] if len(rest) > 2 else "")
        res = next((r for r in self.resources if (r.group, r.version, r.plural) == (group, version, plural)), None)
        if res is None or (ns and not res.namespaced) or (res.namespaced and name and not ns):
            raise path_not_found()
        return res, ns, name, sub

    def _dispatch(self, req: Request) -> Reply:
        res, ns, name, sub = self._route(urllib.parse.urlparse(req.path).path)
        key = (res.api_version, res.plural, ns, name)
        if sub:
            if res.kind == "Pod" and sub == "log":
                if req.method != "GET":
                    raise method_not_allowed()
                return self._log(res, ns, name, req)
            if res.kind == "Pod" and sub in ("exec", "attach", "portforward"):
                # The streaming subresources need a SPDY/WebSocket upgrade, which this fake cannot serve; the real
                # server answers a plain request the same way.
                raise bad_request("Upgrade request required")
            if sub != "status" or not self._has_status(res):
                raise path_not_found()
            if req.method not in ("GET", "PUT", "PATCH"):
                raise method_not_allowed()
        if req.method == "GET":
            return self._read(res, key, name) if name else self._list(res, ns, req)
        if res.namespaced and not ns:  # /api/v1/pods and the like only list
            raise method_not_allowed()
        if req.method in ("POST", "PUT", "PATCH", "DELETE") and req.arg("dryRun") is not None:
            return self._dry_run(req, res, ns, name, sub)
        return self._write(req, res, ns, name, sub)

    def _write(self, req: Request, res: Res, ns: str, name: str, sub: str) -> Reply:
        if req.method == "POST":
            if name:
                raise method_not_allowed()
            return self._create(req, res, ns)
        if req.method in ("PUT", "PATCH") and not name:
            raise method_not_allowed()
        if req.method == "PUT":
            return self._update(req, res, ns, name, sub)
        if req.method == "PATCH":
            return self._patch(req, res, ns, name, sub)
        if req.method == "DELETE":
            return self._delete(req, res, ns, name) if name else self._delete_collection(req, res, ns)
        raise method_not_allowed()

    def _dry_run(self, req: Request, res: Res, ns: str, name: str, sub: str) -> Reply:
        """dryRun=All: everything a write does (and refuses), then nothing of it kept."""
        if req.query.get("dryRun") != ["All"]:
            raise invalid("CreateOptions", "meta.k8s.io", "", [FieldError(
                "dryRun", "NotSupported", 'supported values: "All"', gostr(req.arg("dryRun")))])
        saved = (copy.deepcopy(self.objects), copy.deepcopy(self.managed), copy.deepcopy(self._pending),
                 list(self.resources), set(self._custom), set(self._custom_status), self._rv)
        try:
            return self._write(req, res, ns, name, sub)
        finally:
            (self.objects, self.managed, self._pending, self.resources, self._custom, self._custom_status,
             self._rv) = saved

    def _read(self, res: Res, key: Key, name: str) -> Reply:
        if key not in self.objects:
            raise not_found(res, name)
        self._observe(key)
        return Reply(200, self.objects[key])

    def _list(self, res: Res, ns: str, req: Request) -> Reply:
        try:
            labels = parse_label_selector(req.arg("labelSelector") or "")
            fields = parse_field_selector(res.kind, req.arg("fieldSelector") or "")
        except ValueError as exc:
            raise bad_request(f"unable to parse requirement: {exc}") from exc
        items = []
        for key in sorted(self.objects):
            av, plural, item_ns, _ = key
            if av != res.api_version or plural != res.plural or (ns and item_ns != ns):
                continue
            obj = self.objects[key]
            if not all(r.matches(obj["metadata"].get("labels") or {}) for r in labels):
                continue
            if not all((field_value(obj, f) == v) == (op == "=") for f, op, v in fields):
                continue
            self._observe(key)
            item = copy.deepcopy(self.objects[key])
            if res not in self._custom:  # typed lists carry no apiVersion/kind per item; unstructured ones do
                item.pop("apiVersion", None)
                item.pop("kind", None)
            items.append(item)
        return Reply(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                           "metadata": {"resourceVersion": str(self._rv)}, "items": items})

    def _log(self, res: Res, ns: str, name: str, req: Request) -> Reply:
        pod = self.objects.get(("v1", "pods", ns, name))
        if pod is None:
            raise not_found(res, name)
        spec = pod.get("spec") or {}
        names = [c["name"] for c in spec.get("containers") or []]
        init = [c["name"] for c in spec.get("initContainers") or []]
        container = req.arg("container")
        if not container:  # ValidateContainer in pkg/registry/core/pod/strategy.go
            if len(names) != 1:
                hint = f" or one of the init containers: [{' '.join(init)}]" if init else ""
                raise bad_request(f"a container name must be specified for pod {name}, choose one of: "
                                  f"[{' '.join(names)}]{hint}")
            container = names[0]
        elif container not in names + init:
            raise bad_request(f"container {container} is not valid for pod {name}")
        if (req.arg("previous") or "").lower() in ("true", "1"):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            restarted = any(s.get("name") == container and s.get("restartCount") for s in statuses)
            if not restarted:
                raise bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
            text = self.pod_logs.get((ns, name, container, "previous"), "")
        else:
            text = self.pod_logs.get((ns, name, container), self.pod_logs.get((ns, name), ""))
        tail = req.arg("tailLines")
        if tail is not None and tail.isdigit():
            lines = text.splitlines(keepends=True)
            text = "".join(lines[len(lines) - int(tail):]) if int(tail) else ""
        return Reply(200, text, "text/plain")

    # ------------------------------------------------------------ writes

    def _body(self, req: Request, res: Res) -> dict[str, Any]:
        """Decode a POST/PUT body like the apiserver's serializer: unknown media types are 415, what JSON cannot
        decode into the kind's Go type is 400."""
        if req.content_type not in ["", *BODY_TYPES]:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                           f"media types include: {', '.join(BODY_TYPES)}")
        if req.content_type == PROTOBUF:
            try:
                req = replace(req, raw=json.dumps(fakeproto.decode(req.raw)).encode())
            except (fakeproto.ProtoError, UnicodeDecodeError) as exc:
                raise ApiError(415, "UnsupportedMediaType", f"protobuf body: {exc}") from exc
        return self._parse(req, res, yaml_body="yaml" in req.content_type)

    def _parse(self, req: Request, res: Res, yaml_body: bool) -> Any:
        try:
            body = yaml.safe_load(req.raw) if yaml_body else json.loads(req.raw or b"null")
        except (ValueError, yaml.YAMLError) as exc:
            raise bad_request(f"the object provided is unrecognized (must be of type {res.kind}): couldn't get "
                              f"version/kind; json parse error: {exc}") from exc
        if req.method != "PATCH" or req.content_type == APPLY_PATCH:
            if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
                raise bad_request(f"the object provided is unrecognized (must be of type {res.kind})")
            self._check_decodable(res, body)
        return body

    def _check_decodable(self, res: Res, obj: dict[str, Any]) -> None:
        error = decode_errors(res, obj)
        if error:
            raise bad_request(f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: {error}')

    def _check_identity(self, res: Res, body: dict[str, Any], ns: str, name: str | None) -> None:
        """The object must be of the endpoint's type, namespace and (on update) name (handlers' checkName)."""
        if body.get("apiVersion") not in (None, res.api_version):
            raise bad_request(f"the API version in the data ({body['apiVersion']}) does not match the expected API "
                              f"version ({res.api_version})")
        if body.get("kind") not in (None, res.kind):
            raise bad_request(f"the object provided is unrecognized (must be of type {res.kind}): kind "
                              f"{body['kind']!r} does not match")
        meta = body.setdefault("metadata", {})
        if res.namespaced and meta.get("namespace") not in (None, "", ns):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if name is not None and meta.get("name") != name:
            raise bad_request(f"the name of the object ({meta.get('name') or ''}) does not match the name on the URL "
                              f"({name})")

    def _check_namespace(self, res: Res, ns: str) -> None:
        """The NamespaceLifecycle admission plugin: nothing is created in a namespace that does not exist."""
        if res.namespaced and ("v1", "namespaces", "", ns) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})

    def _manager(self, req: Request, operation: str, res: Res, sub: str) -> Manager:
        """The fieldManager query, else the User-Agent's product ("Python-urllib/3.11" -> Python-urllib), like
        prefixFromUserAgent in the apiserver's fieldmanager."""
        name = req.arg("fieldManager") or req.user_agent.split("/", 1)[0] or "unknown"
        return Manager(name, operation, res.api_version, sub)

    def _admit(self, res: Res, ns: str, obj: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
        """Defaulting then validation (422), as PrepareForCreate/Update, Validate and ValidateUpdate do."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        if res.namespaced:
            meta["namespace"] = ns
        if res.kind == "Secret":
            obj.setdefault("type", "Opaque")
        if res.kind == "Namespace":  # the apiserver labels every namespace with its own name
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        if res.kind == "Job" and old is None and not dig(obj, ("spec", "manualSelector")):
            self._default_job_selector(obj)
        errors = validate(res, obj, old, res in self._custom)
        if errors:
            raise invalid(res.kind, res.group, meta["name"], errors)
        return obj

    def _default_job_selector(self, job: dict[str, Any]) -> None:
        """The Job strategy generates the selector from the Job's uid and labels the template with it; a selector
        the client set without manualSelector is refused."""
        spec = job.setdefault("spec", {})
        if spec.get("selector"):
            raise invalid("Job", "batch", job["metadata"]["name"], [FieldError(
                "spec.selector", "Invalid", "`selector` not auto-generated", gostr(spec["selector"]))])
        uid = job["metadata"].setdefault("uid", str(uuid.uuid4()))
        name = job["metadata"]["name"]
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels.update({"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                       "controller-uid": uid, "job-name": name})

    def _reset_status_on_create(self, res: Res, obj: dict[str, Any]) -> None:
        """PrepareForCreate of kinds with a status subresource drops the client's status (Nodes keep theirs: the
        kubelet registers with one); a Pod starts Pending, a Namespace Active."""
        if not self._has_status(res) or res.kind == "Node":
            return
        obj["status"] = {"Pod": {"phase": "Pending"}, "Namespace": {"phase": "Active"}}.get(res.kind, {})
        if not obj["status"]:
            obj.pop("status")

    def _create(self, req: Request, res: Res, ns: str) -> Reply:
        body = self._body(req, res)
        self._check_namespace(res, ns)
        self._check_identity(res, body, ns, None)
        meta = body["metadata"]
        if meta.get("resourceVersion"):  # storeerr.InterpretCreateError (1.29+)
            raise bad_request("resourceVersion can not be set for Create requests")
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(res.kind, res.group, "", [FieldError("metadata.name", "Required", "name or "
                                                                   "generateName is required")])
            meta["name"] = meta["generateName"] + "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
        self._reset_status_on_create(res, body)
        for key in ("uid", "creationTimestamp", "generation", "managedFields", "deletionTimestamp"):
            meta.pop(key, None)
        obj = self._admit(res, ns, body, None)
        key = (res.api_version, res.plural, ns, meta["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f'{qualified_resource(res)} "{meta["name"]}" already exists',
                           _details(res, meta["name"]))
        stored = self._store(res, ns, obj, create=True)
        self._own_update(key, None, self._view(res, stored, "") or {}, self._manager(req, "Update", res, ""))
        self._render_managed(key, stored)
        return Reply(201, stored)

    def _check_resource_version(self, res: Res, name: str, wanted: Any, old: dict[str, Any], required: bool) -> None:
        """Optimistic concurrency: a stale resourceVersion is a conflict; CRDs and custom resources refuse updates
        without one (their strategies' AllowUnconditionalUpdate is false)."""
        if wanted in (None, ""):
            if required and (res in self._custom or res.kind == "CustomResourceDefinition"):
                # genericregistry.Store.Update names the resource where the kind would go
                raise invalid(res.plural, res.group, name, [
                    FieldError("metadata.resourceVersion", "Invalid", "must be specified for an update", "0x0")])
            return
        if str(wanted) != old["metadata"]["resourceVersion"]:
            raise conflict(res, name, STALE)

    def _update(self, req: Request, res: Res, ns: str, name: str, sub: str) -> Reply:
        body = self._body(req, res)
        key = (res.api_version, res.plural, ns, name)
        old = self.objects.get(key)
        if old is None:
            raise not_found(res, name)
        self._check_identity(res, body, ns, name)
        self._check_resource_version(res, name, body["metadata"].get("resourceVersion"), old, required=True)
        return self._commit(req, res, ns, key, old, body, sub, "Update")

    def _commit(self, req: Request, res: Res, ns: str, key: Key, old: dict[str, Any], new: dict[str, Any], sub: str,
                operation: str, applied: set[FieldPath] | None = None) -> Reply:
        """Store an update: /status takes only the status, the main resource keeps the stored status (kinds with a
        status subresource); then defaults, validation, immutability, ownership."""
        if sub == "status":
            merged = copy.deepcopy(old)
            merged["status"] = copy.deepcopy(new.get("status"))
            if merged["status"] is None:
                merged.pop("status")
            new = merged
        else:
            new = copy.deepcopy(new)
            if self._has_status(res):
                new.pop("status", None)
                if old.get("status") is not None:
                    new["status"] = copy.deepcopy(old["status"])
            meta = new.setdefault("metadata", {})
            for carried in ("deletionTimestamp", "deletionGracePeriodSeconds"):
                if carried in old["metadata"]:
                    meta[carried] = old["metadata"][carried]
        obj = self._admit(res, ns, new, old)
        before = self._view(res, old, sub)
        stored = self._store(res, ns, obj, create=False, status_write=sub == "status")
        manager = self._manager(req, operation, res, sub)
        if operation == "Apply":
            self.managed.setdefault(key, {})[manager] = set(applied or ())
        else:
            self._own_update(key, before, self._view(res, stored, sub) or {}, manager)
        self._render_managed(key, stored)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"].get("finalizers"):
            self._remove(res, key)  # the last finalizer is gone: the deletion completes
        return Reply(200, stored)

    def _patch(self, req: Request, res: Res, ns: str, name: str, sub: str) -> Reply:
        accepted = CUSTOM_PATCH_TYPES if res in self._custom else BUILTIN_PATCH_TYPES
        if req.content_type not in accepted:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                           f"accepted media types include: {', '.join(accepted)}")
        apply = req.content_type == APPLY_PATCH
        # ValidatePatchOptions (apimachinery/pkg/apis/meta/v1/validation): 422 before the object is even looked up.
        if apply and not req.arg("fieldManager"):
            raise invalid("PatchOptions", "meta.k8s.io", "", [FieldError("fieldManager", "Required",
                                                                          "is required for apply patch")])
        if not apply and req.arg("force") is not None:
            raise invalid("PatchOptions", "meta.k8s.io", "", [FieldError("force", "Forbidden",
                                                                          "may not be specified for non-apply patch")])
        body = self._parse(req, res, yaml_body=apply)
        key = (res.api_version, res.plural, ns, name)
        old = self.objects.get(key)
        if apply:
            return self._apply(req, res, ns, name, sub, body, old)
        if old is None:
            raise not_found(res, name)
        try:
            if req.content_type == JSON_PATCH:
                patched = json_patch(old, body)
            elif not isinstance(body, dict):
                raise ValueError("json: cannot unmarshal array into Go value of type map[string]interface {}")
            elif req.content_type == MERGE_PATCH:
                patched = merge_patch(old, body)
            else:
                patched = strategic_merge(old, body)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        except PatchFailed as exc:  # patch.go: NewGenericServerResponse(422, ...) with the library's words
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {
                "causes": [{"reason": "UnexpectedServerResponse", "message": str(exc)}]}) from exc
        if not isinstance(patched, dict):
            raise bad_request(f"the object provided is unrecognized (must be of type {res.kind})")
        self._check_decodable(res, patched)
        meta = patched.setdefault("metadata", {})
        self._check_resource_version(res, name, meta.get("resourceVersion"), old, required=False)
        self._check_identity(res, patched, ns, name)
        return self._commit(req, res, ns, key, old, patched, sub, "Update")

    def _apply(self, req: Request, res: Res, ns: str, name: str, sub: str, body: dict[str, Any],
               old: dict[str, Any] | None) -> Reply:
        """Server-side apply: the applier owns exactly what it applied; a field it changes that another manager
        owns is a conflict (409) unless forced, which moves the ownership; a field it applied before and no longer
        does is removed when nobody else owns it."""
        if body.get("apiVersion") != res.api_version:  # fieldmanager's structuredmerge.go
            raise bad_request(f"Incorrect version specified in apply patch. Specified patch version: "
                              f"{body.get('apiVersion') or ''}, expected: {res.api_version}")
        if body.get("kind") != res.kind:
            raise bad_request(f"the object provided is unrecognized (must be of type {res.kind}): kind "
                              f"{body.get('kind')!r} does not match")
        self._check_identity(res, body, ns, name)
        force_arg = (req.arg("force") or "false").lower()
        if force_arg not in ("1", "t", "true", "0", "f", "false"):  # strconv.ParseBool
            raise bad_request(f'strconv.ParseBool: parsing "{req.arg("force")}": invalid syntax')
        force = force_arg in ("1", "t", "true")
        applied_obj = self._view(res, body, sub) or {}
        applied = set(leaves(applied_obj))
        key = (res.api_version, res.plural, ns, name)
        manager = self._manager(req, "Apply", res, sub)
        if old is None:
            if sub:
                raise not_found(res, name)
            self._check_namespace(res, ns)
            if body["metadata"].get("resourceVersion"):
                raise bad_request("resourceVersion can not be set for Create requests")
            obj = strategic_merge({}, body)
            self._reset_status_on_create(res, obj)
            obj = self._admit(res, ns, obj, None)
            stored = self._store(res, ns, obj, create=True)
            self.managed[key] = {manager: applied}
            self._render_managed(key, stored)
            return Reply(201, stored)
        self._check_resource_version(res, name, body["metadata"].get("resourceVersion"), old, required=False)
        live = self._view(res, old, sub) or {}
        merged = strategic_merge(live, applied_obj)
        sets = self.managed.setdefault(key, {})
        others = set().union(*(paths for m, paths in sets.items() if m != manager))
        for path in sets.get(manager, set()) - applied:
            if path not in others:
                remove_path(merged, path)
        touched = touching(applied)
        conflicts = [(m, q) for m, paths in sets.items() if m != manager
                     for q in sorted(paths) if touched(q) and dig(live, q) != dig(merged, q)]
        if conflicts and not force:
            raise ApiError(409, "Conflict", conflict_message(conflicts), {"causes": [
                {"reason": "FieldManagerConflict", "message": f"conflict with {m.describe()}",
                 "field": path_string(q)} for m, q in conflicts]})
        for m, q in conflicts:
            sets[m].discard(q)
        return self._commit(req, res, ns, key, old, merged, sub, "Apply", applied)

    def _delete(self, req: Request, res: Res, ns: str, name: str) -> Reply:
        key = (res.api_version, res.plural, ns, name)
        obj = self.objects.get(key)
        if obj is None:
            raise not_found(res, name)
        try:
            if req.content_type == PROTOBUF and req.raw:
                options = fakeproto.decode(req.raw)
            else:
                options = json.loads(req.raw) if req.raw.strip() else {}
        except ValueError as exc:
            raise bad_request(f"the object provided is unrecognized (must be of type DeleteOptions): {exc}") from exc
        preconditions = (options or {}).get("preconditions") or {}
        for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            wanted, have = preconditions.get(field_name), obj["metadata"].get(field_name)
            if wanted is not None and wanted != have:
                raise conflict(res, name, f"Precondition failed: {label} in precondition: {wanted}, {label} in "
                                          f"object meta: {have}")
        if res.kind == "Namespace" and name in ("default", "kube-system", "kube-public"):
            raise ApiError(403, "Forbidden", f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                           {"name": name, "kind": "namespaces"})
        if obj["metadata"].get("finalizers"):  # the object stays, marked, until its finalizers are removed
            if not obj["metadata"].get("deletionTimestamp"):
                obj["metadata"]["deletionTimestamp"] = datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                obj["metadata"]["resourceVersion"] = self._next_rv()
            return Reply(200, obj)
        self._remove(res, key)
        if res.kind in RETURNS_DELETED_OBJECT:
            gone = copy.deepcopy(obj)
            if res.kind == "Namespace":  # what the namespace looks like while its controller empties it
                gone["metadata"]["deletionTimestamp"] = datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
                gone["status"] = {"phase": "Terminating"}
            return Reply(200, gone)
        details = _details(res, name)
        details["uid"] = obj["metadata"].get("uid")
        return Reply(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                           "details": details})

    def _remove(self, res: Res, key: Key) -> None:
        """Delete an object and what the control plane would garbage-collect with it."""
        obj = self.objects.pop(key, None)
        self.managed.pop(key, None)
        self._pending.pop(key, None)
        if obj is None:
            return
        name = obj["metadata"]["name"]
        if res.kind == "Namespace":
            for other in [k for k in self.objects if k[2] == name]:
                self._remove(next(r for r in self.resources if (r.api_version, r.plural) == other[:2]), other)
        if res.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            self.objects.pop(("v1", "pods", key[2], f"{name}-fake0"), None)
        if res.kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            gone = {r for r in self._custom if r.group == spec.get("group") and r.plural == (spec.get("names") or {})
                    .get("plural")}
            for other in [k for k in self.objects if any((r.api_version, r.plural) == k[:2] for r in gone)]:
                self.objects.pop(other)
            self.resources = [r for r in self.resources if r not in gone]
            self._custom -= gone
            self._custom_status -= gone

    def _delete_collection(self, req: Request, res: Res, ns: str) -> Reply:
        listed = self._list(res, ns, req).body["items"]
        deleted = []
        for item in listed:
            key = (res.api_version, res.plural, ns or item["metadata"].get("namespace", ""), item["metadata"]["name"])
            if key in self.objects:
                deleted.append(copy.deepcopy(self.objects[key]))
                self._remove(res, key)
        return Reply(200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                           "metadata": {"resourceVersion": str(self._rv)}, "items": deleted})

    # ------------------------------------------------------------ discovery

    def _discovery(self, path: str) -> Reply | None:
        path = path.rstrip("/")
        if path == "/version":
            return Reply(200, {"major": "1", "minor": "30", "gitVersion": "v1.30.13-fake", "gitCommit": "0",
                               "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.22",
                               "compiler": "gc", "platform": "linux/amd64"})
        if path == "/api":
            return Reply(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = sorted({(r.group, r.version) for r in self.resources if r.group})
            return Reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                 "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}} for g, v in groups]})
        if path == "/openapi/v3":
            return Reply(200, {"paths": {gv_path: {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={self._rv}"}
                                         for gv_path in sorted({self._gv_path(r) for r in self.resources})}})
        if path.startswith("/openapi/v3/"):
            return self._openapi_v3(path[len("/openapi/v3/"):])
        if path == "/api/v1" or (path.startswith("/apis/") and path.count("/") == 3):
            gv = "v1" if path == "/api/v1" else path[len("/apis/"):]
            entries = []
            for r in self.resources:
                if r.api_version != gv:
                    continue
                entries.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                                "kind": r.kind, "verbs": ["create", "delete", "deletecollection", "get", "list",
                                                          "patch", "update", "watch"]})
                if self._has_status(r):
                    entries.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                                    "kind": r.kind, "verbs": ["get", "patch", "update"]})
                if r.kind == "Pod":
                    entries.append({"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod",
                                    "verbs": ["get"]})
            if not entries:
                return None
            return Reply(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": entries})
        return None

    @staticmethod
    def _gv_path(res: Res) -> str:
        return f"apis/{res.group}/{res.version}" if res.group else "api/v1"

    def _openapi_v3(self, gv_path: str) -> Reply | None:
        """The OpenAPI v3 document of one group/version, as far as clients read it: each object path with its
        operations tagged x-kubernetes-group-version-kind and the query parameters they take. kubectl's and helm's
        builder look for `fieldValidation` on PATCH to leave schema validation to the server (which kube-apiserver
        has done since 1.27); without OpenAPI they fall back to /openapi/v2 and fail. No schemas are served."""
        served = [r for r in self.resources if self._gv_path(r) == gv_path]
        if not served:
            return None
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation")]
        paths: dict[str, Any] = {}
        for r in served:
            gvk = {"group": r.group, "version": r.version, "kind": r.kind}
            base = f"/{gv_path}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"/{gv_path}/{r.plural}"
            paths[base] = {verb: {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                                  "parameters": params if verb == "post" else []}
                           for verb, action in (("get", "list"), ("post", "post"))}
            paths[base + "/{name}"] = {verb: {"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                                              "parameters": params if verb in ("put", "patch") else []}
                                       for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"),
                                                            ("delete", "delete"))}
        return Reply(200, {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.30.13-fake"},
                           "paths": paths, "components": {"schemas": {}}})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, reply: Reply) -> None:
                data = reply.body.encode() if isinstance(reply.body, str) else json.dumps(reply.body).encode()
                self.send_response(reply.code)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                ctype = self.headers.get("Content-Type") or ""
                server.requests.append((method, self.path, ctype))
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if server.require_token is not None and \
                        self.headers.get("Authorization") != f"Bearer {server.require_token}":
                    self._send(Reply(401, ApiError(401, "Unauthorized", "Unauthorized").status()))
                    return
                parsed = urllib.parse.urlparse(self.path)
                req = Request(method, self.path, urllib.parse.parse_qs(parsed.query),
                              ctype.split(";", 1)[0].strip().lower(), raw, self.headers.get("User-Agent") or "")
                try:
                    with server.lock:
                        reply = (server._discovery(parsed.path) if method == "GET" else None) or server._dispatch(req)
                except ApiError as exc:
                    reply = Reply(exc.code, exc.status())
                except Exception as exc:  # a bug in the fake: say so instead of dropping the connection
                    reply = Reply(500, ApiError(500, "InternalError", f"Internal error occurred: {exc!r}").status())
                self._send(reply)

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
