"""Tokenisation: personal identifiers become keyed tokens at the connector.

Per the shared contract a token is 32 bytes: the key id (generation) of K_link, two
bytes big-endian, then the first 30 bytes of ``HMAC-SHA256(K_link, tag || 0x1F ||
normalised value)``, where ``tag`` is the token kind in ASCII (the layout is
:func:`lmis_hub.tokens.make_token`'s). Normalisation makes the
same person's identifier produce the same token in every agency's connector: case,
accents, spacing and honorifics never change a token.

Phonetic codes use NYSIIS (jellyfish): it was designed for person names in record
linkage (the New York State Identification and Intelligence System), keeps more of a
name than Soundex's letter + 3 digits, and unlike metaphone (built for English words)
it gives stable codes for short given names and names of French and Spanish origin
common in the region. Each word of a name is coded and the codes are joined by a space.

No token kind has a small value space (see :mod:`lmis_hub.tokens`): birth year, sex and
region travel in the clear where the agreement allows, not as tokens, and the parts of a
date of birth are tokenised only tied to the family-name phonetic code. Since tokens
allow no string distance, the tolerance linkage needs is built into the token set:

* ``family_phonetic_year_month``, ``_month_day``, ``_year_day``: each date part is in
  two of the three, so a record with one wrong part still shares the composite of the
  other two (one of three, never two); month and day go in ascending order, so a
  day/month swap still shares ``_month_day``;
* ``name_pair``: the two names in sorted order, the same when given and family name
  were recorded the other way round;
* ``national_id_variants``: the tokens of the ID itself and of each one-digit
  deletion (sorted, duplicates dropped). Two IDs share one exactly when each is
  obtained from the other by at most one deletion and one insertion: a one-digit typo
  (delete it from both), an adjacent transposition (delete one of the two digits from
  each), a dropped or an extra digit (the shorter ID is a variant of the longer).

:class:`Tokeniser` returns a *new* record: clear fields are copied, raw identifiers are
read from a separate mapping and never copied, so nothing raw can reach serialisation.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import jellyfish

from connectors.sdk.dates import parse_date
from connectors.sdk.errors import IdentifierInvalid
from connectors.sdk.linkkey import LinkKey
from lmis_hub.tokens import MIN_ID_DIGITS, TOKEN_KINDS, make_token, token_field
from schemas.record_ids import opaque_record_id

SEPARATOR = b"\x1f"

#: Token kind (the HMAC tag) -> the schema field that carries it.
TOKEN_FIELDS: dict[str, str] = {kind: token_field(kind) for kind in TOKEN_KINDS}

_TAG_PREFIX = {kind: kind.encode("ascii") + SEPARATOR for kind in TOKEN_FIELDS}

#: Raw identifier kinds a mapping may supply; the others are derived from them.
RAW_KINDS = frozenset(
    {"national_id", "nis_number", "given_name", "family_name", "dob", "person_ref"}
)

HONORIFICS = frozenset(
    {"MR", "MRS", "MS", "MISS", "MSTR", "MASTER", "DR", "PROF", "REV", "FR", "SR", "SIR"}
    | {"DAME", "HON", "LADY", "LORD", "MADAM", "MME", "MLLE", "SRA", "SRTA", "DON", "DONA"}
)

_NOT_LETTER = re.compile(r"[^A-Z ]+")
_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"\D+")


def token(key: LinkKey, kind: str, normalised: str) -> bytes:
    """The 32-byte token of an already normalised value of the given kind: the key's id,
    then the HMAC truncated to 30 bytes."""
    try:
        tag = _TAG_PREFIX[kind]
    except KeyError:
        raise ValueError(f"unknown token kind {kind!r}") from None
    mac = hmac.digest(key.reveal(), tag + normalised.encode("utf-8"), "sha256")
    return make_token(key.token_prefix, mac)


def normalise_name(value: str) -> str:
    """Accents stripped (NFKD), upper case, letters only, single spaces, no honorifics."""
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_letters = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    ascii_letters = ascii_letters.replace("-", " ").replace(".", " ")
    ascii_letters = _NOT_LETTER.sub("", _SPACES.sub(" ", ascii_letters))
    words = [w for w in ascii_letters.split(" ") if w and w not in HONORIFICS]
    if not words:
        raise IdentifierInvalid("name has no letters left after normalisation")
    return " ".join(words)


def phonetic(normalised_name: str) -> str:
    """NYSIIS code of each word of a normalised name, joined by a space."""
    return " ".join(jellyfish.nysiis(word) for word in normalised_name.split(" "))


def normalise_digits(value: str | int, *, kind: str, lengths: Collection[int]) -> str:
    """Digits only; the count of digits must be one of ``lengths``."""
    digits = _NOT_DIGIT.sub("", str(value))
    if len(digits) not in lengths:
        allowed = "/".join(str(n) for n in sorted(lengths))
        raise IdentifierInvalid(f"{kind} has {len(digits)} digits, expected {allowed}")
    return digits


def normalise_date(value: str | date, *, formats: Iterable[str] = ("%Y-%m-%d",)) -> date:
    """A date from a date object or a string in one of the explicit formats."""
    formats = tuple(formats)
    parsed = parse_date(value, formats)
    if parsed is None:
        raise IdentifierInvalid(f"date does not match any of the formats {list(formats)}")
    return parsed


def normalise_person_ref(value: str | int) -> str:
    """An agency's own person number: upper case with all spaces removed."""
    ref = _SPACES.sub("", str(value)).upper()
    if not ref:
        raise IdentifierInvalid("person reference is empty")
    return ref


