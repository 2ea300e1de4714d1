"""Record validation: Avro types, code lists and the domain rules written in the schemas.

Rules come from the schema itself, so a new dataset needs no code:

* field ``"codelist": "<list>"`` — a non-null value must be a code of that list;
* field ``"minimum"`` / ``"maximum"`` — inclusive bounds of a number;
* every ``double`` — finite (no NaN, no infinity);
* every date and timestamp — between :data:`EARLIEST_DATE` and :data:`LATEST_YEARS`
  years after the day of the check (no 0001-01-01, no 1800, no 2999);
* field ``"token": "<kind>"`` — a non-null value is exactly 32 bytes that could be a
  token (:mod:`lmis_hub.tokens`: a key id, then 30 bytes of HMAC): those 30 bytes are not
  mostly printable text or zero bytes, and hold no run of eight ASCII digits (a national
  id padded into a token field is refused; a real HMAC output has one of those shapes
  about 3 times in 10^10); in an array token field, every element. The key id is left
  out of that look: the custodian chooses it, and judged with the rest it would make the
  rate of false refusals depend on the choice (about 12 times higher for an id whose two
  bytes are ASCII digits, such as 12594 = "12");
* every token of a batch — every token field, every element of an array token field —
  carries the same key id (``link_key``): a batch is tokenised with one generation of
  K_link, and one that mixes two is refused (the tokens of generations other than the
  batch's most common one are named);
* the record id (``lmis.record_id``) of an agency dataset — the opaque shape of
  :mod:`schemas.record_ids`;
* record ``"lmis.rules": [[a, b], ...]`` — when both fields are present, ``a <= b``
  (e.g. a vacancy's posted date is not after its closing date).

Two entry points share the rules: :func:`validate_record` (one record, with Avro type
checks; connectors and tests) and :class:`RecordRules` (a decoded batch column-wise, at
the hub: decoding already guarantees the Avro types, so only the content rules remain,
checked per column at C speed where numpy can do it). A broken rule is a
:class:`Problem`: record number, field and rule — never the value, which may be
personal data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import cache
from itertools import chain
from typing import Any

import numpy as np
from fastavro import parse_schema
from fastavro.validation import validate

from lmis_hub.tokens import KEY_ID_BYTES, MAC_BYTES, TOKEN_BYTES, token_key_id
from schemas.catalog import SchemaVersion
from schemas.codelists import CodeLists
from schemas.errors import (
    BadRecordId,
    CodeListViolation,
    DateOutOfRange,
    ImplausibleToken,
    LinkKeyMixed,
    NotFinite,
    OrderViolation,
    OutOfRange,
    RecordsInvalid,
    TypeViolation,
)
from schemas.record_ids import RECORD_ID_PATTERN, record_id_problem

EARLIEST_DATE = date(1900, 1, 1)
#: Dates may lie at most this many years after the day of the check (closing dates,
#: expected end dates); anything later is a typing or encoding error.
LATEST_YEARS = 10
#: A token with this many of its 30 MAC bytes printable ASCII or zero is text, not a
#: hash (as before tokens carried a key id: all but two bytes).
_TEXTLIKE_BYTES = MAC_BYTES - 2
_DIGIT_RUN = 8

#: Rule name → the error class (and so the reason code) that refuses a batch for it.
#: Problems and receipts name the rule (a receipt's ``problems[].rule``); this table
#: gives its code. ``type`` comes only from :func:`validate_record`: at the hub a record
#: of the wrong type does not decode (``envelope.schema_violation``).
RULE_ERRORS: dict[str, type[RecordsInvalid]] = {
    "type": TypeViolation,
    "codelist": CodeListViolation,
    "minimum": OutOfRange,
    "maximum": OutOfRange,
    "finite": NotFinite,
    "date": DateOutOfRange,
    "token": ImplausibleToken,
    "link_key": LinkKeyMixed,
    "record_id": BadRecordId,
    "order": OrderViolation,
}


@dataclass(frozen=True)
class Violation:
    """One broken rule in one record: the field, the rule and what is wrong."""

    field: str
    rule: str  # type, codelist, minimum, maximum, finite, date, token, link_key, record_id, order
    message: str


@dataclass(frozen=True, order=True)
class Problem:
    """One broken rule in a batch: the record's 0-based number, the field and the rule."""

    record: int
    field: str
    rule: str

    def describe(self) -> str:
        return f"record {self.record} {self.field}: {self.rule}"


