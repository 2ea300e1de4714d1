from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sdk.errors import IdentifierInvalid
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.tokenise import (
    RAW_KINDS,
    TOKEN_FIELDS,
    Tokeniser,
    TokenRules,
    deletion_variants,
    normalise_name,
    phonetic,
    token,
)
from lmis_hub.tokens import (
    MAX_KEY_ID,
    MIN_KEY_ID,
    RETIRED_TOKEN_KINDS,
    key_id_prefix,
    make_token,
    token_field,
    token_key_id,
)

KEY = LinkKey(bytes(range(32)), key_id=1)
OTHER_KEY = LinkKey(bytes(range(1, 33)), key_id=1)

names = st.text(
    alphabet=st.characters(categories=("Lu", "Ll", "Zs", "Pd", "Mn")), min_size=1, max_size=30
).filter(lambda s: any(c.isalpha() for c in s))


def test_token_is_the_key_id_then_the_contract_hmac() -> None:
    mac = hmac.new(bytes(range(32)), b"national_id\x1f123456789", hashlib.sha256).digest()
    expected = b"\x00\x01" + mac[:30]  # generation 1, then 240 bits of the HMAC
    assert token(KEY, "national_id", "123456789") == expected
    assert len(expected) == 32
    assert token(KEY, "national_id", "123456789") == make_token(key_id_prefix(1), mac)


@given(
    key_id=st.integers(MIN_KEY_ID, MAX_KEY_ID),
    identifiers=st.fixed_dictionaries(
        {
            "national_id": st.from_regex(r"[0-9]{9}", fullmatch=True),
            "given_name": names,
            "family_name": names,
            "dob": st.dates(min_value=date(1900, 1, 1)).map(date.isoformat),
        }
    ),
)
def test_every_token_carries_the_key_id_of_its_key(
    key_id: int, identifiers: dict[str, str]
) -> None:
    key = LinkKey(bytes(range(32)), key_id=key_id)
    try:
        tokens = Tokeniser(key).tokens(identifiers)
    except IdentifierInvalid:
        return  # a name with no letters left
    flat = [t for v in tokens.values() for t in (v if isinstance(v, list) else [v])]
    assert "national_id_variants_token" in tokens and len(flat) > len(tokens)
    assert {token_key_id(t) for t in flat} == {key_id}
    assert all(len(t) == 32 for t in flat)


def test_two_generations_of_the_key_never_give_the_same_token() -> None:
    """After a rotation the new key's tokens differ from the old key's, and say so."""
    old = Tokeniser(LinkKey(bytes(range(32)), key_id=1)).tokens({"national_id": "123456789"})
    new = Tokeniser(LinkKey(bytes(range(1, 33)), key_id=2)).tokens({"national_id": "123456789"})
    assert old["national_id_token"][:2] == b"\x00\x01"
    assert new["national_id_token"][:2] == b"\x00\x02"
    assert old["national_id_token"][2:] != new["national_id_token"][2:]


def test_token_kinds_and_fields_follow_the_contract() -> None:
    assert TOKEN_FIELDS == {
        "national_id": "national_id_token",
        "nis_number": "nis_number_token",
        "name": "name_token",
        "given_name": "given_name_token",
        "family_name": "family_name_token",
        "given_name_phonetic": "given_name_phonetic_token",
        "family_name_phonetic": "family_name_phonetic_token",
        "dob": "dob_token",
        "family_phonetic_year_month": "family_phonetic_year_month_token",
        "family_phonetic_month_day": "family_phonetic_month_day_token",
        "family_phonetic_year_day": "family_phonetic_year_day_token",
        "name_pair": "name_pair_token",
        "national_id_variants": "national_id_variants_token",
        "person_ref": "person_ref_token",
    }


@given(kind=st.sampled_from(sorted(TOKEN_FIELDS)), value=st.text(max_size=40))
def test_tokens_are_deterministic_and_key_dependent(kind: str, value: str) -> None:
    assert token(KEY, kind, value) == token(KEY, kind, value)
    assert token(KEY, kind, value) != token(OTHER_KEY, kind, value)


