"""Valid records for any dataset, built from the schema itself (codes from the code lists)."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import Any

from lmis_hub.tokens import key_id_prefix, make_token
from schemas.catalog import SchemaVersion
from schemas.codelists import CodeLists
from schemas.record_ids import RECORD_ID_LENGTH

BASE_DATE = date(2025, 3, 1)
#: The link-key generation of every sample token (one batch carries one generation).
SAMPLE_KEY_ID = 1


def sample_token(seed: str, *, key_id: int = SAMPLE_KEY_ID) -> bytes:
    """A token of generation ``key_id`` for ``seed``, laid out as a connector lays it out."""
    return make_token(key_id_prefix(key_id), hashlib.sha256(seed.encode()).digest())


def _value(field: dict[str, Any], schema: Any, i: int, lists: CodeLists) -> Any:
    name = field["name"]
    if isinstance(schema, list):
        if "null" in schema and i % 3 == 0 and name != "record_id":
            return None
        schema = next(b for b in schema if b != "null")
    if "token" in field:
        if isinstance(schema, dict) and schema.get("type") == "array":  # e.g. ID variants
            return [sample_token(f"{name}:{i}:{k}") for k in range(i % 3 + 1)]
        return sample_token(f"{name}:{i}")
    if name == "record_id" or name.endswith("_record_id"):
        return opaque_sample_id(f"{name}:{i}")
    if "codelist" in field:
        codes = list(lists[field["codelist"]].labels)
        return codes[(i * 7) % len(codes)]
    if isinstance(schema, dict):
        logical = schema.get("logicalType")
        if logical == "date":
            return BASE_DATE + timedelta(days=i % 400)
        if logical == "timestamp-millis":
            return datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=i)
        if schema.get("type") == "array":
            return []
        if schema.get("type") == "enum":
            return schema["symbols"][i % len(schema["symbols"])]
        schema = schema["type"]
    low, high = field.get("minimum", 0), field.get("maximum")
    if schema in ("int", "long"):
        value = low + (i % 50)
        return min(value, high) if high is not None else value
    if schema == "double":
        return 1.5 + i
    if schema == "boolean":
        return i % 2 == 0
    if schema == "string":
        return f"{name}-{i}"
    raise AssertionError(f"no sample for {name}: {schema!r}")


def opaque_sample_id(seed: str) -> str:
    """A record id in the opaque format (schemas/record_ids.py), unique per ``seed``."""
    return hashlib.sha256(seed.encode()).hexdigest()[:RECORD_ID_LENGTH]


def sample_record(sv: SchemaVersion, i: int, lists: CodeLists | None = None) -> dict[str, Any]:
    """Record number ``i`` of dataset ``sv``: valid against every rule of the schema."""
    lists = lists or CodeLists.packaged()
    record = {f["name"]: _value(f, f["type"], i, lists) for f in sv.fields}
    # Keep the order rules true: both fields of a pair get the same value.
    for first, second in sv.raw.get("lmis.rules", []):
        if record[first] is not None and record[second] is not None:
            record[second] = record[first]
    return record


def sample_records(sv: SchemaVersion, n: int) -> list[dict[str, Any]]:
    lists = CodeLists.packaged()
    return [sample_record(sv, i, lists) for i in range(n)]