# A check takes a column and returns the numbers of the records that break its rule.
_Check = Callable[[Sequence[Any], date], Iterable[int]]


class RecordRules:
    """The content rules of one schema version, compiled once, checked column-wise."""

    def __init__(self, schema: SchemaVersion, *, codelists: CodeLists | None = None) -> None:
        lists = codelists if codelists is not None else CodeLists.packaged()
        self.schema = schema
        self.checks: list[tuple[str, str, _Check]] = []
        self.token_fields: list[str] = []  # checked together: one numpy pass per batch
        self.array_token_fields: set[str] = set()  # of those, the arrays of tokens
        record_id = schema.raw.get("lmis.record_id")
        for f in schema.raw["fields"]:
            name = f["name"]
            kind = _kind(f)
            if name == record_id and schema.agency != "hub":
                self.checks.append((name, "record_id", _bad_record_ids))
            if "codelist" in f:
                self.checks.append((name, "codelist", _not_in(lists[f["codelist"]])))
            if "minimum" in f and kind in ("int", "long", "double", "float"):
                self.checks.append((name, "minimum", _below(f["minimum"])))
            if "maximum" in f and kind in ("int", "long", "double", "float"):
                self.checks.append((name, "maximum", _above(f["maximum"])))
            if kind in ("double", "float"):
                self.checks.append((name, "finite", _not_finite))
            if kind in ("date", "timestamp-millis", "timestamp-micros"):
                self.checks.append((name, "date", _out_of_dates))
            if "token" in f:
                self.token_fields.append(name)
                if kind == "array":
                    self.array_token_fields.add(name)
        self.order: list[tuple[str, str]] = [(a, b) for a, b in schema.raw.get("lmis.rules", [])]

    def check(self, columns: Mapping[str, Sequence[Any]], *, today: date) -> list[Problem]:
        """Every broken rule of the batch ``columns`` (field name → values), sorted."""
        found: list[Problem] = []
        for name, rule, check in self.checks:
            values = columns.get(name)
            if values is None:
                continue
            found.extend(Problem(i, name, rule) for i in check(values, today))
        found.extend(self._token_problems(columns))
        for first, second in self.order:
            a_values, b_values = columns.get(first), columns.get(second)
            if a_values is None or b_values is None:
                continue
            found.extend(
                Problem(i, second, "order")
                for i, (a, b) in enumerate(zip(a_values, b_values, strict=True))
                if a is not None and b is not None and a > b
            )
        found.sort()
        return found

    def raise_if_broken(
        self, columns: Mapping[str, Sequence[Any]], *, today: date, shown: int = 20
    ) -> None:
        """Refuse the batch with the first problem's code, naming up to ``shown`` problems."""
        problems = self.check(columns, today=today)
        if not problems:
            return
        first = problems[0]
        rules = sorted({p.rule for p in problems})
        listed = "; ".join(p.describe() for p in problems[:shown])
        more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
        records = len({p.record for p in problems})
        generations = ""
        if "link_key" in rules:  # the key ids are not personal data: name them
            tokens = {n: columns[n] for n in self.token_fields if n in columns}
            counted = _key_id_counts(tokens)
            generations = "; tokens of link-key generations " + ", ".join(
                f"{key_id} ({n})" for key_id, n in counted.items()
            )
        raise RULE_ERRORS[first.rule](
            f"{records} record(s) of {self.schema.key} v{self.schema.version} break "
            f"{len(problems)} rule(s) ({', '.join(rules)}): {listed}{more}{generations}",
            problems=problems,
        )

    def _token_problems(self, columns: Mapping[str, Sequence[Any]]) -> list[Problem]:
        """The token and link-key rules over every token column; an array column's
        elements are checked flattened, in the same pass, and a bad element names its
        record."""
        tokens = {n: columns[n] for n in self.token_fields if n in columns}
        owners: dict[str, np.ndarray[Any, np.dtype[np.intp]]] = {}
        for name in self.array_token_fields & tokens.keys():
            values = tokens[name]
            counts = [0 if v is None else len(v) for v in values]
            tokens[name] = list(chain.from_iterable(v for v in values if v))
            owners[name] = np.repeat(np.arange(len(values)), counts)
        found = _token_problems(tokens)
        if not owners:
            return found
        return sorted(
            {
                Problem(int(owners[p.field][p.record]), p.field, p.rule) if p.field in owners else p
                for p in found
            }
        )

    @staticmethod
    @cache
    def of(schema: SchemaVersion) -> RecordRules:
        """The compiled rules of ``schema`` with the packaged code lists (cached)."""
        return RecordRules(schema)


