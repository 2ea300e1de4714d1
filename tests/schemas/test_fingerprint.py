import copy
import json

import avro.schema
import pytest
from fastavro.schema import fingerprint as fastavro_fingerprint
from fastavro.schema import to_parsing_canonical_form
from hypothesis import given
from hypothesis import strategies as st

from schemas.fingerprint import (
    canonical_form,
    crc64_avro,
    fingerprint,
    fingerprint_bytes,
    fingerprint_hex,
)

# Vectors from the Avro specification's test suite (CRC-64-AVRO as signed Java longs).
SPEC_VECTORS = [
    ('"null"', 7195948357588979594),
    ('"boolean"', -6970731678124411036),
    ('"int"', 8247732601305521295),
    ('"long"', -3434872931120570953),
    ('"string"', -8142146995180207161),
    ('{"type":"fixed","name":"foo","size":15}', 1756455273707447556),
    ('{"type":"enum","name":"foo","symbols":["A1"]}', -6342190197741309591),
]


@pytest.mark.parametrize(("schema", "expected"), SPEC_VECTORS)
def test_spec_vectors(schema, expected):
    assert fingerprint(json.loads(schema)) == expected % 2**64


def test_empty_input_is_the_empty_constant():
    assert crc64_avro(b"") == 0xC15D213AA4D7A795


def test_canonical_form_applies_every_transformation():
    schema = {
        "type": "record",
        "name": "R",
        "namespace": "a.b",
        "doc": "stripped",
        "fields": [
            {"name": "x", "type": {"type": "int", "logicalType": "date"}, "doc": "d", "default": 0},
            {"name": "t", "type": {"type": "fixed", "name": "T", "size": 4, "aliases": ["U"]}},
            {"name": "u", "type": ["null", "T"]},
        ],
    }
    assert canonical_form(schema) == (
        '{"name":"a.b.R","type":"record","fields":[{"name":"x","type":"int"},'
        '{"name":"t","type":{"name":"a.b.T","type":"fixed","size":4}},'
        '{"name":"u","type":["null","a.b.T"]}]}'
    )


def test_catalog_schemas_agree_with_fastavro(catalog):
    for sv in catalog:
        assert canonical_form(sv.raw) == to_parsing_canonical_form(sv.raw), sv.key
        assert fingerprint_hex(sv.fingerprint) == fastavro_fingerprint(
            canonical_form(sv.raw), "CRC-64-AVRO"
        )


def test_a_changed_schema_changes_the_fingerprint(catalog):
    sv = catalog.current("nso", "lfs_person")
    changed = copy.deepcopy(dict(sv.raw))
    changed["fields"][0]["name"] = "row_id"
    assert fingerprint(changed) != sv.fingerprint
    docs_only = copy.deepcopy(dict(sv.raw))
    docs_only["fields"][0]["doc"] = "another text"
    assert fingerprint(docs_only) == sv.fingerprint


# The avro package writes a named type in full at every use and keeps {"type": "int"}
# under logical types, so it is compared on schemas without those two features.
_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_PRIMS = st.sampled_from(["null", "boolean", "int", "long", "float", "double", "bytes", "string"])


@given(
    name=_NAMES,
    namespace=st.none() | _NAMES,
    fields=st.lists(
        st.tuples(_NAMES, _PRIMS | st.lists(_PRIMS, min_size=2, max_size=2, unique=True)),
        max_size=6,
        unique_by=lambda f: f[0],
    ),
    symbols=st.lists(
        st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True), min_size=1, max_size=4, unique=True
    ),
)
def test_record_schemas_agree_with_the_avro_package(name, namespace, fields, symbols):
    schema = {
        "type": "record",
        "name": name,
        "doc": "x",
        "fields": [{"name": f, "type": t, "doc": "y"} for f, t in fields],
    }
    schema["fields"].append(
        {"name": "Z_enum", "type": {"type": "enum", "name": "E", "symbols": symbols}}
    )
    if namespace:
        schema["namespace"] = namespace
    expected = avro.schema.parse(json.dumps(schema)).fingerprint("CRC-64-AVRO")
    assert fingerprint_bytes(fingerprint(schema)) == expected


@pytest.mark.parametrize(("schema", "_"), SPEC_VECTORS)
def test_spec_vectors_agree_with_the_avro_package(schema, _):
    expected = avro.schema.parse(schema).fingerprint("CRC-64-AVRO")
    assert fingerprint_bytes(fingerprint(json.loads(schema))) == expected


@given(st.binary(max_size=200))
def test_crc_matches_a_bitwise_reference(data):
    fp = 0xC15D213AA4D7A795
    for byte in data:
        fp ^= byte
        for _ in range(8):
            fp = (fp >> 1) ^ (0xC15D213AA4D7A795 & -(fp & 1))
    assert crc64_avro(data) == fp
