"""Record validation: Avro types, code lists and the domain rules written in the schemas.

Rules come from the schema itself, so a new dataset needs no code:

* field ``"codelist": "<list>"`` — a non-null value must be a code of that list;
* field ``"minimum"`` / ``"maximum"`` — inclusive bounds of a number;
* field ``"token": "<kind>"`` — a non-null value is exactly 32 bytes;
* record ``"lmis.rules": [[a, b], ...]`` — when both fields are present, ``a <= b``
  (e.g. a vacancy's posted date is not after its closing date).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastavro import parse_schema
from fastavro.validation import validate

from schemas.catalog import SchemaVersion
from schemas.codelists import CodeLists


@dataclass(frozen=True)
class Violation:
    """One broken rule in one record: the field, the rule and what is wrong."""

    field: str
    rule: str  # type, codelist, minimum, maximum, token, order
    message: str


def validate_record(
    schema: SchemaVersion, record: Mapping[str, Any], *, codelists: CodeLists | None = None
) -> list[Violation]:
    """Every violation of ``record`` against ``schema`` (empty when the record is valid)."""
    lists = codelists if codelists is not None else CodeLists.packaged()
    found: list[Violation] = []
    typed_ok = True
    for f in schema.raw["fields"]:
        name = f["name"]
        if name not in record and "default" not in f:
            found.append(Violation(name, "type", f"field {name} is missing"))
            typed_ok = False
            continue
        value = record.get(name, f.get("default"))
        field_schema = _field_schemas(schema)[name]
        try:
            valid = validate(value, field_schema, raise_errors=False)
        except (ValueError, TypeError, OverflowError):
            valid = False
        if not valid:
            found.append(
                Violation(name, "type", f"field {name}: {value!r} is not a valid {_type(f)}")
            )
            typed_ok = False
            continue
        if value is None:
            continue
        list_name = f.get("codelist")
        if list_name is not None and value not in lists[list_name]:
            found.append(
                Violation(name, "codelist", f"field {name}: {value!r} is not a {list_name} code")
            )
        if "minimum" in f and value < f["minimum"]:
            found.append(
                Violation(name, "minimum", f"field {name}: {value!r} is below {f['minimum']}")
            )
        if "maximum" in f and value > f["maximum"]:
            found.append(
                Violation(name, "maximum", f"field {name}: {value!r} is above {f['maximum']}")
            )
        if "token" in f and len(value) != 32:
            found.append(
                Violation(name, "token", f"field {name}: a token is 32 bytes, got {len(value)}")
            )
    if typed_ok:
        for first, second in schema.raw.get("lmis.rules", []):
            a, b = record.get(first), record.get(second)
            if a is not None and b is not None and a > b:
                found.append(
                    Violation(
                        second,
                        "order",
                        f"field {second}: {b!r} is less than {first} ({a!r})",
                    )
                )
    return found


@cache
def _field_schemas(schema: SchemaVersion) -> dict[str, Any]:
    """Each field's type as a standalone parsed schema (named types inlined)."""
    named: dict[str, Any] = {}

    def collect(node: Any, namespace: str | None) -> None:
        if isinstance(node, list):
            for branch in node:
                collect(branch, namespace)
        elif isinstance(node, dict) and isinstance(node.get("type"), str):
            if node["type"] in ("record", "enum", "fixed"):
                space = node.get("namespace", namespace)
                full = (
                    node["name"] if "." in node["name"] or not space else f"{space}.{node['name']}"
                )
                named[full] = {**node, "name": full, "namespace": ""}
            for f in node.get("fields", []):
                collect(f["type"], node.get("namespace", namespace))

    collect(dict(schema.raw), None)

    def inline(node: Any, defined: set[str]) -> Any:
        if isinstance(node, str) and node in named:
            if node in defined:
                return node
            defined.add(node)
            return named[node]
        if isinstance(node, list):
            return [inline(b, defined) for b in node]
        return node

    return {
        f["name"]: parse_schema(inline(f["type"], set()), _write_hint=False)
        for f in schema.raw["fields"]
    }


def _type(f: Mapping[str, Any]) -> str:
    t = f["type"]
    if isinstance(t, list):
        t = next(b for b in t if b != "null")
    if isinstance(t, dict):
        return str(t.get("logicalType") or t.get("name") or t["type"])
    return str(t)
