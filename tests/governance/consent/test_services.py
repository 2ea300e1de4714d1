"""The consent registry keeps history, answers state at a time, and finds withdrawals."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from governance.consent.services import ConsentService
from governance.errors import AgencyUnknown, ConsentInvalid


def token(n: int) -> bytes:
    return hashlib.sha256(f"person-{n}".encode()).digest()


@pytest.fixture
def consent(db_session, clock, audit, agencies) -> ConsentService:
    return ConsentService(db_session, clock=clock, audit=audit)


def test_grant_withdraw_and_history(consent: ConsentService, clock, audit) -> None:
    t = token(1)
    assert consent.state(t, "research").state == "unknown"
    consent.grant(t, "research", agency="tvet", notice_version="tvet-2025-01", actor="tvet-op")
    granted_at = clock.now
    clock.advance(days=10)
    consent.withdraw(t, "research", agency="jobboard", notice_version="pes-2026-02", actor="pes")
    now = consent.state(t, "research")
    assert (now.state, now.agency, now.notice_version) == ("withdrawn", "jobboard", "pes-2026-02")
    then = consent.state(t, "research", at=granted_at + timedelta(days=1))
    assert then.granted and then.agency == "tvet"
    assert [e.state for e in consent.history(t)] == ["granted", "withdrawn"]
    assert consent.state(t, "statistics").state == "unknown"
    tags = [e.tag for e in audit.search(tag="consent:")]
    assert tags[-2:] == ["consent:grant", "consent:withdraw"]
    assert t.hex() not in str([e.subject for e in audit.search(tag="consent:")])


def test_whose_consent_ended_since(consent: ConsentService, clock) -> None:
    t0 = clock.now
    for n in range(4):
        consent.grant(token(n), "research", agency="tvet", notice_version="v1", actor="op")
    clock.advance(days=1)
    consent.withdraw(token(0), "research", agency="tvet", notice_version="v1", actor="op")
    consent.withdraw(token(1), "research", agency="tvet", notice_version="v1", actor="op")
    consent.withdraw(token(3), "statistics", agency="tvet", notice_version="v1", actor="op")
    clock.advance(days=1)
    consent.grant(token(1), "research", agency="tvet", notice_version="v2", actor="op")
    since = t0 + timedelta(hours=1)
    assert consent.withdrawn_since("research", since) == [token(0)]
    assert consent.withdrawn_since("research", clock.now) == []
    assert consent.withdrawn_since("statistics", since) == [token(3)]


def test_invalid_records_are_refused(consent: ConsentService) -> None:
    with pytest.raises(ConsentInvalid, match="person_token"):
        consent.grant(b"short", "research", agency="tvet", notice_version="v", actor="x")
    with pytest.raises(ConsentInvalid, match="purpose"):
        consent.grant(token(1), "marketing", agency="tvet", notice_version="v", actor="x")
    with pytest.raises(AgencyUnknown):
        consent.grant(token(1), "research", agency="acme", notice_version="v", actor="x")


def test_history_cannot_be_overwritten(consent: ConsentService, db_connection) -> None:
    consent.grant(token(9), "research", agency="tvet", notice_version="v", actor="x")
    consent.session.flush()
    nested = db_connection.begin_nested()
    with pytest.raises(DBAPIError, match="append-only"):
        db_connection.execute(sa.text("UPDATE consent_events SET state = 'withdrawn'"))
    nested.rollback()
