"""The project application: what a researcher asks for, as a document (YAML or JSON).

It names the project, its purpose and public benefit, legal basis and ethics approval,
the datasets and the exact fields wanted, the period the data should cover, how long the
project runs, the named members and the disclosure plan for the extract (k and the
quasi-identifiers with their generalisations). Tokens and agency record ids are never
asked for: extracts carry project pseudonyms of person keys instead.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from governance.disclosure.errors import DisclosureError
from governance.disclosure.kanonymity import MIN_K
from governance.disclosure.kanonymity import DisclosurePlan as KPlan
from governance.errors import ApplicationInvalid, FieldNotForResearch

DATASET = r"^[a-z][a-z0-9_]{1,31}\.[a-z][a-z0-9_]*$"
#: Fields that never reach researchers, whatever an agreement allows.
_NOT_FOR_RESEARCH = re.compile(r"(_token$)|(^record_id$)|(^_)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Period(_Strict):
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("the period ends before it starts")
        return self


class DisclosurePlan(_Strict):
    """k (at least 5), the quasi-identifiers the k counts over, and how each column is
    generalised (birth year to bands, dates to months, small groups merged)."""

    k: int = MIN_K
    quasi_identifiers: list[str] = Field(default_factory=list)
    generalise: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("k")
    @classmethod
    def _k(cls, value: int) -> int:
        if value < MIN_K:
            raise ValueError(f"k={value} is below the minimum {MIN_K}")
        return value

    @model_validator(mode="after")
    def _plan(self) -> DisclosurePlan:
        if self.quasi_identifiers:
            try:
                self.as_plan()
            except DisclosureError as exc:
                raise ValueError(str(exc).removeprefix(f"[{exc.code}] ")) from exc
        return self

    def as_plan(self) -> KPlan:
        """The plan as disclosure control applies it."""
        return KPlan.from_dict(self.model_dump())


class ProjectApplication(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    title: str = Field(min_length=3, max_length=300)
    purpose: Literal["research", "statistics"] = "research"
    public_benefit: str = Field(min_length=20)
    legal_basis: str = Field(min_length=3)
    ethics_approval: str = Field(min_length=3, description="The ethics committee reference.")
    datasets: dict[str, list[str]] = Field(min_length=1)
    period: Period
    duration_days: int = Field(gt=0, le=5 * 366)
    members: list[str] = Field(min_length=1)
    disclosure: DisclosurePlan = DisclosurePlan()

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, fields in value.items():
            if not re.match(DATASET, name):
                raise ValueError(f"{name!r} is not <agency>.<dataset>")
            if not fields:
                raise ValueError(f"{name}: no field asked for")
            if len(set(fields)) != len(fields):
                raise ValueError(f"{name}: a field is listed twice")
        return {name: sorted(fields) for name, fields in sorted(value.items())}

    @field_validator("members")
    @classmethod
    def _members(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a member is listed twice")
        return sorted(value)

    @model_validator(mode="after")
    def _plan_columns(self) -> ProjectApplication:
        wanted = {f for fields in self.datasets.values() for f in fields}
        named = set(self.disclosure.quasi_identifiers) | set(self.disclosure.generalise)
        unknown = sorted(named - wanted)
        if unknown:
            raise ValueError(f"disclosure names fields not asked for: {', '.join(unknown)}")
        return self

    def scope(self) -> dict[str, frozenset[str]]:
        return {name: frozenset(fields) for name, fields in self.datasets.items()}


def parse_application(data: Any, *, where: str) -> ProjectApplication:
    """Validate an application; errors name the key path, and a token or record id asked
    for is refused by name."""
    if not isinstance(data, dict):
        raise ApplicationInvalid(f"{where}: the application must be a mapping of keys")
    for name, fields in (data.get("datasets") or {}).items():
        for field in fields if isinstance(fields, list) else []:
            if isinstance(field, str) and _NOT_FOR_RESEARCH.search(field):
                raise FieldNotForResearch(
                    f"{where}: datasets.{name}: {field!r} is a token, a record id or a "
                    "lineage column"
                )
    try:
        return ProjectApplication.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(application)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ApplicationInvalid(f"{where}: " + "; ".join(problems)) from exc
