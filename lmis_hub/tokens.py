"""The token kinds of the identifier contract, shared by the schemas and the connectors.

A raw personal identifier never leaves an agency: the connector replaces it with
``HMAC-SHA256(K_link, kind || 0x1F || normalised value)``, and a schema field named
``<kind>_token`` (with the field attribute ``"token": "<kind>"``) carries it. A kind in
:data:`ARRAY_TOKEN_KINDS` is carried as an Avro array of tokens.

No token kind may have a small value space: a keyed hash of a month, a day, a sex code
or a region is decoded by anyone who knows the values of a few people (known plaintext)
or by frequency, and so is a year+month (1,440 values) or month+day (366) composite.
:data:`VALUE_SPACE` states, kind by kind, a lower bound of the values a token can take
*by construction* (what the normalisation lets through, not what a population happens
to use), with the reasoning; every bound must be at least :data:`MIN_VALUE_SPACE`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

#: Every token kind the connectors emit (the HMAC tag), in the contract's order.
TOKEN_KINDS: tuple[str, ...] = (
    "national_id",
    "nis_number",
    "name",
    "given_name",
    "family_name",
    "given_name_phonetic",
    "family_name_phonetic",
    "dob",
    "family_phonetic_year_month",
    "family_phonetic_month_day",
    "family_phonetic_year_day",
    "name_pair",
    "national_id_variants",
    "person_ref",
)

#: Kinds carried as an array of tokens (one per variant) rather than a single token.
ARRAY_TOKEN_KINDS: frozenset[str] = frozenset({"national_id_variants"})

#: Kinds no connector emits any more because their value space is small; schema
#: versions published before the change still carry them (nullable, so later versions
#: could drop them compatibly), and the hub still re-keys them in old deliveries.
RETIRED_TOKEN_KINDS: tuple[str, ...] = ("birth_year", "birth_month", "birth_day", "sex", "region")

#: Fewest digits a national ID or NIS number may be configured to have
#: (``tokenise.national_id_lengths``, ``nis_number_lengths``): the bounds below rest on it.
MIN_ID_DIGITS: Final = 6

#: No token kind may take fewer values than this by construction.
MIN_VALUE_SPACE: Final = 10_000

#: A value space with no upper limit: any string of letters, any agency number.
OPEN_ENDED: Final = math.inf


@dataclass(frozen=True)
class ValueSpace:
    """A lower bound of the number of values a token kind can take, and why."""

    lower_bound: float
    reasoning: str


_NAMES = "any non-empty sequence of words of A-Z after normalisation: open-ended"
_PHONETIC = (
    "NYSIIS code of each word, untruncated (jellyfish's default), joined by a space: a "
    "word of n letters keeps up to n letters, so open-ended"
)

#: Token kind -> a lower bound of its value space by construction.
VALUE_SPACE: dict[str, ValueSpace] = {
    "national_id": ValueSpace(
        10.0**MIN_ID_DIGITS,
        f"digits only, at least {MIN_ID_DIGITS} of them (config check): >= 10^{MIN_ID_DIGITS};"
        " the 11-digit IDs of the nation give 10^10 (10-digit serial + Luhn digit)",
    ),
    "nis_number": ValueSpace(
        10.0**MIN_ID_DIGITS,
        f"digits only, at least {MIN_ID_DIGITS} of them (config check): >= 10^{MIN_ID_DIGITS}",
    ),
    "name": ValueSpace(OPEN_ENDED, f"given name, a space, family name; {_NAMES}"),
    "given_name": ValueSpace(OPEN_ENDED, _NAMES),
    "family_name": ValueSpace(OPEN_ENDED, _NAMES),
    "given_name_phonetic": ValueSpace(OPEN_ENDED, _PHONETIC),
    "family_name_phonetic": ValueSpace(OPEN_ENDED, _PHONETIC),
    "dob": ValueSpace(
        36_524,
        "a full ISO date; any date parses, and living persons' dates of birth alone span "
        "more than 100 years: >= 100 x 365.24 days",
    ),
    "family_phonetic_year_month": ValueSpace(
        OPEN_ENDED, "family-name phonetic code (open-ended) x year-month (>= 1,440)"
    ),
    "family_phonetic_month_day": ValueSpace(
        OPEN_ENDED,
        "family-name phonetic code (open-ended) x {month, day} in ascending order (306 pairs)",
    ),
    "family_phonetic_year_day": ValueSpace(
        OPEN_ENDED, "family-name phonetic code (open-ended) x year-day (>= 120 x 31)"
    ),
    "name_pair": ValueSpace(OPEN_ENDED, f"two normalised names in sorted order; {_NAMES}"),
    "national_id_variants": ValueSpace(
        10.0 ** (MIN_ID_DIGITS - 1),
        f"the ID itself and each one-digit deletion of it: strings of at least "
        f"{MIN_ID_DIGITS - 1} digits, >= 10^{MIN_ID_DIGITS - 1}",
    ),
    "person_ref": ValueSpace(
        OPEN_ENDED, "the agency's own person number, any non-empty string, scoped by agency"
    ),
}

#: Why the retired kinds went: their value spaces, for the record (and the tests).
RETIRED_VALUE_SPACE: dict[str, ValueSpace] = {
    "birth_year": ValueSpace(120, "a year of birth of a living person: about 120 values"),
    "birth_month": ValueSpace(12, "a month: 12 values"),
    "birth_day": ValueSpace(31, "a day of the month: 31 values"),
    "sex": ValueSpace(3, "1, 2 or 9"),
    "region": ValueSpace(15, "a region code: 15 in Trinidad and Tobago"),
}


def small_value_spaces(spaces: Mapping[str, ValueSpace]) -> dict[str, float]:
    """Kinds whose declared value space is below :data:`MIN_VALUE_SPACE`, with the bound."""
    return {
        kind: space.lower_bound
        for kind, space in spaces.items()
        if space.lower_bound < MIN_VALUE_SPACE
    }


def token_field(kind: str) -> str:
    """The schema field that carries a token of ``kind``."""
    return f"{kind}_token"
