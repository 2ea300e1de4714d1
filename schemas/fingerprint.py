"""Parsing Canonical Form and the CRC-64-AVRO fingerprint, as the Avro specification defines them.

Implemented here (rather than taken from a library) so that the exact bytes the envelope
relies on are visible and tested against the spec's vectors and two independent libraries.

* :func:`canonical_form` applies the spec's transformations: PRIMITIVES (``{"type": "int"}``
  becomes ``"int"``), FULLNAMES (every name fully qualified, namespaces dropped), STRIP
  (only ``type``, ``name``, ``fields``, ``symbols``, ``items``, ``values``, ``size`` are kept),
  ORDER (in that order, ``name`` first), STRINGS and INTEGERS (JSON literals, no leading
  zeros) and WHITESPACE (none). A named type is written in full at its first occurrence and
  by its full name afterwards.
* :func:`crc64_avro` is the Rabin fingerprint with the spec's EMPTY constant; the single-object
  encoding carries it as 8 little-endian bytes, which :func:`fingerprint_bytes` returns.
"""

from __future__ import annotations

import json
from typing import Any

EMPTY = 0xC15D213AA4D7A795


def _table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _table()

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_KEEP_ORDER = ("name", "type", "fields", "symbols", "items", "values", "size")


def crc64_avro(data: bytes) -> int:
    """The 64-bit CRC-64-AVRO fingerprint of ``data`` (as an unsigned integer)."""
    fp = EMPTY
    table = _TABLE
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def _fullname(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _canonical(schema: Any, namespace: str | None, seen: set[str]) -> Any:
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return schema
        return _fullname(schema, namespace)
    if isinstance(schema, list):
        return [_canonical(branch, namespace, seen) for branch in schema]
    if not isinstance(schema, dict):
        raise ValueError(f"not an Avro schema: {schema!r}")
    kind = schema.get("type")
    if isinstance(kind, str) and kind in PRIMITIVES:
        return kind
    if not isinstance(kind, str):
        return _canonical(kind, namespace, seen)
    out: dict[str, Any] = {}
    if kind in ("record", "error", "enum", "fixed"):
        name = _fullname(str(schema["name"]), schema.get("namespace", namespace))
        if name in seen:
            return name
        seen.add(name)
        namespace = name.rpartition(".")[0] or None
        out["name"] = name
    out["type"] = "record" if kind == "error" else kind
    if kind in ("record", "error"):
        out["fields"] = [
            {"name": f["name"], "type": _canonical(f["type"], namespace, seen)}
            for f in schema["fields"]
        ]
    elif kind == "enum":
        out["symbols"] = list(schema["symbols"])
    elif kind == "array":
        out["items"] = _canonical(schema["items"], namespace, seen)
    elif kind == "map":
        out["values"] = _canonical(schema["values"], namespace, seen)
    elif kind == "fixed":
        out["size"] = int(schema["size"])
    return {key: out[key] for key in _KEEP_ORDER if key in out}


def canonical_form(schema: Any) -> str:
    """The Parsing Canonical Form of a schema given as parsed JSON."""
    return json.dumps(_canonical(schema, None, set()), separators=(",", ":"), ensure_ascii=False)


def fingerprint(schema: Any) -> int:
    """CRC-64-AVRO of the Parsing Canonical Form (unsigned 64-bit integer)."""
    return crc64_avro(canonical_form(schema).encode("utf-8"))


def fingerprint_bytes(value: int) -> bytes:
    """The 8 little-endian bytes the single-object encoding and the envelope headers carry."""
    return value.to_bytes(8, "little")


def fingerprint_hex(value: int) -> str:
    """The fingerprint as 16 lowercase hex digits of its little-endian bytes (as on the wire)."""
    return fingerprint_bytes(value).hex()
