"""Does an agreement cover a delivery? The pure decision, with a precise reason code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from governance.errors import (
    AgreementExpired,
    AgreementNotActive,
    AgreementSuspended,
    AgreementTerminated,
    AgreementUnknown,
    AgreementWrongAgency,
    DatasetNotCovered,
    FieldNotCovered,
    GovernanceError,
    PolicyDenied,
    VersionSuperseded,
)
from governance.timestamps import iso


@dataclass(frozen=True)
class Terms:
    """What a signed agreement version allows; immutable, so safe to cache forever."""

    agreement_id: str
    version: int
    provider: str
    datasets: Mapping[str, frozenset[str]]
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Coverage:
    """``covered``, or ``code`` (an error code) and a message naming what is wrong."""

    covered: bool
    code: str | None = None
    message: str = ""
    fields_not_covered: tuple[str, ...] = field(default=())

    def raise_if_refused(self) -> None:
        if not self.covered:
            from lmis_hub.errors import registered_codes

            raise registered_codes()[self.code or PolicyDenied.code](self.message)


COVERED = Coverage(True)


def _refuse(error: type[GovernanceError], message: str, **kw: tuple[str, ...]) -> Coverage:
    return Coverage(False, error.code, message, **kw)


def decide_coverage(
    terms: Terms | None,
    states: Mapping[int, str],
    *,
    agreement_id: str,
    agreement_version: int,
    agency: str,
    dataset: str,
    fields: Iterable[str],
    at: datetime,
) -> Coverage:
    """``states`` maps every version of the agreement to its lifecycle state."""
    ref = f"agreement {agreement_id} v{agreement_version}"
    if terms is None or agreement_version not in states:
        return _refuse(AgreementUnknown, f"{ref} does not exist")
    newer_active = [v for v, s in states.items() if v > agreement_version and s == "active"]
    if newer_active:
        return _refuse(
            VersionSuperseded, f"{ref} is superseded by active version {max(newer_active)}"
        )
    if terms.provider != agency:
        return _refuse(AgreementWrongAgency, f"{ref} is with {terms.provider}, not with {agency}")
    state = states[agreement_version]
    if state == "suspended":
        return _refuse(AgreementSuspended, f"{ref} is suspended")
    if state == "terminated":
        return _refuse(AgreementTerminated, f"{ref} was terminated")
    if state == "expired" or (state == "active" and at >= terms.ends_at):
        return _refuse(AgreementExpired, f"{ref} expired at {iso(terms.ends_at)}")
    if state != "active":
        return _refuse(AgreementNotActive, f"{ref} is {state}, not active")
    if at < terms.starts_at:
        return _refuse(AgreementNotActive, f"{ref} is valid from {iso(terms.starts_at)}")
    allowed = terms.datasets.get(dataset)
    if allowed is None:
        return _refuse(DatasetNotCovered, f"{ref} does not cover dataset {dataset!r}")
    extra = tuple(sorted(set(fields) - allowed))
    if extra:
        return _refuse(
            FieldNotCovered,
            f"{ref} does not allow field(s) {', '.join(extra)} in dataset {dataset!r}",
            fields_not_covered=extra,
        )
    return COVERED
