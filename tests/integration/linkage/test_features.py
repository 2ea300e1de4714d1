"""Tokens to features: key ids, nulls, generations, scoping and refusals."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.linkage.clusters import components, deterministic_edges
from integration.linkage.errors import LinkageInputUnreadable, TokenKeyIdsMixed
from integration.linkage.features import Source, build_features, token_features


def tok(key_id: int, mac: bytes) -> bytes:
    return key_id.to_bytes(2, "big") + mac.ljust(30, b"\0")


def test_a_token_becomes_its_key_id_and_the_first_64_bits_of_its_mac() -> None:
    column = pa.array([tok(7, b"\x01" * 8), None, tok(65535, b"\xff" * 8)], pa.binary(32))
    values, key_ids = token_features(column)
    assert key_ids.tolist() == [7, 0, 65535]
    assert values.to_pylist() == [0x0101010101010101, None, -1]
    same, _ = token_features(column.cast(pa.binary()))
    assert same.equals(values)


def test_a_record_with_tokens_of_two_generations_is_refused_by_record_id() -> None:
    table = pa.table(
        {
            "record_id": ["a" * 32, "b" * 32],
            "name_token": pa.array([tok(1, b"x"), tok(1, b"y")], pa.binary(32)),
            "dob_token": pa.array([tok(1, b"d"), tok(2, b"e")], pa.binary(32)),
        }
    )
    with pytest.raises(TokenKeyIdsMixed) as raised:
        build_features({Source("nis", "insured_person"): table})
    assert raised.value.code == "linkage.key_id_mixed"
    assert "b" * 32 in raised.value.message and "nis/insured_person" in raised.value.message


def test_a_table_without_record_ids_is_unreadable() -> None:
    with pytest.raises(LinkageInputUnreadable):
        build_features(
            {Source("nis", "x"): pa.table({"name_token": pa.array([tok(1, b"n")], pa.binary(32))})}
        )


def test_agency_person_numbers_join_within_their_agency_only() -> None:
    ref = tok(1, b"T0001")

    def table(n: int) -> pa.Table:
        return pa.table(
            {
                "record_id": [f"{i:032x}" for i in range(n)],
                "person_ref_token": pa.array([ref] * n, pa.binary(32)),
            }
        )

    features = build_features(
        {Source("tvet", "enrolment"): table(2), Source("jobboard", "placement"): table(2)}
    )
    labels = components(
        features.nodes, [deterministic_edges(features)], linkable=features.linkable()
    )
    assert labels.tolist() == [0, 0, 2, 2]


def test_a_shared_national_id_joins_only_where_the_dates_of_birth_agree() -> None:
    nid = tok(1, b"ID")
    table = pa.table(
        {
            "record_id": [f"{i:032x}" for i in range(3)],
            "national_id_token": pa.array([nid, nid, nid], pa.binary(32)),
            "dob_token": pa.array([tok(1, b"D1"), tok(1, b"D1"), tok(1, b"D2")], pa.binary(32)),
            "family_name_token": pa.array([tok(1, os.urandom(4))] * 3, pa.binary(32)),
        }
    )
    features = build_features({Source("dol", "complaint"): table})
    assert features.counts["dol/complaint"]["person_records"] == 3
    labels = components(
        features.nodes, [deterministic_edges(features)], linkable=features.linkable()
    )
    assert labels.tolist() == [0, 0, 2]


def test_records_without_tokens_are_unlinkable_and_counted() -> None:
    table = pa.table({"record_id": ["c" * 32], "name_token": pa.nulls(1, pa.binary(32))})
    features = build_features({Source("nso", "lfs_person"): table})
    assert features.counts["nso/lfs_person"]["unlinkable_records"] == 1
    labels = components(features.nodes, [], linkable=features.linkable())
    assert labels.tolist() == [-1]
    assert not np.any(features.is_person)


def test_a_no_match_splits_a_chain_at_its_weakest_link() -> None:
    """a-b strongly, b-c weakly, c-d strongly: "a is not d" drops b-c, whatever joined."""
    edges = (np.array([0, 1, 2]), np.array([1, 2, 3]))
    strengths = [np.array([12.0, 1.5, 9.0])]
    everyone = np.ones(5, bool)
    joined = components(5, [edges], linkable=everyone, strengths=strengths)
    assert joined.tolist() == [0, 0, 0, 0, 4]
    split = components(5, [edges], linkable=everyone, strengths=strengths, forbidden=[(3, 0)])
    assert split.tolist() == [0, 0, 2, 2, 4]
    # Unbreakable edges (a strong token) give way only when nothing else can.
    strong = (np.array([0]), np.array([1]))
    apart = components(5, [strong], linkable=everyone, forbidden=[(0, 1)])
    assert apart.tolist() == [0, 1, 2, 3, 4]


@given(
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9), st.floats(0, 20)), max_size=30),
    st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=4),
)
def test_no_forbidden_pair_ever_shares_a_person(
    triples: list[tuple[int, int, float]], forbidden: list[tuple[int, int]]
) -> None:
    forbidden = [(a, b) for a, b in forbidden if a != b]
    left = np.array([a for a, _, _ in triples], np.int64)
    right = np.array([b for _, b, _ in triples], np.int64)
    weight = np.array([w for _, _, w in triples], np.float64)
    everyone = np.ones(10, bool)
    labels = components(
        10, [(left, right)], linkable=everyone, strengths=[weight], forbidden=forbidden
    )
    assert all(labels[a] != labels[b] for a, b in forbidden)
    plain = components(10, [(left, right)], linkable=everyone)
    # Splitting only ever refines the plain components.
    assert all(plain[i] == plain[j] for i in range(10) for j in range(10) if labels[i] == labels[j])
    if not forbidden:
        assert labels.tolist() == plain.tolist()
