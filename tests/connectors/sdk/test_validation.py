from __future__ import annotations

from datetime import date, datetime

import pytest

from connectors.sdk.errors import MappingInvalid
from connectors.sdk.validation import FieldRule, Refusal, Validator
from lmis_hub.errors import Arises, registered_codes

RULES = {
    "sex": FieldRule(required=True, code_list="sex"),
    "birth_year": FieldRule(required=True, type="int", min=1900, max=2012),
    "start": FieldRule(type="date", not_before=date(2000, 1, 1), not_after_today=True),
    "employer": FieldRule(type="str", min_length=3, max_length=5),
}
TODAY = date(2026, 3, 1)


def validator() -> Validator:
    return Validator(RULES, code_lists={"sex": {"1", "2", "9"}}, today=TODAY)


def test_a_valid_row_has_no_refusals() -> None:
    row = {"sex": "2", "birth_year": 1990, "start": date(2020, 1, 1), "employer": "E123"}
    assert validator().check("r1", row) == []


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("sex", None, "validation.required"),
        ("sex", "3", "validation.code_list"),
        ("birth_year", "1990", "validation.type"),
        ("birth_year", True, "validation.type"),
        ("birth_year", 1850, "validation.range"),
        ("birth_year", 2020, "validation.range"),
        ("start", datetime(2020, 1, 1), "validation.type"),
        ("start", date(1999, 12, 31), "validation.date"),
        ("start", date(2026, 3, 2), "validation.date"),
        ("employer", "E1", "validation.length"),
        ("employer", "E12345", "validation.length"),
    ],
)
def test_each_rule_refuses_with_its_reason(field: str, value: object, reason: str) -> None:
    row: dict[str, object] = {"sex": "1", "birth_year": 1990, "start": None, "employer": None}
    row[field] = value
    refusals = validator().check("row-7", row)
    assert [(r.row_key, r.field, r.reason) for r in refusals] == [("row-7", field, reason)]
    assert Arises.ROW_REFUSAL in registered_codes()[reason].arises
    if value is not None and not isinstance(value, bool):
        assert str(value) not in refusals[0].message or field == "start"


def test_missing_code_list_is_a_setup_error() -> None:
    with pytest.raises(MappingInvalid, match=r"\['sex'\]"):
        Validator(RULES, code_lists={}, today=TODAY)


def test_refusal_is_a_plain_record() -> None:
    assert Refusal("k", "f", "r", "m") == Refusal("k", "f", "r", "m")
