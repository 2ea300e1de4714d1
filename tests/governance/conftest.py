"""Governance fixtures: a controllable clock and services wired on the rolled-back session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from governance.agencies.services import AgencyService
from governance.audit.services import AuditLog
from governance.keys.services import KeyService


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def audit(db_session: Session, clock: FakeClock) -> AuditLog:
    return AuditLog(db_session, clock=clock)


@pytest.fixture
def agencies(db_session: Session, clock: FakeClock, audit: AuditLog) -> AgencyService:
    service = AgencyService(db_session, clock=clock, audit=audit)
    service.ensure_known(actor="setup")
    return service


@pytest.fixture
def keys(
    db_session: Session, clock: FakeClock, audit: AuditLog, agencies: AgencyService
) -> KeyService:
    return KeyService(db_session, clock=clock, audit=audit)