@given(
    kinds=st.lists(st.sampled_from(sorted(TOKEN_FIELDS)), min_size=2, max_size=2, unique=True),
    value=st.text(max_size=40),
)
def test_same_value_of_different_kinds_gives_different_tokens(kinds: list[str], value: str) -> None:
    assert token(KEY, kinds[0], value) != token(KEY, kinds[1], value)


@given(names)
def test_name_normalisation_is_idempotent(name: str) -> None:
    try:
        once = normalise_name(name)
    except IdentifierInvalid:
        return
    assert normalise_name(once) == once
    assert once == once.strip() and "  " not in once
    assert all(c == " " or "A" <= c <= "Z" for c in once)


@given(st.sampled_from(["José María", "Ana-Lucía", "Zoë", "Renée O'Neil", "Joshua Brathwaite"]))
def test_name_variants_match(name: str) -> None:
    base = normalise_name(name)
    for variant in (
        name.upper(),
        name.lower(),
        f"  {name}  ",
        name.replace(" ", "   "),
        f"Mr. {name}",
        f"DR {name}",
    ):
        assert normalise_name(variant) == base
    stripped = "".join({"é": "e", "í": "i", "ë": "e", "É": "E"}.get(c, c) for c in name)
    assert normalise_name(stripped) == base


def test_phonetic_codes_match_spelling_variants() -> None:
    assert phonetic(normalise_name("Catherine")) == phonetic(normalise_name("Katharine"))
    assert phonetic(normalise_name("Brathwaite")) == phonetic(normalise_name("Braithwaite"))


def test_identifier_lengths_and_dates_are_validated_without_echoing_values() -> None:
    tok = Tokeniser(KEY, rules=TokenRules(national_id_lengths=frozenset({9})))
    with pytest.raises(IdentifierInvalid) as info:
        tok.tokens({"national_id": "12345"})
    assert "12345" not in str(info.value) and "national_id" in str(info.value)
    with pytest.raises(IdentifierInvalid, match="dob"):
        tok.tokens({"dob": "31/02/1990"})


def test_dob_alone_gives_only_the_dob_token_and_formats_match() -> None:
    tok = Tokeniser(KEY, rules=TokenRules(date_formats=("%Y-%m-%d", "%d/%m/%Y")))
    assert tok.normalised({"dob": "1987-03-07"}) == {"dob": "1987-03-07"}
    assert tok.tokens({"dob": "07/03/1987"}) == tok.tokens({"dob": date(1987, 3, 7)})


def test_date_parts_are_tokenised_only_with_the_family_phonetic_code() -> None:
    tok = Tokeniser(KEY)
    out = tok.normalised({"family_name": "Braithwaite", "dob": "1987-03-07"})
    assert out["family_phonetic_year_month"] == "BRATWAT|1987-03"
    assert out["family_phonetic_month_day"] == "BRATWAT|03+07"
    assert out["family_phonetic_year_day"] == "BRATWAT|1987--07"
    assert not {"family_phonetic_year_month", "name_pair"} & set(
        tok.normalised({"dob": "1987-03-07"})
    )


def test_national_id_variants_match() -> None:
    tok = Tokeniser(KEY)
    assert tok.tokens({"national_id": "123-456-789"}) == tok.tokens({"national_id": " 123456789"})


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


RAW = {
    "national_id": "870307-123",
    "nis_number": "NIS 4455667",
    "given_name": "Dr. Renée",
    "family_name": "Braithwaite-Clarke",
    "dob": "1987-03-07",
    "person_ref": "tvt-00981",
}


