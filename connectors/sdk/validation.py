"""Row-level validation: each failed check is a refusal (row key, field, reason code,
message). Refused rows never publish; the pipeline reports them.

Rules are declarative (``validation:`` of a connector's YAML); code lists (e.g. the
ISCO-08 codes) are provided by the caller as sets, by name. Messages name the field
and the rule but never echo the value, which may be personal.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from connectors.sdk.errors import BadLength, MappingInvalid, RequiredMissing
from lmis_hub.errors import HubError
from schemas.errors import CodeListViolation, DateOutOfRange, OutOfRange, TypeViolation

TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "date": (date,),
    "datetime": (datetime,),
}


@dataclass(frozen=True)
class Refusal:
    """Why one row is refused: which row, which field, a stable reason code (a registered
    error code), a message."""

    row_key: str
    field: str
    reason: str
    message: str


class FieldRule(BaseModel):
    """Checks of one mapped field."""

    model_config = ConfigDict(extra="forbid")

    required: bool = False
    type: Literal["str", "int", "float", "bool", "date", "datetime"] | None = None
    code_list: str | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    not_before: date | None = None
    not_after_today: bool = False


class Validator:
    """Apply field rules to mapped rows."""

    def __init__(
        self,
        rules: Mapping[str, FieldRule],
        *,
        code_lists: Mapping[str, Set[str]] | None = None,
        today: date,
    ) -> None:
        self._rules = dict(rules)
        self._code_lists = dict(code_lists or {})
        self._today = today
        missing = sorted(
            {r.code_list for r in self._rules.values() if r.code_list} - set(self._code_lists)
        )
        if missing:
            raise MappingInvalid(f"validation names code lists that were not provided: {missing}")

    def check(self, row_key: str, fields: Mapping[str, Any]) -> list[Refusal]:
        """Every refusal of one row (empty: the row is valid)."""
        refusals: list[Refusal] = []
        for name, rule in self._rules.items():
            found = self._check_field(name, rule, fields.get(name))
            if found is not None:
                refusals.append(Refusal(row_key, name, found[0].code, found[1]))
        return refusals

    def _check_field(
        self, name: str, rule: FieldRule, value: Any
    ) -> tuple[type[HubError], str] | None:
        if value is None:
            if rule.required:
                return RequiredMissing, f"{name} is required"
            return None
        if rule.type is not None:
            ok = isinstance(value, TYPES[rule.type]) and not (
                rule.type in ("int", "float") and isinstance(value, bool)
            )
            if rule.type == "date" and isinstance(value, datetime):
                ok = False
            if not ok:
                return TypeViolation, f"{name} must be {rule.type}"
        if rule.code_list is not None and str(value) not in self._code_lists[rule.code_list]:
            return CodeListViolation, f"{name} is not in code list {rule.code_list!r}"
        if isinstance(value, int | float) and not isinstance(value, bool):
            if rule.min is not None and value < rule.min:
                return OutOfRange, f"{name} is below {rule.min:g}"
            if rule.max is not None and value > rule.max:
                return OutOfRange, f"{name} is above {rule.max:g}"
        if isinstance(value, str):
            if rule.min_length is not None and len(value) < rule.min_length:
                return BadLength, f"{name} is shorter than {rule.min_length}"
            if rule.max_length is not None and len(value) > rule.max_length:
                return BadLength, f"{name} is longer than {rule.max_length}"
        if isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
            if rule.not_before is not None and day < rule.not_before:
                return DateOutOfRange, f"{name} is before {rule.not_before.isoformat()}"
            if rule.not_after_today and day > self._today:
                return DateOutOfRange, f"{name} is in the future"
        return None
