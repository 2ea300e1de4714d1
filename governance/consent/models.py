"""Consent events: one row per grant or withdrawal, never updated (history is kept)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime


class ConsentEvent(Base):
    __tablename__ = "consent_events"
    __table_args__ = (
        Index("ix_consent_events_person", "person_token", "purpose", "id"),
        Index("ix_consent_events_purpose_state", "purpose", "state", "effective_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_token: Mapped[bytes] = mapped_column(LargeBinary(32))
    purpose: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    notice_version: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