def _kind(f: Mapping[str, Any]) -> str:
    t = f["type"]
    if isinstance(t, list):
        t = next((b for b in t if b != "null"), "null")
    if isinstance(t, dict):
        return str(t.get("logicalType") or t.get("type"))
    return str(t)


# Each check first answers for the whole column with C-level builtins (a set
# difference, min, max, sum) and only walks the values one by one when something is
# wrong: a valid batch, the common case, costs a few passes in C per column.


def _present(values: Sequence[Any]) -> Sequence[Any]:
    return values if None not in values else [v for v in values if v is not None]


def _not_in(codes: Any) -> _Check:
    def check(values: Sequence[Any], _today: date) -> Iterable[int]:
        unknown = {v for v in set(values) if v is not None and v not in codes}
        return [i for i, v in enumerate(values) if v in unknown] if unknown else []

    return check


def _below(bound: float) -> _Check:
    def check(values: Sequence[Any], _today: date) -> Iterable[int]:
        present = _present(values)
        if not present or min(present) >= bound:
            return []
        return [i for i, v in enumerate(values) if v is not None and v < bound]

    return check


def _above(bound: float) -> _Check:
    def check(values: Sequence[Any], _today: date) -> Iterable[int]:
        present = _present(values)
        if not present or max(present) <= bound:
            return []
        return [i for i, v in enumerate(values) if v is not None and v > bound]

    return check


def _not_finite(values: Sequence[Any], _today: date) -> Iterable[int]:
    # NaN and infinities carry through a sum; a finite sum means every value is finite.
    if math.isfinite(math.fsum(_present(values))):
        return []
    return [i for i, v in enumerate(values) if v is not None and not math.isfinite(v)]


def _out_of_dates(values: Sequence[Any], today: date) -> Iterable[int]:
    try:
        latest = today.replace(year=today.year + LATEST_YEARS)
    except ValueError:  # 29 February
        latest = today.replace(year=today.year + LATEST_YEARS, day=28)
    present = _present(values)
    if not present:
        return []
    earliest: date | datetime = EARLIEST_DATE
    last: date | datetime = latest
    if isinstance(present[0], datetime):
        zone = present[0].tzinfo
        earliest = datetime.combine(EARLIEST_DATE, time.min, tzinfo=zone)
        last = datetime.combine(latest, time.max, tzinfo=zone)
    if earliest <= min(present) and max(present) <= last:  # type: ignore[operator]
        return []
    out = []
    for i, v in enumerate(values):
        if v is None:
            continue
        day = v.date() if isinstance(v, datetime) else v
        if not EARLIEST_DATE <= day <= latest:
            out.append(i)
    return out


_RECORD_IDS = re.compile(f"(?:{RECORD_ID_PATTERN.pattern}\n)*{RECORD_ID_PATTERN.pattern}")
_PRINTABLE_OR_ZERO = np.zeros(256, dtype=bool)
_PRINTABLE_OR_ZERO[0] = True
_PRINTABLE_OR_ZERO[0x20:0x7F] = True
_TEXT_BYTES = bytes(1 if flag else 0 for flag in _PRINTABLE_OR_ZERO)
_DIGIT_BYTES = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_DIGIT_RUN_MARK = b"1" * _DIGIT_RUN


#: In a little-endian 64-bit word of a token's first 8 bytes, the bits of bytes 2..7:
#: the key id (bytes 0 and 1) takes no part in the text look.
_AFTER_KEY_ID = np.uint64(0xFFFF_FFFF_FFFF_0000)


