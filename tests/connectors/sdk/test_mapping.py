from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.sdk.errors import MappingInvalid
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.mapping import Mapper, MappingSpec
from connectors.sdk.tokenise import RecordIds
from lmis_hub.errors import Arises, registered_codes
from schemas.record_ids import record_id_problem

IDS = RecordIds(LinkKey(bytes(range(32)), key_id=1), agency="nso", dataset="lfs_person")

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
    assert all(Arises.ROW_REFUSAL in registered_codes()[r.reason].arises for r in mapped.refusals)


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


def test_templates_quarters_and_chained_code_tables(tmp_path: Path) -> None:
    register = tmp_path / "register.csv"
    register.write_text("brn,region\nC1,POS\nC2,THA\n", encoding="utf-8")
    spec = MappingSpec.model_validate(
        {
            "key_column": "hh",
            "fields": {
                "record_id": {"template": "{year}Q{quarter}-{hh}-{line}"},
                "interview": {"template": "{year}Q{quarter}", "date_formats": ["%YQ%q"]},
                "region": {"column": "brn", "code_tables": ["employer_region", "regions"]},
            },
            "code_tables": {"regions": {"POS": "TT-POS", "THA": "TT-TOB"}},
            "code_table_files": {
                "employer_region": {"path": register, "key_column": "brn", "value_column": "region"}
            },
        }
    )
    mapper = Mapper(spec, record_ids=IDS)
    row = {"year": "2024", "quarter": "3", "hh": "7", "line": "2", "brn": "C2"}
    mapper.check_columns(set(row))
    mapped = mapper.map(row)
    assert mapped.refusals == []
    assert mapped.fields == {
        "record_id": IDS.of("2024Q3-7-2"),
        "interview": date(2024, 7, 1),
        "region": "TT-TOB",
    }
    blank = mapper.map({**row, "line": " ", "brn": "C9"})
    assert blank.fields["record_id"] is None
    assert [(r.field, r.reason) for r in blank.refusals] == [("region", "mapping.unknown_code")]


def test_a_template_names_plain_columns_only() -> None:
    with pytest.raises(ValidationError, match="template"):
        MappingSpec.model_validate({"key_column": "k", "fields": {"x": {"template": "{a!r}"}}})


def test_occupation_coding_keeps_a_given_code_and_marks_a_suggestion() -> None:
    spec = MappingSpec.model_validate(
        {
            "key_column": "id",
            "fields": {"record_id": {"column": "id"}},
            "occupation_coding": {"title_column": "title", "code_column": "isco"},
        }
    )
    mapper = Mapper(spec, record_ids=IDS)
    given_code = mapper.map({"id": "V1", "title": "welder", "isco": "7212"}).fields
    assert given_code == {
        "record_id": IDS.of("V1"),
        "occupation": "7212",
        "isco_auto_coded": False,
        "isco_confidence": None,
    }
    suggested = mapper.map({"id": "V2", "title": "Welder", "isco": ""}).fields
    assert suggested["occupation"] == "7212" and suggested["isco_auto_coded"] is True
    assert suggested["isco_confidence"] == 1.0


def test_record_ids_and_references_leave_opaque_and_still_join() -> None:
    ids = RecordIds(LinkKey(bytes(range(32)), key_id=1), agency="jobboard", dataset="placement")
    spec = MappingSpec.model_validate(
        {
            "key_column": "pid",
            "fields": {
                "record_id": {"column": "pid"},
                "vacancy_record_id": {"column": "vid", "record_id_of": "vacancy"},
            },
        }
    )
    fields = Mapper(spec, record_ids=ids).map({"pid": "P0000001", "vid": "V0000042"}).fields
    assert record_id_problem(fields["record_id"]) is None
    assert record_id_problem(fields["vacancy_record_id"]) is None
    assert "P0000001" not in repr(fields) and "V0000042" not in repr(fields)
    vacancy_ids = RecordIds(
        LinkKey(bytes(range(32)), key_id=1), agency="jobboard", dataset="vacancy"
    )
    assert fields["vacancy_record_id"] == vacancy_ids.of("V0000042")  # the vacancy's own id
    assert fields["record_id"] == ids.of("P0000001") != vacancy_ids.of("P0000001")


def test_a_mapping_with_record_ids_needs_the_record_id_key() -> None:
    spec = MappingSpec.model_validate(
        {"key_column": "id", "fields": {"record_id": {"column": "id"}}}
    )
    with pytest.raises(MappingInvalid, match="record-id key"):
        Mapper(spec)


@pytest.mark.parametrize(
    ("fields", "identifiers"),
    [
        ({"record_id": {"column": "jobseeker_id"}}, {"person_ref": "jobseeker_id"}),
        ({"record_id": {"column": "ref"}}, {"person_ref": "ref"}),
        ({"record_id": {"template": "{nid}-{line}"}}, {"national_id": "nid"}),
        ({"record_id": {"column": "nis_number"}}, {}),
        ({"record_id": {"column": "NationalID"}}, {}),
        (
            {
                "record_id": {"column": "row"},
                "x_record_id": {"column": "trainee_no", "record_id_of": "trainee"},
            },
            {},
        ),
    ],
)
def test_a_record_id_from_an_identifier_column_is_refused(
    fields: dict[str, Any], identifiers: dict[str, str]
) -> None:
    with pytest.raises(ValidationError) as info:
        MappingSpec.model_validate(
            {"key_column": "k", "fields": fields, "identifiers": identifiers}
        )
    assert info.value.errors()[0]["type"] == "record_id_identifier"


def test_a_reference_to_another_record_must_say_which_dataset() -> None:
    with pytest.raises(ValidationError, match="record_id_of"):
        MappingSpec.model_validate(
            {
                "key_column": "k",
                "fields": {"record_id": {"column": "k"}, "vacancy_record_id": {"column": "v"}},
            }
        )
