"""The record-id format and its derivation (pure units, property-based)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schemas.record_ids import (
    RECORD_ID_LENGTH,
    RECORD_ID_PATTERN,
    is_record_id,
    opaque_record_id,
    record_id_key,
    record_id_problem,
)

keys = st.binary(min_size=32, max_size=32)
names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
source_keys = st.text(min_size=1).filter(lambda s: s.strip() != "")


@given(keys, names, names, source_keys)
def test_a_derived_id_has_the_format_and_is_stable(
    key: bytes, agency: str, dataset: str, source: str
) -> None:
    rid = opaque_record_id(key, agency, dataset, source)
    assert record_id_problem(rid) is None and RECORD_ID_PATTERN.fullmatch(rid)
    assert opaque_record_id(key, agency, dataset, source) == rid  # same row, same id
    assert opaque_record_id(key, agency, dataset, f"  {source}\t") == rid


@given(keys, names, names, source_keys)
def test_the_id_is_the_truncated_hmac_under_the_record_id_sub_key(
    key: bytes, agency: str, dataset: str, source: str
) -> None:
    sub = hmac.new(key, b"record_id\x1f", hashlib.sha256).digest()
    assert sub == record_id_key(key) and sub != key
    message = f"{agency}\x1f{dataset}\x1f{source.strip()}".encode()
    expected = hmac.new(sub, message, hashlib.sha256).hexdigest()[:RECORD_ID_LENGTH]
    assert opaque_record_id(key, agency, dataset, source) == expected


@given(keys, keys, names, names, names, source_keys, source_keys)
def test_key_agency_dataset_and_source_key_all_change_the_id(
    key: bytes, other_key: bytes, agency: str, dataset: str, other: str, a: str, b: str
) -> None:
    rid = opaque_record_id(key, agency, dataset, a)
    assume(a.strip() != b.strip())
    assert opaque_record_id(key, agency, dataset, b) != rid
    if other != dataset:
        assert opaque_record_id(key, agency, other, a) != rid
    if other != agency:
        assert opaque_record_id(key, other, dataset, a) != rid
    if other_key != key:
        assert opaque_record_id(other_key, agency, dataset, a) != rid


@given(keys, st.from_regex(r"[0-9]{9,12}", fullmatch=True))
def test_an_id_does_not_contain_the_person_number_it_came_from(key: bytes, number: str) -> None:
    assert number not in opaque_record_id(key, "nis", "insured_person", number)


@given(st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
def test_every_32_lowercase_hex_string_is_a_record_id(value: str) -> None:
    assert record_id_problem(value) is None and is_record_id(value)


@given(st.text())
def test_any_other_text_is_refused_without_echoing_it(value: str) -> None:
    assume(RECORD_ID_PATTERN.fullmatch(value) is None)
    problem = record_id_problem(value)
    assert problem is not None
    if len(value) >= 3:
        assert value not in problem


@pytest.mark.parametrize(
    "value",
    [
        "NID 19283746510 Jane Raw-Name",
        "nis-ip-123456789",
        "J0001234",
        "19283746510",
        "record_id-3",
        "0123456789ABCDEF0123456789ABCDEF",  # upper case
        "0123456789abcdef0123456789abcdef0",  # 33 characters
        " 0123456789abcdef0123456789abcde",  # padded
        "0123456789abcdef0123456789abcdeg",  # not hex
        "",
    ],
)
def test_identifier_shaped_values_are_refused(value: str) -> None:
    problem = record_id_problem(value)
    assert problem is not None
    for part in value.split():
        if len(part) >= 3:
            assert part not in problem


@pytest.mark.parametrize("value", [None, 12345, b"0123456789abcdef0123456789abcdef", 1.5])
def test_a_record_id_is_a_string(value: object) -> None:
    assert record_id_problem(value) is not None and not is_record_id(value)


def test_an_empty_source_key_or_a_separator_in_a_name_is_refused() -> None:
    key = bytes(32)
    with pytest.raises(ValueError, match="source key"):
        opaque_record_id(key, "nis", "employer", "  ")
    with pytest.raises(ValueError, match="agency"):
        opaque_record_id(key, "ni\x1fs", "employer", "E1")
    with pytest.raises(ValueError, match="dataset"):
        opaque_record_id(key, "nis", "", "E1")