@settings(max_examples=50)
@given(
    record=st.dictionaries(
        st.sampled_from(["course", "centre", "year"]), st.integers() | st.text(max_size=8)
    )
)
def test_no_raw_value_or_its_normalised_form_survives(record: dict[str, object]) -> None:
    tok = Tokeniser(KEY)
    normalised = tok.normalised(RAW)
    out = tok.tokenise(record, RAW)
    assert set(out) == set(record) | {TOKEN_FIELDS[k] for k in normalised}
    assert set(normalised) == set(TOKEN_FIELDS)  # every kind is derived from RAW
    tokens = [t for k in normalised for t in as_list(out[TOKEN_FIELDS[k]])]
    assert tokens and all(isinstance(t, bytes) and len(t) == 32 for t in tokens)
    tokened = set(TOKEN_FIELDS.values())
    shown = {k: [t.hex() for t in as_list(v)] if k in tokened else v for k, v in out.items()}
    serialised = json.dumps(shown).upper()
    raw_bytes = b"".join(tokens)
    plain = [v for n in normalised.values() for v in as_list(n)]
    for value in [*RAW.values(), *plain]:
        text = str(value).upper()
        if len(text) < 3:
            continue  # "2", "03": too short to be told apart from chance
        assert text not in serialised
        assert text.encode() not in raw_bytes
    assert RAW["national_id"] not in repr(out)


def test_linkkey_never_shows_its_bytes() -> None:
    assert bytes(range(32)).hex() not in repr(KEY)
    assert "secret=**********" in str(KEY)


def test_emit_limits_the_tokens() -> None:
    tok = Tokeniser(KEY, rules=TokenRules(emit=frozenset({"national_id", "name_pair"})))
    assert set(tok.tokens(RAW)) == {"national_id_token", "name_pair_token"}


@given(st.dates(min_value=date(1000, 1, 1)))
def test_iso_fast_path_agrees_with_strptime(day: date) -> None:
    from connectors.sdk.tokenise import normalise_date

    assert normalise_date(day.isoformat()) == day
    assert normalise_date(f"{day.year}-{day.month}-{day.day}") == day  # strptime accepts this


def test_iso_week_dates_are_not_dates_of_birth() -> None:
    from connectors.sdk.tokenise import normalise_date

    with pytest.raises(IdentifierInvalid):
        normalise_date("2026-W01-1")


def test_person_refs_are_scoped_by_agency() -> None:
    tvet = Tokeniser(KEY, rules=TokenRules(person_ref_scope="tvet"))
    board = Tokeniser(KEY, rules=TokenRules(person_ref_scope="jobboard"))
    same = {"person_ref": "T0000029"}
    assert tvet.tokens(same) != board.tokens(same)
    assert tvet.tokens(same) == tvet.tokens({"person_ref": " t0000029 "})
    assert tvet.normalised(same)["person_ref"] == "TVET:T0000029"


# Dropped kinds -------------------------------------------------------------------------


def test_retired_kinds_are_never_emitted_nor_accepted() -> None:
    tok = Tokeniser(KEY)
    emitted = set(tok.tokens(RAW))
    assert emitted == set(TOKEN_FIELDS.values())
    assert not emitted & {token_field(kind) for kind in RETIRED_TOKEN_KINDS}
    for kind in RETIRED_TOKEN_KINDS:
        with pytest.raises(ValueError, match="unknown token kind"):
            token(KEY, kind, "1987")
    # Sex and region are clear fields now, never identifiers to tokenise.
    assert not {"sex", "region"} & RAW_KINDS
    with pytest.raises(IdentifierInvalid, match="unknown identifier kinds"):
        tok.tokens({"sex": "F"})
    with pytest.raises(ValueError, match="unknown token kinds"):
        TokenRules(emit=frozenset({"birth_year"}))


def test_identifiers_too_short_to_have_many_values_are_refused() -> None:
    with pytest.raises(ValueError, match="national_id_lengths"):
        TokenRules(national_id_lengths=frozenset({4, 9}))
    with pytest.raises(ValueError, match="nis_number_lengths"):
        TokenRules(nis_number_lengths=frozenset({5}))


# name_pair ------------------------------------------------------------------------------


