"""The token kinds of the identifier contract, shared by the schemas and the connectors.

A raw personal identifier never leaves an agency: the connector replaces it with
``HMAC-SHA256(K_link, kind || 0x1F || normalised value)``, and a schema field named
``<kind>_token`` (with the field attribute ``"token": "<kind>"``) carries it. A kind in
:data:`ARRAY_TOKEN_KINDS` is carried as an Avro array of tokens.

A token is 32 bytes (Avro ``fixed(32)`` ``lmis.types.Token``): the **key id** of the
linkage key that made it (its generation, 1..65535, 2 bytes big-endian), then the first
30 bytes of the HMAC (240 bits). K_link is rotated by issuing a new generation; since
every token says which generation made it, the hub refuses a batch that mixes two, and
the linkage never compares tokens of different generations. :data:`TOKEN_LAYOUT` is the
only place a token's layout is written down (:func:`make_token` applies it); the hub's
re-keying keeps the key id with the same layout.

No token kind may have a small value space: a keyed hash of a month, a day, a sex code
or a region is decoded by anyone who knows the values of a few people (known plaintext)
or by frequency, and so is a year+month (1,440 values) or month+day (366) composite.
:data:`VALUE_SPACE` states, kind by kind, a lower bound of the values a token can take
*by construction* (what the normalisation lets through, not what a population happens
to use), with the reasoning; every bound must be at least :data:`MIN_VALUE_SPACE`.
"""

from __future__ import annotations

import math
import struct
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


#: Bytes of a token: the key id, then the truncated HMAC.
TOKEN_BYTES: Final = 32
#: Bytes of the key id at the start of a token (big-endian).
KEY_ID_BYTES: Final = 2
#: Bytes of the HMAC a token keeps (240 bits).
MAC_BYTES: Final = TOKEN_BYTES - KEY_ID_BYTES
#: The key ids (generations) a linkage key may have.
MIN_KEY_ID: Final = 1
MAX_KEY_ID: Final = 2 ** (8 * KEY_ID_BYTES) - 1
#: A token: the key id's two bytes, then the first 30 bytes of an HMAC-SHA256 output
#: (``pack`` cuts the 32-byte MAC to 30 in C, without slicing copies).
TOKEN_LAYOUT: Final = struct.Struct(f"{KEY_ID_BYTES}s{MAC_BYTES}s")


def check_key_id(key_id: int) -> int:
    """``key_id`` when it is a key generation a token can carry (ValueError otherwise)."""
    if isinstance(key_id, bool) or not isinstance(key_id, int):
        raise ValueError(f"a key id is a whole number, not {type(key_id).__name__}")
    if not MIN_KEY_ID <= key_id <= MAX_KEY_ID:
        raise ValueError(f"a key id is from {MIN_KEY_ID} to {MAX_KEY_ID}, not {key_id}")
    return key_id


def key_id_prefix(key_id: int) -> bytes:
    """The two bytes every token of key generation ``key_id`` starts with."""
    return check_key_id(key_id).to_bytes(KEY_ID_BYTES, "big")


def make_token(prefix: bytes, mac: bytes) -> bytes:
    """The token of key-id ``prefix`` (:func:`key_id_prefix`, or the first two bytes of a
    token being re-keyed) and an HMAC-SHA256 output ``mac``: the prefix, then the first
    :data:`MAC_BYTES` bytes of the MAC (:data:`TOKEN_LAYOUT`)."""
    return TOKEN_LAYOUT.pack(prefix, mac)


def token_key_id(token: bytes) -> int:
    """The key id (generation) a token carries."""
    return int.from_bytes(token[:KEY_ID_BYTES], "big")
