"""Properties of token re-keying with K_hub."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.ingest.rekey import TokenRekeyer
from lmis_hub.tokens import MAX_KEY_ID, MIN_KEY_ID, key_id_prefix, make_token, token_key_id

keys = st.binary(min_size=32, max_size=64)
tokens = st.binary(min_size=32, max_size=32)


def _contract(key: bytes, token: bytes) -> bytes:
    """The lake token: the incoming key id, then HMAC-SHA256(K_hub, token) cut to 30 bytes."""
    return token[:2] + hmac.new(key, token, hashlib.sha256).digest()[:30]


@given(keys, tokens)
def test_deterministic_length_32_and_the_contract_hmac(key: bytes, token: bytes) -> None:
    rekeyer = TokenRekeyer(key, version=1)
    out = rekeyer.token(token)
    assert out == rekeyer.token(token)
    assert len(out) == 32
    assert out == _contract(key, token)
    assert out == make_token(token[:2], hmac.new(key, token, hashlib.sha256).digest())
    assert out != token


@given(
    keys,
    st.integers(MIN_KEY_ID, MAX_KEY_ID),
    st.lists(st.one_of(st.none(), tokens, st.lists(tokens, max_size=3)), max_size=6),
)
def test_the_key_id_survives_re_keying(
    key: bytes, key_id: int, values: list[bytes | list[bytes] | None]
) -> None:
    """Every re-keyed token keeps the generation of K_link that made it, by every path."""
    prefix = key_id_prefix(key_id)

    def of_generation(value: bytes | list[bytes] | None) -> bytes | list[bytes] | None:
        if isinstance(value, list):
            return [prefix + t[2:] for t in value]
        return None if value is None else prefix + value[2:]

    column = [of_generation(v) for v in values]
    rekeyer = TokenRekeyer(key, version=1)
    out = rekeyer.column(column)
    flat = [t for v in out if v is not None for t in ([v] if isinstance(v, bytes) else v)]
    assert {token_key_id(t) for t in flat} <= {key_id}
    assert out == [r["t"] for r in rekeyer.records([{"t": v} for v in column], ["t"])]
    # The same 30 bytes under two generations stay two tokens in the lake, each its own.
    for token in flat[:1]:
        other = MIN_KEY_ID if key_id != MIN_KEY_ID else MAX_KEY_ID
        a, b = rekeyer.token(prefix + token[2:]), rekeyer.token(key_id_prefix(other) + token[2:])
        assert (token_key_id(a), token_key_id(b)) == (key_id, other)


@given(keys, keys, tokens)
def test_keyed_other_key_other_token(k1: bytes, k2: bytes, token: bytes) -> None:
    if k1 == k2:
        return
    assert TokenRekeyer(k1, version=1).token(token) != TokenRekeyer(k2, version=2).token(token)


@given(keys, tokens, tokens)
def test_distinct_tokens_stay_distinct(key: bytes, t1: bytes, t2: bytes) -> None:
    rekeyer = TokenRekeyer(key, version=1)
    assert (rekeyer.token(t1) == rekeyer.token(t2)) == (t1 == t2)


@given(keys, st.lists(st.one_of(st.none(), tokens), min_size=1, max_size=5))
def test_records_rekey_only_token_fields_and_keep_nulls(
    key: bytes, values: list[bytes | None]
) -> None:
    rekeyer = TokenRekeyer(key, version=1)
    records = [{"t": v, "other": b"x" * 32} for v in values]
    out = rekeyer.records(records, ["t"])
    for before, after in zip(records, out, strict=True):
        assert after["other"] == before["other"]
        assert after["t"] == (None if before["t"] is None else rekeyer.token(before["t"]))
    assert records[0]["t"] is values[0]


def test_refuses_short_token_and_short_key() -> None:
    with pytest.raises(ValueError, match="31"):
        TokenRekeyer(b"k" * 32, version=1).token(b"t" * 31)
    with pytest.raises(ValueError, match="K_hub"):
        TokenRekeyer(b"k" * 16, version=1)
    assert "kkkk" not in repr(TokenRekeyer(b"k" * 32, version=3))


@given(
    st.binary(min_size=32, max_size=100),  # keys longer than SHA-256's block are hashed first
    st.lists(st.one_of(st.none(), tokens), max_size=6),
)
def test_a_column_is_the_contract_hmac_of_each_token(key: bytes, values: list[bytes | None]):
    out = TokenRekeyer(key, version=1).column(values)
    assert out == [None if v is None else _contract(key, v) for v in values]


def test_a_column_refuses_a_short_token() -> None:
    with pytest.raises(ValueError, match="31"):
        TokenRekeyer(b"k" * 32, version=1).column([b"t" * 32, b"t" * 31])


@given(keys, st.lists(st.one_of(st.none(), st.lists(tokens, max_size=4)), min_size=1, max_size=5))
def test_array_token_fields_are_rekeyed_element_by_element(
    key: bytes, values: list[list[bytes] | None]
) -> None:
    rekeyer = TokenRekeyer(key, version=1)
    expected = [None if v is None else [rekeyer.token(t) for t in v] for v in values]
    assert rekeyer.column(values) == expected
    records = rekeyer.records([{"variants": v} for v in values], ["variants"])
    assert [r["variants"] for r in records] == expected
    with pytest.raises(ValueError, match="31"):
        rekeyer.column([[b"t" * 32, b"t" * 31]])
