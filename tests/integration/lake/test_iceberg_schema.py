"""Avro contracts map onto Iceberg types without losing what the records carry."""

from __future__ import annotations

import pytest
from pyiceberg.types import (
    DateType,
    DecimalType,
    FixedType,
    IntegerType,
    ListType,
    StringType,
    StructType,
    TimestamptzType,
)

from integration.lake.errors import UnsupportedAvroType
from integration.lake.iceberg_schema import LINEAGE_FIELDS, avro_to_iceberg

TOKEN = {"type": "fixed", "name": "Token", "namespace": "lmis.types", "size": 32}

SCHEMA = {
    "type": "record",
    "name": "contribution",
    "namespace": "lmis.nis",
    "fields": [
        {"name": "record_id", "type": "string", "doc": "Row key at the agency."},
        {"name": "national_id_token", "type": ["null", TOKEN], "token": "national_id"},
        {"name": "nis_number_token", "type": "lmis.types.Token", "token": "nis_number"},
        {"name": "period", "type": {"type": "int", "logicalType": "date"}},
        {
            "name": "earnings",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
        {"name": "sex", "type": {"type": "enum", "name": "Sex", "symbols": ["M", "F", "X"]}},
        {"name": "updated_at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "weeks", "type": ["null", "int"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {
            "name": "employer",
            "type": {
                "type": "record",
                "name": "EmployerRef",
                "fields": [{"name": "reg_no", "type": "string"}],
            },
        },
    ],
}


def test_types_and_nullability() -> None:
    schema = avro_to_iceberg(SCHEMA)
    by_name = {f.name: f for f in schema.fields}
    assert by_name["record_id"].field_type == StringType() and by_name["record_id"].required
    assert by_name["record_id"].doc == "Row key at the agency."
    assert by_name["national_id_token"].field_type == FixedType(32)
    assert not by_name["national_id_token"].required
    # A named type defined once is reused by reference.
    assert by_name["nis_number_token"].field_type == FixedType(32)
    assert by_name["nis_number_token"].required
    assert by_name["period"].field_type == DateType()
    assert by_name["earnings"].field_type == DecimalType(12, 2)
    assert by_name["sex"].field_type == StringType()
    assert by_name["updated_at"].field_type == TimestamptzType()
    assert by_name["weeks"].field_type == IntegerType() and not by_name["weeks"].required
    assert isinstance(by_name["tags"].field_type, ListType)
    assert isinstance(by_name["employer"].field_type, StructType)
    # Lineage columns close every bronze table; field ids are unique.
    assert [f.name for f in schema.fields[-len(LINEAGE_FIELDS) :]] == [
        n for n, _, _ in LINEAGE_FIELDS
    ]
    ids = [f.field_id for f in schema.fields]
    assert len(ids) == len(set(ids))


def test_general_union_is_refused_with_the_field_path() -> None:
    bad = {
        "type": "record",
        "name": "r",
        "fields": [{"name": "value", "type": ["null", "int", "string"]}],
    }
    with pytest.raises(UnsupportedAvroType, match="value") as info:
        avro_to_iceberg(bad)
    assert info.value.code == "lake.unsupported_type"


def test_unknown_named_type_is_refused() -> None:
    bad = {"type": "record", "name": "r", "fields": [{"name": "t", "type": "lmis.types.Nope"}]}
    with pytest.raises(UnsupportedAvroType, match=r"lmis\.types\.Nope"):
        avro_to_iceberg(bad)


def test_lineage_name_clash_is_refused() -> None:
    bad = {"type": "record", "name": "r", "fields": [{"name": "_batch_id", "type": "string"}]}
    with pytest.raises(UnsupportedAvroType, match="_batch_id"):
        avro_to_iceberg(bad)


def test_an_array_of_tokens_is_a_list_of_fixed() -> None:
    schema = avro_to_iceberg(
        {
            "type": "record",
            "name": "person",
            "fields": [
                {"name": "dob_token", "type": ["null", TOKEN], "token": "dob"},
                {
                    "name": "national_id_variants_token",
                    "type": ["null", {"type": "array", "items": "lmis.types.Token"}],
                    "token": "national_id_variants",
                },
            ],
        }
    )
    variants = schema.find_field("national_id_variants_token")
    assert not variants.required
    assert isinstance(variants.field_type, ListType)
    assert variants.field_type.element_type == FixedType(32)
    assert variants.field_type.element_required