def _token_problems(columns: Mapping[str, Sequence[Any]]) -> list[Problem]:
    """Tokens that are text rather than a keyed hash (rule ``token``) and tokens of
    another key id than the batch's most common one (rule ``link_key``), see the module
    docstring, in every token column of a batch at once."""
    # (field, its values, the values present): empty tokens take no part in the checks.
    parts = [
        (name, values, [v for v in values if v is not None] if None in values else values)
        for name, values in columns.items()
    ]
    joined = b"".join(b"".join(present) for _n, _v, present in parts)
    total = sum(len(present) for _n, _v, present in parts)
    if total == 0:
        return []
    if len(joined) != TOKEN_BYTES * total:  # only outside the hub: decoding fixes the size
        tokens = [t for _n, _v, present in parts for t in present]
        rows = {
            row
            for row, token in enumerate(tokens)
            if len(token) != TOKEN_BYTES or _textlike(token[KEY_ID_BYTES:])
        }
        key_ids = np.array([token_key_id(t) for t in tokens], dtype=np.int64)
        other_key = _other_key_ids(key_ids, rows)
    else:
        rows = _textlike_rows(joined)
        # The common case first: every token's two key-id bytes equal the first token's
        # (two strided byte slices compared in C).
        high, low = joined[0::TOKEN_BYTES], joined[1::TOKEN_BYTES]
        if not rows and high == high[:1] * total and low == low[:1] * total:
            other_key = []
        else:  # a token refused as text or for its size says nothing of the batch's key
            key_ids = np.frombuffer(joined, dtype=">u2")[:: TOKEN_BYTES // KEY_ID_BYTES]
            other_key = _other_key_ids(key_ids, rows)
    found: list[Problem] = []
    offset = 0
    for name, values, present in parts:
        hits = sorted(r - offset for r in rows if offset <= r < offset + len(present))
        mixed = sorted(r - offset for r in other_key if offset <= r < offset + len(present))
        if hits or mixed:
            where = [i for i, v in enumerate(values) if v is not None]
            found.extend(Problem(where[k], name, "token") for k in hits)
            found.extend(Problem(where[k], name, "link_key") for k in mixed)
        offset += len(present)
    return found


def _textlike(mac: bytes) -> bool:
    text = sum(1 for b in mac if _PRINTABLE_OR_ZERO[b])
    return text >= _TEXTLIKE_BYTES or _DIGIT_RUN_MARK in mac.translate(_DIGIT_BYTES)


def _textlike_rows(joined: bytes) -> set[int]:
    """The numbers of the 32-byte tokens in ``joined`` whose MAC bytes look like text."""
    # Bytes that are text become 1, others 0: eight of them fill a 64-bit word, whose
    # byte sum a multiplication gathers in its top byte; four words make a token, and
    # the key id's two bytes are masked out of the first.
    words = np.frombuffer(joined.translate(_TEXT_BYTES), dtype="<u8").reshape(-1, 4)
    spread = np.uint64(0x0101010101010101)
    first = ((words[:, 0] & _AFTER_KEY_ID) * spread) >> np.uint64(56)
    rest = (words[:, 1:] * spread) >> np.uint64(56)
    textlike = first + rest[:, 0] + rest[:, 1] + rest[:, 2] >= _TEXTLIKE_BYTES
    rows = set(np.flatnonzero(textlike).tolist())
    # A run of digits: digits become "1", then a substring search over every token; a
    # run may span tokens and key ids, so each token it touches has its MAC bytes
    # looked at on their own.
    digits = joined.translate(_DIGIT_BYTES)
    at = digits.find(_DIGIT_RUN_MARK)
    while at >= 0:
        end = at + _DIGIT_RUN
        while end < len(digits) and digits[end] == 0x31:
            end += 1
        for row in range(at // TOKEN_BYTES, (end - 1) // TOKEN_BYTES + 1):
            start = row * TOKEN_BYTES + KEY_ID_BYTES
            if _DIGIT_RUN_MARK in digits[start : (row + 1) * TOKEN_BYTES]:
                rows.add(row)
        at = digits.find(_DIGIT_RUN_MARK, end)
    return rows


def _other_key_ids(key_ids: np.ndarray[Any, np.dtype[Any]], skip: set[int]) -> list[int]:
    """The numbers of the tokens whose key id is not the most common one (the smaller id
    on a tie) among those not in ``skip``; empty when they all share one."""
    keep: np.ndarray[Any, np.dtype[np.bool_]] | None = None
    considered = key_ids
    if skip:
        keep = np.ones(len(key_ids), dtype=bool)
        keep[list(skip)] = False
        considered = key_ids[keep]
    if considered.size == 0 or bool((considered == considered[0]).all()):
        return []
    ids, counts = np.unique(considered, return_counts=True)
    differ = key_ids != ids[counts.argmax()]
    if keep is not None:
        differ &= keep
    return [int(i) for i in np.flatnonzero(differ)]


def _key_id_counts(columns: Mapping[str, Sequence[Any]]) -> dict[int, int]:
    """Key id → how many of the tokens in ``columns`` carry it (array fields element by
    element; nulls and tokens too short to hold a key id left out), in key id order."""
    counts: dict[int, int] = {}
    for values in columns.values():
        for value in values:
            for token in [value] if isinstance(value, bytes) else value or ():
                if len(token) >= KEY_ID_BYTES:
                    key_id = token_key_id(token)
                    counts[key_id] = counts.get(key_id, 0) + 1
    return dict(sorted(counts.items()))


def _bad_record_ids(values: Sequence[Any], _today: date) -> Iterable[int]:
    if all(isinstance(v, str) for v in values) and _RECORD_IDS.fullmatch("\n".join(values)):
        return []
    return [i for i, v in enumerate(values) if record_id_problem(v) is not None]


def validate_record(
    schema: SchemaVersion,
    record: Mapping[str, Any],
    *,
    codelists: CodeLists | None = None,
    today: date | None = None,
) -> list[Violation]:
    """Every violation of ``record`` against ``schema`` (empty when the record is valid):
    the Avro types, then the content rules of :class:`RecordRules`."""
    found: list[Violation] = []
    typed: dict[str, list[Any]] = {}
    for f in schema.raw["fields"]:
        name = f["name"]
        if name not in record and "default" not in f:
            found.append(Violation(name, "type", f"field {name} is missing"))
            continue
        value = record.get(name, f.get("default"))
        field_schema = _field_schemas(schema)[name]
        try:
            valid = validate(value, field_schema, raise_errors=False)
        except (ValueError, TypeError, OverflowError):
            valid = False
        if not valid:
            found.append(Violation(name, "type", f"field {name} is not a valid {_type(f)}"))
            continue
        typed[name] = [value]
    if found:
        return found  # content rules need well-typed values
    rules = (
        RecordRules.of(schema) if codelists is None else RecordRules(schema, codelists=codelists)
    )
    for p in rules.check(typed, today=today or date.today()):
        found.append(Violation(p.field, p.rule, f"field {p.field} breaks the {p.rule} rule"))
    return found


@cache
def _field_schemas(schema: SchemaVersion) -> dict[str, Any]:
    """Each field's type as a standalone parsed schema (named types inlined)."""
    named: dict[str, Any] = {}

    def collect(node: Any, namespace: str | None) -> None:
        if isinstance(node, list):
            for branch in node:
                collect(branch, namespace)
        elif isinstance(node, dict) and isinstance(node.get("type"), str):
            if node["type"] in ("record", "enum", "fixed"):
                space = node.get("namespace", namespace)
                full = (
                    node["name"] if "." in node["name"] or not space else f"{space}.{node['name']}"
                )
                named[full] = {**node, "name": full, "namespace": ""}
            for f in node.get("fields", []):
                collect(f["type"], node.get("namespace", namespace))

    collect(dict(schema.raw), None)

    def inline(node: Any, defined: set[str]) -> Any:
        if isinstance(node, str) and node in named:
            if node in defined:
                return node
            defined.add(node)
            return named[node]
        if isinstance(node, list):
            return [inline(b, defined) for b in node]
        if isinstance(node, dict) and node.get("type") in ("array", "map"):
            part = "items" if node["type"] == "array" else "values"
            return {**node, part: inline(node[part], defined)}
        return node

    return {
        f["name"]: parse_schema(inline(f["type"], set()), _write_hint=False)
        for f in schema.raw["fields"]
    }


def _type(f: Mapping[str, Any]) -> str:
    t = f["type"]
    if isinstance(t, list):
        t = next(b for b in t if b != "null")
    if isinstance(t, dict):
        return str(t.get("logicalType") or t.get("name") or t["type"])
    return str(t)


__all__ = [
    "EARLIEST_DATE",
    "LATEST_YEARS",
    "RULE_ERRORS",
    "Problem",
    "RecordRules",
    "Violation",
    "validate_record",
]
