"""Declarative mapping: a source row becomes schema fields plus raw identifiers.

Each schema field comes from one source column (optionally through a code table, a
date format or money-to-cents) or is a constant. Identifiers to tokenise are listed
by token kind; their raw values are returned apart from the fields so that only the
tokeniser ever sees them. A value that cannot be mapped is a row-level refusal, not an
exception: the pipeline reports it and moves on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.sdk.dates import parse_date
from connectors.sdk.errors import MappingInvalid
from connectors.sdk.tokenise import RAW_KINDS
from connectors.sdk.validation import Refusal


class FieldSpec(BaseModel):
    """How one schema field is filled."""

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    constant: Any = None
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

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        if (self.column is None) == (self.constant is None):
            raise ValueError("give exactly one of column or constant")
        if self.date_part is not None and self.date_formats is None:
            raise ValueError("date_part needs date_formats")
        return self


class MappingSpec(BaseModel):
    """`mapping:` of a connector."""

    model_config = ConfigDict(extra="forbid")

    key_column: str = Field(description="Source column that names a row in refusal reports.")
    fields: dict[str, FieldSpec]
    identifiers: dict[str, str] = Field(
        default_factory=dict, description="Identifier kind -> source column holding it raw."
    )
    code_tables: dict[str, dict[str, str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> MappingSpec:
        unknown = sorted(set(self.identifiers) - RAW_KINDS)
        if unknown:
            raise ValueError(f"identifiers: unknown kinds {unknown}; known: {sorted(RAW_KINDS)}")
        for name, spec in self.fields.items():
            if spec.code_table is not None and spec.code_table not in self.code_tables:
                raise ValueError(f"fields.{name}.code_table: no code table {spec.code_table!r}")
        return self


@dataclass(frozen=True)
class MappedRow:
    """A mapped row: schema fields, raw identifiers by kind, refusals if any."""

    key: str
    fields: dict[str, Any]
    identifiers: dict[str, Any]
    refusals: list[Refusal]


class Mapper:
    """Apply a :class:`MappingSpec` to source rows."""

    def __init__(self, spec: MappingSpec) -> None:
        self.spec = spec

    def check_columns(self, columns: set[str]) -> None:
        """Fail early when the mapping names columns the source does not have."""
        wanted = {s.column for s in self.spec.fields.values() if s.column is not None}
        wanted |= set(self.spec.identifiers.values()) | {self.spec.key_column}
        missing = sorted(wanted - columns)
        if missing:
            raise MappingInvalid(f"mapping names source columns that do not exist: {missing}")

    def map(self, row: Mapping[str, Any]) -> MappedRow:
        spec = self.spec
        key = str(row.get(spec.key_column, ""))
        fields: dict[str, Any] = {}
        refusals: list[Refusal] = []
        for name, field in spec.fields.items():
            if field.column is None:
                fields[name] = field.constant
                continue
            raw = row.get(field.column)
            if field.blank_is_null and isinstance(raw, str) and raw.strip() == "":
                raw = None
            if raw is None:
                fields[name] = None
                continue
            try:
                fields[name] = self._convert(field, raw)
            except _Unmappable as exc:
                fields[name] = None
                refusals.append(Refusal(key, name, exc.reason, exc.message))
        identifiers = {kind: row.get(column) for kind, column in spec.identifiers.items()}
        return MappedRow(key, fields, identifiers, refusals)

    def _convert(self, field: FieldSpec, raw: Any) -> Any:
        value = raw
        if field.code_table is not None:
            table = self.spec.code_tables[field.code_table]
            code = str(value).strip()
            if code not in table:
                raise _Unmappable(
                    "mapping.unknown_code", f"code not in code table {field.code_table!r}"
                )
            value = table[code]
        if field.date_formats is not None:
            value = _parse_date(value, field.date_formats)
            if field.date_part is not None:
                value = getattr(value, field.date_part)
        if field.money == "cents":
            try:
                amount = Decimal(str(value).replace(",", "").strip())
            except InvalidOperation:
                raise _Unmappable("mapping.not_money", "not an amount of money") from None
            cents = amount * 100
            if cents != cents.to_integral_value():
                raise _Unmappable("mapping.not_money", "amount has fractions of a cent")
            value = int(cents)
        if field.cast is not None:
            try:
                value = {"str": str, "int": int, "float": float}[field.cast](
                    value.strip() if isinstance(value, str) else value
                )
            except (TypeError, ValueError):
                raise _Unmappable("mapping.bad_type", f"not a valid {field.cast}") from None
        return value


def _parse_date(value: Any, formats: list[str]) -> date:
    parsed = parse_date(value, formats)
    if parsed is None:
        raise _Unmappable("mapping.bad_date", f"date does not match the formats {formats}")
    return parsed


class _Unmappable(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