@given(given_name=names, family_name=names)
def test_swapped_names_share_the_name_pair(given_name: str, family_name: str) -> None:
    tok = Tokeniser(KEY)
    try:
        straight = tok.tokens({"given_name": given_name, "family_name": family_name})
    except IdentifierInvalid:
        return
    swapped = tok.tokens({"given_name": family_name, "family_name": given_name})
    assert straight["name_pair_token"] == swapped["name_pair_token"]
    if normalise_name(given_name) != normalise_name(family_name):
        assert straight["name_token"] != swapped["name_token"]


def test_name_pair_still_tells_people_apart() -> None:
    tok = Tokeniser(KEY)
    pair = [
        tok.tokens({"given_name": g, "family_name": f})["name_pair_token"]
        for g, f in [("Ann", "Lee"), ("Ann", "Leeds"), ("Anne", "Lee"), ("Lee Ann", "Ali")]
    ]
    assert len(set(pair)) == 4


# national_id_variants --------------------------------------------------------------------

ID_LENGTHS = frozenset(range(8, 14))
ids = st.text(alphabet="0123456789", min_size=9, max_size=12)


def variant_tokens(national_id: str) -> set[bytes]:
    tok = Tokeniser(KEY, rules=TokenRules(national_id_lengths=ID_LENGTHS))
    out = tok.tokens({"national_id": national_id})["national_id_variants_token"]
    assert isinstance(out, list) and out == sorted(set(out))
    return set(out)


def indel_distance(a: str, b: str) -> int:
    """Insertions plus deletions that turn ``a`` into ``b`` (via the longest common
    subsequence): a substitution costs 2, an adjacent transposition 2."""
    row = [0] * (len(b) + 1)
    for ca in a:
        prev_diag, row[0] = 0, 0
        for j, cb in enumerate(b, start=1):
            prev_diag, row[j] = row[j], prev_diag + 1 if ca == cb else max(row[j], row[j - 1])
    return len(a) + len(b) - 2 * row[-1]


def test_variants_are_the_id_and_each_one_digit_deletion() -> None:
    assert deletion_variants("1223") == ["122", "1223", "123", "223"]


@given(ids, st.data())
def test_a_one_digit_typo_shares_a_variant(national_id: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(national_id) - 1))
    digit = data.draw(st.sampled_from("0123456789").filter(lambda d: d != national_id[i]))
    typo = national_id[:i] + digit + national_id[i + 1 :]
    assert variant_tokens(national_id) & variant_tokens(typo)


@given(ids, st.data())
def test_an_adjacent_transposition_shares_a_variant(national_id: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(national_id) - 2))
    swapped = national_id[:i] + national_id[i + 1] + national_id[i] + national_id[i + 2 :]
    assert variant_tokens(national_id) & variant_tokens(swapped)


@given(ids, st.data())
def test_a_dropped_or_extra_digit_shares_a_variant(national_id: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(national_id) - 1))
    shorter = national_id[:i] + national_id[i + 1 :]
    digit = data.draw(st.sampled_from("0123456789"))
    longer = national_id[:i] + digit + national_id[i:]
    assert variant_tokens(national_id) & variant_tokens(shorter)
    assert variant_tokens(national_id) & variant_tokens(longer)


@given(ids, st.data())
def test_two_typos_share_a_variant_only_when_they_amount_to_a_shift(
    national_id: str, data: st.DataObject
) -> None:
    positions = st.lists(st.integers(0, len(national_id) - 1), min_size=2, max_size=2, unique=True)
    wrong = list(national_id)
    for k in data.draw(positions):
        wrong[k] = data.draw(st.sampled_from([d for d in "0123456789" if d != national_id[k]]))
    typos = "".join(wrong)
    assert bool(variant_tokens(national_id) & variant_tokens(typos)) == (
        indel_distance(national_id, typos) <= 2
    )


def test_two_typos_share_no_variant_unless_a_shift() -> None:
    assert not variant_tokens("12345678903") & variant_tokens("92345678913")
    # 0110 -> 1100 changes two digits but is also "drop the first 0, add one at the end".
    assert variant_tokens("011000000") & variant_tokens("110000000")


