"""No token kind has a small value space (issue 11, item 8).

Three checks: the declared lower bounds (:data:`lmis_hub.tokens.VALUE_SPACE`), a probe of
the tokeniser's normalisation over identifiers drawn across their whole domains (a kind
whose values are bounded by construction saturates, whatever the bound says), and the
report over a 20,000-person synthetic nation with the known-plaintext attack of the
issue (``benchmarks/token_value_spaces.py`` prints the same table).
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.token_value_spaces import measure, table
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.tokenise import HONORIFICS, Tokeniser, TokenRules
from lmis_hub.tokens import (
    KEY_ID_BYTES,
    MAC_BYTES,
    MAX_KEY_ID,
    MIN_KEY_ID,
    MIN_VALUE_SPACE,
    RETIRED_TOKEN_KINDS,
    RETIRED_VALUE_SPACE,
    TOKEN_BYTES,
    TOKEN_KINDS,
    VALUE_SPACE,
    ValueSpace,
    check_key_id,
    key_id_prefix,
    make_token,
    small_value_spaces,
    token_key_id,
)

PROBES = 20_000


def test_every_token_kind_declares_a_value_space_of_at_least_10000() -> None:
    assert set(VALUE_SPACE) == set(TOKEN_KINDS)
    assert small_value_spaces(VALUE_SPACE) == {}
    assert all(space.reasoning for space in VALUE_SPACE.values())
    assert not set(TOKEN_KINDS) & set(RETIRED_TOKEN_KINDS)


def test_the_check_refuses_small_value_spaces() -> None:
    assert set(small_value_spaces(RETIRED_VALUE_SPACE)) == set(RETIRED_TOKEN_KINDS)
    composite = {"year_month": ValueSpace(1_440, "120 years x 12"), "ok": ValueSpace(1e4, "")}
    assert small_value_spaces(composite) == {"year_month": 1_440}


def _random_identifiers(rng: random.Random) -> dict[str, str]:
    """Identifiers drawn across their whole domains: what the normalisation lets through."""

    def word() -> str:
        while True:
            drawn = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(2, 9)))
            if drawn not in HONORIFICS:  # "MR", "DR": nothing left after normalisation
                return drawn

    born = date(1900, 1, 1) + timedelta(days=rng.randrange(46_000))
    return {
        "national_id": "".join(rng.choices(string.digits, k=9)),
        "nis_number": "".join(rng.choices(string.digits, k=9)),
        "given_name": word(),
        "family_name": word(),
        "dob": born.isoformat(),
        "person_ref": word() + str(rng.randrange(10**6)),
    }


def test_no_token_kind_saturates_below_10000_values_by_construction() -> None:
    """20,000 draws of free identifiers: a kind bounded by construction below 10,000 (a
    month, a sex code, a year+month) cannot show 10,000 distinct values."""
    rng = random.Random(8)
    tokeniser = Tokeniser(LinkKey(bytes(32), key_id=1), rules=TokenRules())
    seen: dict[str, set[str]] = defaultdict(set)
    for _ in range(PROBES):
        for kind, value in tokeniser.normalised(_random_identifiers(rng)).items():
            seen[kind].update(value if isinstance(value, list) else [value])
    assert set(seen) == set(TOKEN_KINDS), "the probe must reach every kind"
    distinct = {kind: len(values) for kind, values in seen.items()}
    small = {kind: n for kind, n in distinct.items() if n < MIN_VALUE_SPACE}
    assert small == {}, f"token kinds with a small value space: {small}"


def test_report_over_a_20000_person_nation(capsys: pytest.CaptureFixture[str]) -> None:
    report = measure(persons=20_000, known=40, seed=1)
    with capsys.disabled():
        print("\n" + table(report))
    by_kind = {k.kind: k for k in report.kinds}
    assert set(by_kind) == set(TOKEN_KINDS) | set(RETIRED_TOKEN_KINDS)
    for kind in RETIRED_TOKEN_KINDS:
        # Never more values than the bound that retired them; the attack reads most.
        assert by_kind[kind].distinct <= RETIRED_VALUE_SPACE[kind].lower_bound
        assert by_kind[kind].revealed_share > 0.4, kind
    for kind in (
        "national_id",
        "national_id_variants",
        "dob",
        "family_phonetic_year_month",
        "family_phonetic_month_day",
        "family_phonetic_year_day",
    ):
        # Knowing 40 persons reveals little beyond those 40 (0.2 % of the nation).
        assert by_kind[kind].revealed_share < 0.01, kind
        assert by_kind[kind].distinct > 10_000, kind
    assert report.dob_revealed_retired > 0.25
    assert report.dob_revealed < 0.01


# The token layout: key id (2 bytes, big-endian) || the first 30 bytes of the HMAC.

key_ids = st.integers(MIN_KEY_ID, MAX_KEY_ID)
macs = st.binary(min_size=32, max_size=32)  # an HMAC-SHA256 output


def test_the_layout_keeps_240_bits_of_hmac() -> None:
    assert (KEY_ID_BYTES, MAC_BYTES, TOKEN_BYTES) == (2, 30, 32)
    assert (MIN_KEY_ID, MAX_KEY_ID) == (1, 65535)


@given(key_ids, macs)
def test_a_token_carries_its_key_id_and_the_truncated_mac(key_id: int, mac: bytes) -> None:
    token = make_token(key_id_prefix(key_id), mac)
    assert len(token) == TOKEN_BYTES
    assert token_key_id(token) == key_id
    assert token[:2] == key_id.to_bytes(2, "big") and token[2:] == mac[:30]


@given(key_ids, key_ids, macs)
def test_tokens_of_two_generations_never_compare_equal(a: int, b: int, mac: bytes) -> None:
    """Even over the same MAC: the key id alone tells generations apart."""
    same = make_token(key_id_prefix(a), mac) == make_token(key_id_prefix(b), mac)
    assert same == (a == b)


@given(key_ids, macs)
def test_a_re_made_token_keeps_the_key_id_of_the_token_it_came_from(
    key_id: int, mac: bytes
) -> None:
    """The hub re-keys with the incoming token's own first two bytes as the prefix."""
    token = make_token(key_id_prefix(key_id), mac)
    assert token_key_id(make_token(token[:KEY_ID_BYTES], mac[::-1])) == key_id


@pytest.mark.parametrize("bad", [0, -1, MAX_KEY_ID + 1, 2**32, True, "1", 1.0])
def test_key_ids_outside_one_to_65535_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="key id"):
        check_key_id(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key id"):
        key_id_prefix(bad)  # type: ignore[arg-type]
