from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.sdk.errors import MappingInvalid
from connectors.sdk.mapping import Mapper, MappingSpec

SPEC = MappingSpec.model_validate(
    {
        "key_column": "no",
        "fields": {
            "occupation": {"column": "occ", "code_table": "occ"},
            "start": {"column": "started", "date_formats": ["%d/%m/%Y", "%Y-%m-%d"]},
            "birth_year": {"column": "dob", "date_formats": ["%d/%m/%Y"], "date_part": "year"},
            "wage_cents": {"column": "wage", "money": "cents"},
            "hours": {"column": "hrs", "cast": "int"},
            "source_system": {"constant": "mis"},
        },
        "identifiers": {"national_id": "nid", "given_name": "first"},
        "code_tables": {"occ": {"A12": "2512", "B7": "7411"}},
    }
)


def test_a_row_maps_to_fields_and_identifiers_apart() -> None:
    row = {
        "no": "T9",
        "occ": "A12",
        "started": "05/01/2026",
        "dob": "07/03/1987",
        "wage": "1,234.50",
        "hrs": " 40 ",
        "nid": "123456789",
        "first": "Ann",
    }
    mapped = Mapper(SPEC).map(row)
    assert mapped.key == "T9" and mapped.refusals == []
    assert mapped.fields == {
        "occupation": "2512",
        "start": date(2026, 1, 5),
        "birth_year": 1987,
        "wage_cents": 123450,
        "hours": 40,
        "source_system": "mis",
    }
    assert mapped.identifiers == {"national_id": "123456789", "given_name": "Ann"}
    assert "123456789" not in repr(mapped.fields)


def test_unmappable_values_are_refusals_not_exceptions() -> None:
    row = {"no": "T1", "occ": "ZZ", "started": "2026-13-01", "wage": "12.345", "hrs": "x"}
    mapped = Mapper(SPEC).map(row)
    assert {(r.field, r.reason) for r in mapped.refusals} == {
        ("occupation", "mapping.unknown_code"),
        ("start", "mapping.bad_date"),
        ("wage_cents", "mapping.not_money"),
        ("hours", "mapping.bad_type"),
    }
    assert all(r.row_key == "T1" for r in mapped.refusals)


def test_blank_is_null() -> None:
    assert Mapper(SPEC).map({"no": "1", "occ": "  ", "wage": ""}).fields["occupation"] is None


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=2))
def test_money_in_cents_is_exact(amount: object) -> None:
    mapped = Mapper(SPEC).map({"no": "1", "wage": str(amount)})
    assert mapped.fields["wage_cents"] == int(amount * 100)  # type: ignore[operator]


def test_spec_errors() -> None:
    with pytest.raises(ValidationError, match="no code table 'missing'"):
        MappingSpec.model_validate(
            {"key_column": "k", "fields": {"a": {"column": "a", "code_table": "missing"}}}
        )
    with pytest.raises(ValidationError, match="unknown kinds"):
        MappingSpec.model_validate({"key_column": "k", "fields": {}, "identifiers": {"iban": "x"}})
    with pytest.raises(MappingInvalid, match=r"\['nid', 'started'\]"):
        Mapper(SPEC).check_columns({"no", "occ", "dob", "wage", "hrs", "first"})
