"""Declarative mapping: a source row becomes schema fields plus raw identifiers.

Each schema field comes from one source column (optionally through a code table, a
date format or money-to-cents), from a template over several columns, or is a
constant. Free-text job titles can be coded to ISCO-08 (``occupation_coding``).
Identifiers to tokenise are listed by token kind; their raw values are returned apart
from the fields so that only the tokeniser ever sees them. A value that cannot be
mapped is a row-level refusal, not an exception: the pipeline reports it and moves on.
"""

from __future__ import annotations

import csv
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from connectors.sdk.dates import parse_date
from connectors.sdk.errors import (
    BadCast,
    BadDate,
    MappingInvalid,
    NotMoney,
    RowRefusal,
    UnknownCode,
)
from connectors.sdk.tokenise import RAW_KINDS, RecordIds
from connectors.sdk.validation import Refusal

if TYPE_CHECKING:
    from connectors.sdk.occupation import OccupationCoder


class FieldSpec(BaseModel):
    """How one schema field is filled."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    constant: Any = None
    code_tables: list[str] | None = Field(
        None, description="Code tables applied one after the other (instead of code_table)."
    )
    template: str | None = Field(
        None,
        description="Python format string over source columns, e.g. '{household_no}-{line_no}'; "
        "blank when any column it names is blank.",
    )
    code_table: str | None = None
    date_formats: list[str] | None = Field(
        None, description="strptime formats tried in order; the value becomes a date."
    )
    date_part: Literal["year", "month", "day"] | None = None
    money: Literal["cents"] | None = Field(
        None, description="Decimal amount in major units -> integer cents."
    )
    cast: Literal["str", "int", "float"] | None = None
    blank_is_null: bool = True
    record_id_of: str | None = Field(
        None,
        description="The value is a row key of this dataset of the same agency; it leaves "
        "as that row's opaque record id (schemas/record_ids.py). Set for the record id "
        "field itself (to the connector's dataset) and for references to other records.",
    )

    def tables(self) -> list[str]:
        """The code tables applied, in order."""
        if self.code_tables is not None:
            return list(self.code_tables)
        return [self.code_table] if self.code_table is not None else []

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        if self.code_table is not None and self.code_tables is not None:
            raise ValueError("give code_table or code_tables, not both")
        origins = [o for o in (self.column, self.constant, self.template) if o is not None]
        if len(origins) != 1:
            raise ValueError("give exactly one of column, constant or template")
        if self.template is not None:
            try:
                template_columns(self.template)
            except ValueError as exc:
                raise ValueError(f"template: {exc}") from None
        if self.date_part is not None and self.date_formats is None:
            raise ValueError("date_part needs date_formats")
        if self.record_id_of is not None:
            if self.constant is not None:
                raise ValueError("record_id_of: a record id comes from a column or template")
            converted = self.tables() or self.date_formats is not None or self.money is not None
            if converted or self.cast not in (None, "str"):
                raise ValueError(
                    "record_id_of: a record id takes the row key as it is "
                    "(no code table, date, money or cast)"
                )
        return self

    def source_columns(self) -> list[str]:
        """The source columns the field is filled from."""
        if self.template is not None:
            return template_columns(self.template)
        return [self.column] if self.column is not None else []


def template_columns(template: str) -> list[str]:
    """The source columns a template names (only plain ``{column}`` fields are allowed)."""
    names = []
    for _, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name or not name.isidentifier() or spec or conversion:
            raise ValueError("only plain {column} fields are allowed")
        names.append(name)
    if not names:
        raise ValueError("names no column")
    return names


class OccupationCodingSpec(BaseModel):
    """`mapping.occupation_coding:` suggest an ISCO-08 unit group for a free-text job title.

    Where the source already has a code (``code_column``) it is kept and marked as not
    auto-coded; otherwise the title is coded by :mod:`connectors.sdk.occupation` and the
    suggestion is marked auto-coded with its confidence in [0, 1].
    """

    model_config = ConfigDict(extra="forbid")

    title_column: str
    code_column: str | None = None
    field: str = Field("occupation", description="Schema field that receives the code.")
    auto_coded_field: str | None = "isco_auto_coded"
    confidence_field: str | None = "isco_confidence"
    min_confidence: float = Field(
        0.0, ge=0, le=1, description="Below this the field is left empty (null)."
    )


class CodeTableFile(BaseModel):
    """`mapping.code_table_files.<name>:` a code table kept as a CSV file by the agency."""

    model_config = ConfigDict(extra="forbid")

    path: Path
    key_column: str
    value_column: str
    encoding: str = "utf-8-sig"

    def load(self, name: str) -> dict[str, str]:
        try:
            with self.path.open(encoding=self.encoding, newline="") as handle:
                rows = list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise MappingInvalid(
                f"mapping.code_table_files.{name}: cannot read {self.path} ({exc})"
            ) from exc
        if rows and not {self.key_column, self.value_column} <= set(rows[0]):
            raise MappingInvalid(
                f"mapping.code_table_files.{name}: {self.path} lacks column "
                f"{self.key_column!r} or {self.value_column!r}"
            )
        return {
            str(r[self.key_column]).strip(): str(r[self.value_column]).strip()
            for r in rows
            if r.get(self.key_column) and r.get(self.value_column)
        }


#: Words that name a person in a column name, matched inside the name.
_PERSON_WORDS = (
    "national", "passport", "person", "citizen", "resident", "jobseeker", "seeker",
    "trainee", "student", "learner", "pupil", "insured", "member", "beneficiary",
    "claimant", "applicant", "worker", "employee", "patient", "taxpayer", "voter",
)  # fmt: skip
#: Person-number abbreviations, matched as whole words of a column name.
_PERSON_NUMBERS = frozenset({"nid", "nin", "nino", "ssn", "tin", "trn", "nis", "nisn", "pin"})
_ID_WORDS = frozenset({"id", "no", "nr", "num", "number", "ref", "reference", "code", "key"})
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")

#: The pydantic error type of a record id taken from an identifier (see config.py).
RECORD_ID_IDENTIFIER = "record_id_identifier"


def named_like_person_number(column: str) -> bool:
    """True when a column's name says it holds a person number (``jobseeker_id``,
    ``nis_number``, ``NationalID``, ``ssn``...)."""
    words = [w for w in _NOT_ALNUM.split(_CAMEL.sub("_", column).lower()) if w]
    if any(w in _PERSON_NUMBERS for w in words):
        return True
    compact = "".join(words)
    has_person = any(p in compact for p in _PERSON_WORDS)
    has_id = any(w in _ID_WORDS for w in words) or compact.endswith(("id", "number", "no", "ref"))
    return has_person and has_id


class MappingSpec(BaseModel):
    """`mapping:` of a connector."""

    model_config = ConfigDict(extra="forbid")

    key_column: str = Field(description="Source column that names a row in refusal reports.")
    record_id_field: str = Field(
        "record_id", description="The schema field that holds the record id (lmis.record_id)."
    )
    fields: dict[str, FieldSpec]
    identifiers: dict[str, str] = Field(
        default_factory=dict, description="Identifier kind -> source column holding it raw."
    )
    code_tables: dict[str, dict[str, str]] = Field(default_factory=dict)
    code_table_files: dict[str, CodeTableFile] = Field(default_factory=dict)
    occupation_coding: OccupationCodingSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> MappingSpec:
        unknown = sorted(set(self.identifiers) - RAW_KINDS)
        if unknown:
            raise ValueError(f"identifiers: unknown kinds {unknown}; known: {sorted(RAW_KINDS)}")
        both = sorted(set(self.code_tables) & set(self.code_table_files))
        if both:
            raise ValueError(f"code tables {both} are given both inline and as files")
        known = set(self.code_tables) | set(self.code_table_files)
        for name, spec in self.fields.items():
            for table in spec.tables():
                if table not in known:
                    raise ValueError(f"fields.{name}.code_table: no code table {table!r}")
        coding = self.occupation_coding
        if coding is not None:
            taken = {coding.field, coding.auto_coded_field, coding.confidence_field} & set(
                self.fields
            )
            if taken:
                raise ValueError(
                    f"occupation_coding: fields {sorted(str(t) for t in taken)} are also "
                    "filled in fields"
                )
        self._record_ids_opaque()
        return self

    def record_id_fields(self) -> dict[str, FieldSpec]:
        """The record id field and the fields that reference other records."""
        return {
            name: spec
            for name, spec in self.fields.items()
            if name == self.record_id_field or spec.record_id_of is not None
        }

    def _record_ids_opaque(self) -> None:
        """A record id never comes from an identifier column or a person number."""
        identifier_columns = {column: kind for kind, column in self.identifiers.items()}
        for name, spec in self.fields.items():
            reference = name.endswith("record_id") and name != self.record_id_field
            if reference and spec.record_id_of is None:
                raise ValueError(
                    f"fields.{name}: a reference to another record needs record_id_of "
                    "(the dataset it refers to) so it leaves as that record's opaque id"
                )
        for name, spec in self.record_id_fields().items():
            for column in spec.source_columns():
                if column in identifier_columns:
                    raise PydanticCustomError(
                        RECORD_ID_IDENTIFIER,
                        "fields.{field}: the record id comes from column '{column}', which "
                        "is mapped as identifier {kind}; take it from a row key that is not "
                        "a personal identifier",
                        {"field": name, "column": column, "kind": identifier_columns[column]},
                    )
                if named_like_person_number(column):
                    raise PydanticCustomError(
                        RECORD_ID_IDENTIFIER,
                        "fields.{field}: the record id comes from column '{column}', whose "
                        "name says it is a person number; take it from a row key that is not "
                        "a personal identifier",
                        {"field": name, "column": column},
                    )


@dataclass(frozen=True)
class MappedRow:
    """A mapped row: schema fields, raw identifiers by kind, refusals if any."""

    key: str
    fields: dict[str, Any]
    identifiers: dict[str, Any]
    refusals: list[Refusal]


class Mapper:
    """Apply a :class:`MappingSpec` to source rows."""

    def __init__(
        self,
        spec: MappingSpec,
        *,
        coder: OccupationCoder | None = None,
        record_ids: RecordIds | None = None,
    ) -> None:
        """``record_ids`` turns row keys into opaque record ids; it is required when the
        mapping fills a record id (or a reference to another record)."""
        self.spec = spec
        id_fields = spec.record_id_fields()
        if id_fields and record_ids is None:
            raise MappingInvalid(
                f"mapping fills record ids {sorted(id_fields)}: the mapper needs the "
                "record-id key (RecordIds) to make them opaque"
            )
        self._record_ids = record_ids
        # field -> dataset whose record id it holds (None: the connector's own dataset)
        self._id_fields = tuple((name, f.record_id_of) for name, f in id_fields.items())
        self._tables = dict(spec.code_tables)
        for name, table_file in spec.code_table_files.items():
            self._tables[name] = table_file.load(name)
        self._coder = coder
        if spec.occupation_coding is not None and coder is None:
            from connectors.sdk.occupation import OccupationCoder

            self._coder = OccupationCoder.packaged()
        # What each field needs, looked up once here rather than once per row.
        self._plans = [
            _FieldPlan(
                name=name,
                spec=field,
                tables=tuple((t, self._tables[t]) for t in field.tables()),
                date_formats=tuple(field.date_formats) if field.date_formats is not None else None,
                cast=_CASTS[field.cast] if field.cast is not None else None,
                as_is=not field.tables()
                and field.date_formats is None
                and field.money is None
                and field.cast is None,
            )
            for name, field in spec.fields.items()
        ]
        self._identifiers = tuple(spec.identifiers.items())

    def check_columns(self, columns: set[str]) -> None:
        """Fail early when the mapping names columns the source does not have."""
        wanted = {s.column for s in self.spec.fields.values() if s.column is not None}
        for s in self.spec.fields.values():
            if s.template is not None:
                wanted.update(template_columns(s.template))
        coding = self.spec.occupation_coding
        if coding is not None:
            wanted.add(coding.title_column)
            if coding.code_column is not None:
                wanted.add(coding.code_column)
        wanted |= set(self.spec.identifiers.values()) | {self.spec.key_column}
        missing = sorted(wanted - columns)
        if missing:
            raise MappingInvalid(f"mapping names source columns that do not exist: {missing}")

    def map(self, row: Mapping[str, Any]) -> MappedRow:
        spec = self.spec
        get = row.get
        key = str(get(spec.key_column, ""))
        fields: dict[str, Any] = {}
        refusals: list[Refusal] = []
        for plan in self._plans:
            name = plan.name
            field = plan.spec
            if field.template is not None:
                raw = _fill(field.template, row)
            elif field.column is None:
                fields[name] = field.constant
                continue
            else:
                raw = get(field.column)
            if raw is None or (field.blank_is_null and isinstance(raw, str) and raw.strip() == ""):
                fields[name] = None
                continue
            if plan.as_is:
                fields[name] = raw
                continue
            try:
                fields[name] = self._convert(plan, raw)
            except _Unmappable as exc:
                fields[name] = None
                refusals.append(Refusal(key, name, exc.refusal.code, exc.message))
        if spec.occupation_coding is not None:
            fields.update(self._code_occupation(spec.occupation_coding, row))
        record_ids = self._record_ids
        if record_ids is not None:
            for name, dataset in self._id_fields:
                value = fields.get(name)
                if value is not None:
                    source_key = str(value)
                    fields[name] = (
                        record_ids.of(source_key, dataset=dataset) if source_key.strip() else None
                    )
        identifiers = {kind: get(column) for kind, column in self._identifiers}
        return MappedRow(key, fields, identifiers, refusals)

    def _code_occupation(
        self, coding: OccupationCodingSpec, row: Mapping[str, Any]
    ) -> dict[str, Any]:
        given = row.get(coding.code_column) if coding.code_column is not None else None
        given = str(given).strip() if given is not None else ""
        code: str | None
        if given:
            code, auto, confidence = given, False, None
        else:
            title = row.get(coding.title_column)
            suggestion = None
            if self._coder is not None and isinstance(title, str) and title.strip():
                suggestion = self._coder.suggest(title)
            if suggestion is not None and suggestion.confidence >= coding.min_confidence:
                code, auto, confidence = suggestion.code, True, suggestion.confidence
            else:
                code, auto, confidence = None, False, None
        out: dict[str, Any] = {coding.field: code}
        if coding.auto_coded_field is not None:
            out[coding.auto_coded_field] = auto
        if coding.confidence_field is not None:
            out[coding.confidence_field] = confidence
        return out

    def _convert(self, plan: _FieldPlan, raw: Any) -> Any:
        field = plan.spec
        value = raw
        for name, table in plan.tables:
            code = str(value).strip()
            if code not in table:
                raise _Unmappable(UnknownCode, f"code not in code table {name!r}")
            value = table[code]
        if plan.date_formats is not None:
            parsed = parse_date(value, plan.date_formats)
            if parsed is None:
                raise _Unmappable(BadDate, f"date does not match the formats {field.date_formats}")
            value = parsed
            if field.date_part is not None:
                value = getattr(value, field.date_part)
        if field.money == "cents":
            try:  # a Decimal or int is taken as it is: the same value its text gives
                kind = type(value)
                amount = (
                    Decimal(value)
                    if kind is Decimal or kind is int
                    else Decimal(str(value).replace(",", "").strip())
                )
            except InvalidOperation:
                raise _Unmappable(NotMoney, "not an amount of money") from None
            cents = amount * 100
            if cents != cents.to_integral_value():
                raise _Unmappable(NotMoney, "amount has fractions of a cent")
            value = int(cents)
        if plan.cast is not None:
            try:
                value = plan.cast(value.strip() if isinstance(value, str) else value)
            except (TypeError, ValueError):
                raise _Unmappable(BadCast, f"not a valid {field.cast}") from None
        return value


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """One field of a mapping with its code tables and formats resolved."""

    name: str
    spec: FieldSpec
    tables: tuple[tuple[str, dict[str, str]], ...]
    date_formats: tuple[str, ...] | None
    cast: Callable[[Any], Any] | None
    #: The source value goes into the field unchanged (no table, format, money or cast).
    as_is: bool


_CASTS: dict[str, Callable[[Any], Any]] = {"str": str, "int": int, "float": float}


def _fill(template: str, row: Mapping[str, Any]) -> str | None:
    values = {}
    for name in template_columns(template):
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        values[name] = str(value).strip()
    return template.format_map(values)


class _Unmappable(Exception):
    """A value that cannot be mapped: the row refusal it becomes, and why."""

    def __init__(self, refusal: type[RowRefusal], message: str) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
