"""The consent registry: per person token and purpose, an append-only history of
grants and withdrawals with provenance (capturing agency, time, notice version).

The current state is the latest event by effective time (then by record order); a
withdrawal never overwrites a grant, so the history answers "who had consent when".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from governance.agencies.models import Agency
from governance.audit.services import AuditLog
from governance.consent.models import ConsentEvent
from governance.errors import AgencyUnknown, ConsentInvalid
from governance.timestamps import Clock, iso

ConsentPurpose = Literal["statistics", "research", "employment_services", "linkage"]
PURPOSES: tuple[str, ...] = get_args(ConsentPurpose)
TOKEN_BYTES = 32


@dataclass(frozen=True)
class ConsentState:
    person_token: bytes
    purpose: str
    state: Literal["granted", "withdrawn", "unknown"]
    agency: str | None = None
    notice_version: str | None = None
    effective_at: datetime | None = None

    @property
    def granted(self) -> bool:
        return self.state == "granted"


def _subject(token: bytes, purpose: str) -> str:
    # The token is already a hub-keyed pseudonym; only a prefix is written to the audit.
    return f"consent:{token.hex()[:16]}:{purpose}"


class ConsentService:
    def __init__(self, session: Session, *, clock: Clock, audit: AuditLog) -> None:
        self.session = session
        self.clock = clock
        self.audit = audit

    def _check(self, token: bytes, purpose: str, agency: str) -> None:
        if len(token) != TOKEN_BYTES:
            raise ConsentInvalid(f"person_token: {len(token)} bytes, a token has {TOKEN_BYTES}")
        if purpose not in PURPOSES:
            raise ConsentInvalid(f"purpose: {purpose!r} is not one of {', '.join(PURPOSES)}")
        if self.session.get(Agency, agency) is None:
            raise AgencyUnknown(f"agency {agency!r} (consent provenance) is not registered")

    def _record(
        self,
        state: Literal["granted", "withdrawn"],
        token: bytes,
        purpose: str,
        *,
        agency: str,
        notice_version: str,
        at: datetime | None,
        actor: str,
    ) -> ConsentEvent:
        self._check(token, purpose, agency)
        now = self.clock()
        event = ConsentEvent(
            person_token=token,
            purpose=purpose,
            state=state,
            agency=agency,
            notice_version=notice_version,
            effective_at=at or now,
            recorded_at=now,
            recorded_by=actor,
        )
        self.session.add(event)
        self.session.flush()
        self.audit.record(
            "consent:grant" if state == "granted" else "consent:withdraw",
            actor,
            _subject(token, purpose),
            {"agency": agency, "notice_version": notice_version, "at": iso(event.effective_at)},
        )
        return event

    def grant(
        self,
        token: bytes,
        purpose: str,
        *,
        agency: str,
        notice_version: str,
        actor: str,
        at: datetime | None = None,
    ) -> ConsentEvent:
        return self._record(
            "granted",
            token,
            purpose,
            agency=agency,
            notice_version=notice_version,
            at=at,
            actor=actor,
        )

    def withdraw(
        self,
        token: bytes,
        purpose: str,
        *,
        agency: str,
        notice_version: str,
        actor: str,
        at: datetime | None = None,
    ) -> ConsentEvent:
        return self._record(
            "withdrawn",
            token,
            purpose,
            agency=agency,
            notice_version=notice_version,
            at=at,
            actor=actor,
        )

    def history(self, token: bytes, purpose: str | None = None) -> list[ConsentEvent]:
        query = select(ConsentEvent).where(ConsentEvent.person_token == token)
        if purpose is not None:
            query = query.where(ConsentEvent.purpose == purpose)
        return list(
            self.session.scalars(query.order_by(ConsentEvent.effective_at, ConsentEvent.id))
        )

    def state(self, token: bytes, purpose: str, *, at: datetime | None = None) -> ConsentState:
        """The state in force at ``at`` (now by default)."""
        when = at or self.clock()
        event = self.session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.person_token == token)
            .where(ConsentEvent.purpose == purpose)
            .where(ConsentEvent.effective_at <= when)
            .order_by(ConsentEvent.effective_at.desc(), ConsentEvent.id.desc())
            .limit(1)
        ).first()
        if event is None:
            return ConsentState(token, purpose, "unknown")
        return ConsentState(
            token,
            purpose,
            event.state,  # type: ignore[arg-type]
            event.agency,
            event.notice_version,
            event.effective_at,
        )

    def withdrawn_since(self, purpose: str, since: datetime) -> list[bytes]:
        """Tokens whose consent for ``purpose`` ended at or after ``since`` and is still
        withdrawn (the ones derived data must now be purged of)."""
        later = aliased(ConsentEvent)
        newer_exists = (
            select(func.count())
            .where(later.person_token == ConsentEvent.person_token)
            .where(later.purpose == ConsentEvent.purpose)
            .where(
                (later.effective_at > ConsentEvent.effective_at)
                | and_(later.effective_at == ConsentEvent.effective_at, later.id > ConsentEvent.id)
            )
            .correlate(ConsentEvent)
            .scalar_subquery()
        )
        rows = self.session.scalars(
            select(ConsentEvent.person_token)
            .where(ConsentEvent.purpose == purpose)
            .where(ConsentEvent.state == "withdrawn")
            .where(ConsentEvent.effective_at >= since)
            .where(newer_exists == 0)
            .order_by(ConsentEvent.effective_at, ConsentEvent.id)
        )
        return list(dict.fromkeys(rows))
