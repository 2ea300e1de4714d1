"""The data-sharing agreement document, its YAML form and its canonical bytes.

The document is what the parties sign: :func:`canonical_bytes` gives the canonical JSON
of the validated document (see :mod:`governance.canonical`: UTF-8, keys sorted, no
whitespace), with defaults filled in, so how the YAML was written does not matter.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from governance.canonical import canonical_json
from governance.errors import AgreementInvalid

Periodicity = Literal["daily", "weekly", "monthly", "quarterly", "annual", "ad_hoc"]
Purpose = Literal["statistics", "research", "employment_services"]
AGENCY_CODE = r"^[a-z][a-z0-9_]{1,31}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetTerms(_Strict):
    """What one dataset may carry and when it is expected."""

    fields: list[str] = Field(min_length=1, description="Exact field names allowed.")
    periodicity: Periodicity
    delivery_lag_days: int = Field(
        15, ge=0, description="Days after a period closes by which its delivery is due."
    )

    @field_validator("fields")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        dupes = sorted({f for f in value if value.count(f) > 1})
        if dupes:
            raise ValueError(f"listed more than once: {', '.join(dupes)}")
        return sorted(value)


class LegalBasis(_Strict):
    kind: Literal["statute", "consent"]
    reference: str = Field(min_length=3, description="The statute and section, or consent notice.")


class ResearchTerms(_Strict):
    """How research projects may use the provider's data beyond the agreed purposes."""

    provider_approval: bool = Field(
        description="Each research project using the provider's data needs the provider's "
        "own approval besides the LMIS unit's two approvers."
    )


class Signatory(_Strict):
    agency: str = Field(pattern=AGENCY_CODE)
    name: str = Field(min_length=1)
    title: str = Field(min_length=1)


class AgreementDocument(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    version: int = Field(1, ge=1)
    title: str = Field(min_length=3)
    provider: str = Field(pattern=AGENCY_CODE)
    recipient: str = Field("hub", pattern=AGENCY_CODE)
    datasets: dict[str, DatasetTerms] = Field(min_length=1)
    purposes: list[Purpose] = Field(min_length=1)
    legal_basis: LegalBasis
    retention_days: int = Field(gt=0)
    valid_from: date
    valid_until: date
    signatories: list[Signatory] = Field(min_length=1)
    research: ResearchTerms | None = None

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, value: dict[str, DatasetTerms]) -> dict[str, DatasetTerms]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]*$", name):
                raise ValueError(f"dataset name {name!r} is not lower_snake_case")
        return value

    @field_validator("purposes")
    @classmethod
    def _purposes(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _consistent(self) -> AgreementDocument:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if self.provider == self.recipient:
            raise ValueError("provider and recipient must differ")
        signing = {s.agency for s in self.signatories}
        strangers = signing - set(self.parties)
        if strangers:
            raise ValueError(f"signatories from agencies not party to it: {sorted(strangers)}")
        unsigned = set(self.parties) - signing
        if unsigned:
            raise ValueError(f"no signatory for party {sorted(unsigned)}")
        return self

    @property
    def parties(self) -> tuple[str, str]:
        return (self.provider, self.recipient)

    def starts_at(self) -> datetime:
        return datetime.combine(self.valid_from, time(), tzinfo=UTC)

    def ends_at(self) -> datetime:
        """The first instant after validity (``valid_until`` is the last valid day)."""
        return datetime.combine(self.valid_until + timedelta(days=1), time(), tzinfo=UTC)


def canonical_bytes(doc: AgreementDocument) -> bytes:
    # Optional terms left out are not written, so documents signed before a term existed
    # keep their canonical bytes (and their signatures).
    return canonical_json(doc.model_dump(mode="json", exclude_none=True))


def digest(doc: AgreementDocument) -> str:
    return hashlib.sha256(canonical_bytes(doc)).hexdigest()


def parse_document(data: Any, *, where: str) -> AgreementDocument:
    """Validate a mapping; errors name the key path (``datasets.contributions.fields``)."""
    if not isinstance(data, dict):
        raise AgreementInvalid(f"{where}: the document must be a mapping of keys")
    try:
        return AgreementDocument.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise AgreementInvalid(f"{where}: " + "; ".join(problems)) from exc


def parse_yaml(text: str, *, where: str) -> AgreementDocument:
    """The document written in YAML ``text`` (``where`` names it in errors)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AgreementInvalid(f"{where}: not valid YAML ({exc})") from exc
    return parse_document(data, where=where)


def load_yaml(path: Path) -> AgreementDocument:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgreementInvalid(f"{path}: cannot read ({exc.strerror})") from exc
    return parse_yaml(text, where=str(path))