@settings(max_examples=300)
@given(ids, ids)
def test_ids_share_a_variant_exactly_within_one_deletion_and_one_insertion(a: str, b: str) -> None:
    """The exact claim: two IDs share a variant token if and only if at most one deletion
    and one insertion turn one into the other; unrelated IDs share none."""
    assert bool(variant_tokens(a) & variant_tokens(b)) == (indel_distance(a, b) <= 2)


def test_strict_lengths_refuse_a_dropped_digit_before_it_is_tokenised() -> None:
    tok = Tokeniser(KEY, rules=TokenRules(national_id_lengths=frozenset({11})))
    with pytest.raises(IdentifierInvalid, match="national_id"):
        tok.tokens({"national_id": "1234567890"})


# family-phonetic date composites ---------------------------------------------------------

COMPOSITES = ("year_month", "month_day", "year_day")
PARTS = {
    "year_month": {"year", "month"},
    "month_day": {"month", "day"},
    "year_day": {"year", "day"},
}


def composites(family_name: str, born: date) -> dict[str, bytes]:
    out = Tokeniser(KEY).tokens({"family_name": family_name, "dob": born})
    return {c: out[f"family_phonetic_{c}_token"] for c in COMPOSITES}  # type: ignore[misc]


@given(
    born=st.dates(min_value=date(1920, 1, 1), max_value=date(2010, 12, 31)),
    part=st.sampled_from(["year", "month", "day"]),
    data=st.data(),
)
def test_one_wrong_date_part_still_shares_the_composite_of_the_other_two(
    born: date, part: str, data: st.DataObject
) -> None:
    bounds = {"year": (1900, 2015), "month": (1, 12), "day": (1, 31)}[part]
    value = data.draw(st.integers(*bounds).filter(lambda v: v != getattr(born, part)))
    try:
        wrong = born.replace(**{part: value})
    except ValueError:  # 31 April
        return
    true, recorded = composites("Braithwaite", born), composites("Braithwaite", wrong)
    shared = {c for c in COMPOSITES if true[c] == recorded[c]}
    # Each part is in two of the three composites: exactly the one without it survives.
    assert shared == {c for c in COMPOSITES if part not in PARTS[c]}
    tok = Tokeniser(KEY)
    assert tok.tokens({"dob": born}) != tok.tokens({"dob": wrong})


@given(born=st.dates(min_value=date(1920, 1, 1), max_value=date(2010, 12, 31)))
def test_a_day_month_swap_shares_the_month_day_composite(born: date) -> None:
    if born.day > 12 or born.day == born.month:
        return
    swapped = born.replace(month=born.day, day=born.month)
    true, recorded = composites("Mohammed", born), composites("Mohammed", swapped)
    assert true["month_day"] == recorded["month_day"]
    assert true["year_month"] != recorded["year_month"]


def test_composites_need_the_same_family_phonetic_code() -> None:
    born = date(1987, 3, 7)
    assert composites("Braithwaite", born) == composites("Brathwaite", born)  # same NYSIIS
    other = composites("Ramdial", born)
    assert not set(other.values()) & set(composites("Braithwaite", born).values())


def test_a_connector_on_an_older_schema_emits_only_the_kinds_it_carries() -> None:
    """Sealing refuses a field the writer schema does not name: a connector still writing
    tvet/trainee v1 tokenises only v1's kinds (and never a retired one)."""
    import yaml

    from connectors.sdk.config import parse_config

    path = Path(__file__).parents[3] / "connectors" / "agencies" / "tvet" / "trainee.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    current = parse_config(data).tokenise.rules().emit
    assert current is not None and {"name_pair", "national_id_variants"} <= current
    older = parse_config({**data, "schema_major": 1}).tokenise.rules().emit
    assert older == frozenset({
        "national_id", "name", "given_name", "family_name", "given_name_phonetic",
        "family_name_phonetic", "dob", "person_ref",
    })  # fmt: skip
    unknown = parse_config({**data, "dataset": "trainee_pilot"}).tokenise.rules().emit
    assert unknown is None  # not a packaged schema: every kind