def date_composites(family_phonetic: str, born: date) -> dict[str, str]:
    """The family-name phonetic code tied to each pair of date-of-birth parts.

    A date part is never tokenised on its own or with another date part alone (1,440
    year-months, 366 month-days): the phonetic code makes the value space open-ended.
    Month and day are written in ascending order, so a day/month swap gives the same
    ``family_phonetic_month_day``.
    """
    low, high = sorted((born.month, born.day))
    return {
        "family_phonetic_year_month": f"{family_phonetic}|{born.year:04d}-{born.month:02d}",
        "family_phonetic_month_day": f"{family_phonetic}|{low:02d}+{high:02d}",
        "family_phonetic_year_day": f"{family_phonetic}|{born.year:04d}--{born.day:02d}",
    }


def name_pair(given: str, family: str) -> str:
    """Two normalised names in sorted order: a swap of given and family name changes nothing."""
    first, second = sorted((given, family))
    return f"{first}|{second}"


def deletion_variants(digits: str) -> list[str]:
    """The ID itself and every one-character deletion of it, sorted, without repeats."""
    return sorted({digits} | {digits[:i] + digits[i + 1 :] for i in range(len(digits))})


def check_id_lengths(national_id: Collection[int], nis_number: Collection[int]) -> None:
    """Refuse ID lengths under :data:`MIN_ID_DIGITS`: so short an identifier has too few
    values for a token of it to hide anything (ValueError naming the setting)."""
    for name, lengths in (("national_id_lengths", national_id), ("nis_number_lengths", nis_number)):
        short = sorted(n for n in lengths if n < MIN_ID_DIGITS)
        if short:
            raise ValueError(
                f"{name}: {short} below {MIN_ID_DIGITS} digits; so short an identifier "
                "has too few values to be tokenised"
            )


@dataclass(frozen=True)
class TokenRules:
    """Agency-specific normalisation rules."""

    national_id_lengths: frozenset[int] = frozenset({9})
    nis_number_lengths: frozenset[int] = frozenset({6, 7, 8, 9})
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    #: Token kinds to emit; None means every kind the supplied identifiers allow.
    emit: frozenset[str] | None = field(default=None)
    #: Agency person numbers are only unique within their agency: with a scope (the
    #: agency), ``T0001`` at the TVET authority and at the job board give different
    #: tokens. None keeps the bare number (for tests of the bare contract).
    person_ref_scope: str | None = None

    def __post_init__(self) -> None:
        check_id_lengths(self.national_id_lengths, self.nis_number_lengths)
        unknown = sorted(set(self.emit or ()) - set(TOKEN_KINDS))
        if unknown:
            raise ValueError(f"emit: unknown token kinds {unknown}")


#: A token field's value: one token, or the tokens of an array kind.
TokenValue = bytes | list[bytes]


