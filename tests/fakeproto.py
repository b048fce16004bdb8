"""The Kubernetes protobuf bodies tests/fakeapi.py decodes, as kube-apiserver does.

client-go's typed clients send protobuf when they are told to, and helm's release storage is one of them:
it creates and updates its release Secrets as `application/vnd.kubernetes.protobuf`. The wire format is
k8s.io/apimachinery's envelope (the magic ``k8s\\0`` and a runtime.Unknown naming apiVersion/kind) around the
object's generated.proto message. Only the kinds clients are seen to send this way are known; anything else
is refused (415) instead of being guessed at.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

MAGIC = b"k8s\x00"


class ProtoError(ValueError):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) for each field: an int for varints, bytes for length-delimited ones."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(buf, pos)
            if pos + length > len(buf):
                raise ProtoError("truncated field")
            yield number, buf[pos:pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise ProtoError(f"wire type {wire} of field {number}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtoError("expected a string")
    return value.decode()


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise ProtoError("expected bytes")
    return value


def _entry(value: int | bytes) -> tuple[str, bytes]:
    parts = dict(fields(_bytes(value)))
    return _text(parts.get(1, b"")), _bytes(parts.get(2, b""))


def _time(value: int | bytes) -> str | None:
    import datetime

    seconds = dict(fields(_bytes(value))).get(1, 0)
    if not isinstance(seconds, int) or seconds == 0:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


META_STRINGS = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}


def object_meta(buf: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, value in fields(buf):
        if number in META_STRINGS:
            meta[META_STRINGS[number]] = _text(value)
        elif number == 7 and isinstance(value, int):
            meta["generation"] = value
        elif number == 8:
            stamp = _time(value)
            if stamp:
                meta["creationTimestamp"] = stamp
        elif number in (11, 12):
            key, raw = _entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = raw.decode()
        elif number == 14:
            meta.setdefault("finalizers", []).append(_text(value))
        elif number in (9, 10, 13, 17):
            raise ProtoError(f"ObjectMeta field {number} (deletion, ownerReferences, managedFields) is not decoded")
    return meta


def secret(buf: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in fields(buf):
        if number == 1:
            obj["metadata"] = object_meta(_bytes(value))
        elif number == 2:
            key, raw = _entry(value)
            obj.setdefault("data", {})[key] = base64.b64encode(raw).decode()
        elif number == 3:
            obj["type"] = _text(value)
        elif number == 4:
            key, raw = _entry(value)
            obj.setdefault("stringData", {})[key] = raw.decode()
        elif number == 5:
            obj["immutable"] = bool(value)
    return obj


def config_map(buf: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in fields(buf):
        if number == 1:
            obj["metadata"] = object_meta(_bytes(value))
        elif number in (2, 3):
            key, raw = _entry(value)
            if number == 2:
                obj.setdefault("data", {})[key] = raw.decode()
            else:
                obj.setdefault("binaryData", {})[key] = base64.b64encode(raw).decode()
        elif number == 4:
            obj["immutable"] = bool(value)
    return obj


def delete_options(buf: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for number, value in fields(buf):
        if number == 1 and isinstance(value, int):
            obj["gracePeriodSeconds"] = value
        elif number == 2:
            pre = dict(fields(_bytes(value)))
            obj["preconditions"] = {k: _text(pre[n]) for n, k in ((1, "uid"), (2, "resourceVersion")) if n in pre}
        elif number == 3:
            obj["orphanDependents"] = bool(value)
        elif number == 4:
            obj["propagationPolicy"] = _text(value)
        elif number == 5:
            obj.setdefault("dryRun", []).append(_text(value))
    return obj


DECODERS: dict[tuple[str, str], Callable[[bytes], dict[str, Any]]] = {
    ("v1", "Secret"): secret, ("v1", "ConfigMap"): config_map,
    ("v1", "DeleteOptions"): delete_options, ("meta.k8s.io/v1", "DeleteOptions"): delete_options}


def decode(raw: bytes) -> dict[str, Any]:
    """A protobuf request body as the JSON object it stands for."""
    if not raw.startswith(MAGIC):
        raise ProtoError("no k8s protobuf envelope")
    unknown = dict(fields(raw[len(MAGIC):]))
    type_meta = dict(fields(_bytes(unknown.get(1, b""))))
    api_version, kind = _text(type_meta.get(1, b"")), _text(type_meta.get(2, b""))
    decoder = DECODERS.get((api_version, kind))
    if decoder is None:
        raise ProtoError(f"the fake decodes no protobuf {api_version} {kind}")
    return {"apiVersion": api_version, "kind": kind, **decoder(_bytes(unknown.get(2, b"")))}


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def encode_field(number: int, value: int | bytes) -> bytes:
    """For tests of the decoder: one field on the wire."""
    if isinstance(value, int):
        return _key(number, 0) + _encode_varint(value)
    return _key(number, 2) + _encode_varint(len(value)) + value
