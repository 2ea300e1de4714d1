"""Avro schemas (as parsed JSON) to Iceberg schemas and Arrow schemas.

Bronze tables keep records as delivered, so every Avro construct the contracts use has
an Iceberg equivalent here: primitives, ``date`` / ``timestamp-*`` / ``decimal`` logical
types, ``fixed`` (the 32-byte tokens), enums (as strings), nested records, arrays, maps
and nullable unions ``["null", T]``. Other unions have no Iceberg equivalent and are
refused with :class:`UnsupportedAvroType`, naming the field.

Field ids are assigned in order; schema evolution matches fields by name
(``update_schema().union_by_name``), so ids of existing columns never change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    NestedField,
    StringType,
    StructType,
    TimestamptzType,
    TimeType,
)

from integration.lake.errors import UnsupportedAvroType

_PRIMITIVES: dict[str, IcebergType] = {
    "boolean": BooleanType(),
    "int": IntegerType(),
    "long": LongType(),
    "float": FloatType(),
    "double": DoubleType(),
    "bytes": BinaryType(),
    "string": StringType(),
}

#: Lineage columns appended to every bronze table: which delivery each row came in.
LINEAGE_FIELDS: tuple[tuple[str, IcebergType, str], ...] = (
    ("_batch_id", StringType(), "Batch id of the delivery that carried this row."),
    ("_agreement_id", StringType(), "Data-sharing agreement the delivery was made under."),
    ("_agreement_version", IntegerType(), "Version of that agreement."),
    ("_schema_fingerprint", StringType(), "CRC-64-AVRO fingerprint (hex) of the writer schema."),
    ("_received_at", TimestamptzType(), "When the hub accepted the delivery (UTC)."),
)


@dataclass
class _Converter:
    ids: Iterator[int] = field(default_factory=lambda: count(1))
    named: dict[str, Any] = field(default_factory=dict)

    def _register(self, schema: dict[str, Any], namespace: str | None) -> None:
        name = schema["name"]
        ns = schema.get("namespace", namespace)
        full = name if "." in name or not ns else f"{ns}.{name}"
        self.named[full] = schema
        self.named.setdefault(name, schema)

    def convert(self, schema: Any, where: str, namespace: str | None) -> tuple[IcebergType, bool]:
        """The Iceberg type of an Avro type, and whether it is optional (nullable)."""
        if isinstance(schema, list):
            branches = [b for b in schema if b != "null"]
            if len(branches) != 1:
                raise UnsupportedAvroType(
                    f'{where}: union {schema!r} has no Iceberg equivalent (only ["null", T])'
                )
            inner, _ = self.convert(branches[0], where, namespace)
            return inner, len(branches) != len(schema)
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _PRIMITIVES[schema], False
            if schema == "null":
                raise UnsupportedAvroType(f"{where}: a field of type null has no values to keep")
            resolved = self.named.get(schema) or self.named.get(f"{namespace}.{schema}")
            if resolved is None:
                raise UnsupportedAvroType(f"{where}: unknown named type {schema!r}")
            return self._named_type(resolved, where)
        if not isinstance(schema, dict):
            raise UnsupportedAvroType(f"{where}: unreadable Avro type {schema!r}")
        logical = schema.get("logicalType")
        kind = schema["type"]
        if logical == "date" and kind == "int":
            return DateType(), False
        if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
            return TimestamptzType(), False
        if logical in ("time-millis", "time-micros"):
            return TimeType(), False
        if logical == "decimal":
            if kind == "fixed":
                self._register(schema, namespace)
            return DecimalType(int(schema["precision"]), int(schema.get("scale", 0))), False
        if kind in ("record", "enum", "fixed"):
            self._register(schema, namespace)
            return self._named_type(schema, where, namespace)
        if kind == "array":
            element_id = next(self.ids)
            element, optional = self.convert(schema["items"], f"{where}[]", namespace)
            return ListType(element_id, element, element_required=not optional), False
        if kind == "map":
            key_id, value_id = next(self.ids), next(self.ids)
            value, optional = self.convert(schema["values"], f"{where}{{}}", namespace)
            return MapType(
                key_id, StringType(), value_id, value, value_required=not optional
            ), False
        return self.convert(kind, where, namespace)

    def _named_type(
        self, schema: dict[str, Any], where: str, namespace: str | None = None
    ) -> tuple[IcebergType, bool]:
        kind = schema["type"]
        if kind == "enum":
            return StringType(), False
        if kind == "fixed":
            return FixedType(int(schema["size"])), False
        if kind == "record":
            ns = schema.get("namespace", namespace)
            return StructType(*self.fields(schema, where, ns)), False
        return self.convert(schema, where, namespace)

    def fields(
        self, record: dict[str, Any], where: str, namespace: str | None
    ) -> list[NestedField]:
        out = []
        for f in record["fields"]:
            field_id = next(self.ids)
            path = f"{where}.{f['name']}" if where else f["name"]
            ftype, optional = self.convert(f["type"], path, namespace)
            out.append(
                NestedField(
                    field_id=field_id,
                    name=f["name"],
                    field_type=ftype,
                    required=not optional,
                    doc=f.get("doc"),
                )
            )
        return out


def avro_to_iceberg(avro_schema: dict[str, Any], *, lineage: bool = True) -> Schema:
    """The Iceberg schema of a bronze table for records of ``avro_schema``."""
    if avro_schema.get("type") != "record":
        raise UnsupportedAvroType("a bronze table needs an Avro record schema at the top")
    conv = _Converter()
    conv._register(avro_schema, avro_schema.get("namespace"))
    fields = conv.fields(avro_schema, "", avro_schema.get("namespace"))
    taken = {f.name for f in fields}
    if lineage:
        for name, ftype, doc in LINEAGE_FIELDS:
            if name in taken:
                raise UnsupportedAvroType(f"field {name!r} clashes with a lineage column")
            fields.append(NestedField(next(conv.ids), name, ftype, required=True, doc=doc))
    return Schema(*fields)