class Tokeniser:
    """Replace raw identifiers with tokens; the raw values never enter the output."""

    def __init__(self, key: LinkKey, *, rules: TokenRules | None = None) -> None:
        self._key = key
        self._rules = rules or TokenRules()

    def normalised(self, identifiers: Mapping[str, Any]) -> dict[str, str | list[str]]:
        """Every derivable token kind -> its normalised value (missing inputs skipped);
        a kind of :data:`~lmis_hub.tokens.ARRAY_TOKEN_KINDS` has a sorted list of values.

        Raises :class:`IdentifierInvalid` naming the kind (never the value).
        """
        rules = self._rules
        unknown = set(identifiers) - RAW_KINDS
        if unknown:
            raise IdentifierInvalid(f"unknown identifier kinds {sorted(unknown)}")
        present = {k: v for k, v in identifiers.items() if v is not None and v != ""}
        out: dict[str, str | list[str]] = {}
        born: date | None = None
        for kind, value in present.items():
            try:
                if kind == "national_id":
                    digits = normalise_digits(value, kind=kind, lengths=rules.national_id_lengths)
                    out[kind] = digits
                    out["national_id_variants"] = deletion_variants(digits)
                elif kind == "nis_number":
                    out[kind] = normalise_digits(value, kind=kind, lengths=rules.nis_number_lengths)
                elif kind in ("given_name", "family_name"):
                    name = normalise_name(str(value))
                    out[kind] = name
                    out[f"{kind}_phonetic"] = phonetic(name)
                elif kind == "dob":
                    born = normalise_date(value, formats=rules.date_formats)
                    out["dob"] = born.isoformat()
                else:  # person_ref
                    ref = normalise_person_ref(value)
                    scope = rules.person_ref_scope
                    out["person_ref"] = f"{scope.upper()}:{ref}" if scope else ref
            except IdentifierInvalid as exc:
                raise IdentifierInvalid(f"{kind}: {exc.message}", kind=kind) from exc
        given, family = out.get("given_name"), out.get("family_name")
        if isinstance(given, str) and isinstance(family, str):
            out["name"] = f"{given} {family}"
            out["name_pair"] = name_pair(given, family)
        family_code = out.get("family_name_phonetic")
        if born is not None and isinstance(family_code, str):
            out.update(date_composites(family_code, born))
        return out

    def tokens(self, identifiers: Mapping[str, Any]) -> dict[str, TokenValue]:
        """Token field name -> 32-byte token (a sorted list of them for an array kind)
        for every kind that is emitted; every token carries this key's id."""
        emit = self._rules.emit
        out: dict[str, TokenValue] = {}
        for kind, value in self.normalised(identifiers).items():
            if emit is not None and kind not in emit:
                continue
            if isinstance(value, list):
                out[TOKEN_FIELDS[kind]] = sorted({token(self._key, kind, v) for v in value})
            else:
                out[TOKEN_FIELDS[kind]] = token(self._key, kind, value)
        return out

    def tokenise(self, record: Mapping[str, Any], identifiers: Mapping[str, Any]) -> dict[str, Any]:
        """A new record: the clear fields of ``record`` plus the tokens of ``identifiers``.

        ``identifiers`` holds the raw values by kind; none of them is copied.
        """
        clash = set(record) & set(TOKEN_FIELDS.values())
        if clash:
            raise IdentifierInvalid(f"record already has token fields {sorted(clash)}")
        out = dict(record)
        out.update(self.tokens(identifiers))
        return out


class RecordIds:
    """Opaque record ids of one agency's rows (see :mod:`schemas.record_ids`).

    The id is keyed under a sub-key of K_link, so the hub cannot turn it back into the
    row key; the same row key gives the same id in every run.
    """

    __slots__ = ("_key", "agency", "dataset")

    def __init__(self, key: LinkKey, *, agency: str, dataset: str) -> None:
        self._key = key
        self.agency = agency
        self.dataset = dataset

    def of(self, source_key: str, *, dataset: str | None = None) -> str:
        """The record id of the row ``source_key`` of ``dataset`` (default: this one)."""
        return opaque_record_id(
            self._key.reveal(), self.agency, dataset or self.dataset, source_key
        )

    def __repr__(self) -> str:
        return f"RecordIds(agency={self.agency!r}, dataset={self.dataset!r}, key=**********)"
