"""Reading the Kubernetes protobuf encoding of a batch/v1 Job, as ``kubectl create job`` sends it.

kubectl's typed clients send built-in objects as ``application/vnd.kubernetes.protobuf``:
the 4-byte magic ``k8s\\x00`` and a ``runtime.Unknown`` message (type meta, then the
object's bytes). This module turns such a body into the JSON dict the API would have
received, for the fields ``kubectl create job`` fills in (metadata, spec, pod template,
containers with command and args). Unknown fields are skipped, as protobuf readers do; values
Go always writes (empty strings, zero counts of non-optional fields) are dropped the way
JSON's ``omitempty`` drops them.

Field numbers are those of ``k8s.io/api`` ``generated.proto`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# message -> field number -> (JSON name, kind, sub-message or None, repeated)
Schema = Mapping[str, Mapping[int, tuple[str, str, str | None, bool]]]
SCHEMA: Schema = {
    "Unknown": {1: ("typeMeta", "msg", "TypeMeta", False), 2: ("raw", "bytes", None, False)},
    "TypeMeta": {1: ("apiVersion", "str", None, False), 2: ("kind", "str", None, False)},
    "Job": {1: ("metadata", "msg", "ObjectMeta", False), 2: ("spec", "msg", "JobSpec", False)},
    "ObjectMeta": {
        1: ("name", "str", None, False),
        2: ("generateName", "str", None, False),
        3: ("namespace", "str", None, False),
        11: ("labels", "map", None, False),
        12: ("annotations", "map", None, False),
    },
    "JobSpec": {
        1: ("parallelism", "opt_int", None, False),
        2: ("completions", "opt_int", None, False),
        3: ("activeDeadlineSeconds", "opt_int", None, False),
        5: ("manualSelector", "opt_bool", None, False),
        6: ("template", "msg", "PodTemplateSpec", False),
        7: ("backoffLimit", "opt_int", None, False),
        8: ("ttlSecondsAfterFinished", "opt_int", None, False),
        9: ("completionMode", "str", None, False),
        10: ("suspend", "opt_bool", None, False),
        14: ("podReplacementPolicy", "str", None, False),
    },
    "PodTemplateSpec": {
        1: ("metadata", "msg", "ObjectMeta", False),
        2: ("spec", "msg", "PodSpec", False),
    },
    "PodSpec": {
        2: ("containers", "msg", "Container", True),
        3: ("restartPolicy", "str", None, False),
        4: ("terminationGracePeriodSeconds", "opt_int", None, False),
        8: ("serviceAccountName", "str", None, False),
    },
    "Container": {
        1: ("name", "str", None, False),
        2: ("image", "str", None, False),
        3: ("command", "str", None, True),
        4: ("args", "str", None, True),
    },
}


class ProtobufError(ValueError):
    """A body that is not a valid Kubernetes protobuf encoding."""


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs of one message: ints for varints, bytes otherwise."""
    found: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            found.append((number, value))
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise ProtobufError("truncated field")
            found.append((number, data[at : at + length]))
            at += length
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return found


def _message(data: bytes, name: str) -> dict[str, Any]:
    schema = SCHEMA[name]
    result: dict[str, Any] = {}
    for number, raw in _fields(data):
        if number not in schema:
            continue
        key, kind, sub, repeated = schema[number]
        value: Any
        if kind in ("opt_int", "opt_bool"):
            if not isinstance(raw, int):
                raise ProtobufError(f"{name}.{key}: expected a varint")
            value = bool(raw) if kind == "opt_bool" else _signed(raw)
        elif not isinstance(raw, bytes):
            raise ProtobufError(f"{name}.{key}: expected length-delimited data")
        elif kind == "str":
            value = raw.decode()
        elif kind == "bytes":
            value = raw
        elif kind == "map":
            entry = {n: v for n, v in _fields(raw) if isinstance(v, bytes)}
            result.setdefault(key, {})[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
            continue
        else:
            assert sub is not None
            value = _message(raw, sub)
        if repeated:
            result.setdefault(key, []).append(value)
        elif value not in ("", {}):
            result[key] = value
    return result


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def decode_job(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded Job (ProtobufError when it is not one)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    try:
        unknown = _message(body[len(MAGIC) :], "Unknown")
        type_meta = unknown.get("typeMeta") or {}
        if (type_meta.get("apiVersion"), type_meta.get("kind")) != ("batch/v1", "Job"):
            raise ProtobufError(f"not a batch/v1 Job: {type_meta}")
        job = _message(unknown.get("raw") or b"", "Job")
    except UnicodeDecodeError as exc:
        raise ProtobufError(f"a string field is not UTF-8: {exc}") from exc
    return {"apiVersion": "batch/v1", "kind": "Job", **job}
