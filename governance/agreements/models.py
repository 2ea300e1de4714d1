"""Agreement versions, signatures, lifecycle transitions, recorded deliveries and the
notices owed to providers when a version is superseded."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime


class Agreement(Base):
    """One version of a data-sharing agreement; ``document`` is its canonical JSON."""

    __tablename__ = "agreements"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    provider: Mapped[str] = mapped_column(ForeignKey("agencies.code"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    document: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))


class AgreementSignature(Base):
    __tablename__ = "agreement_signatures"
    __table_args__ = (
        ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_signatures_agreement",
        ),
    )

    agreement_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("agency_keys.key_id"))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    signed_by: Mapped[str] = mapped_column(String(200))


class AgreementTransition(Base):
    __tablename__ = "agreement_transitions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_transitions_agreement",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str] = mapped_column(Text)


class Delivery(Base):
    """A delivery accepted under an agreement (for late-delivery monitoring)."""

    __tablename__ = "agreement_deliveries"
    __table_args__ = (Index("ix_agreement_deliveries_lookup", "agreement_id", "dataset", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    dataset: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    batch_id: Mapped[str | None] = mapped_column(String(100), default=None)


class AgreementNotice(Base):
    """A notice owed to an agreement's provider that one of its versions is superseded.

    Written in the transaction that activates the newer version (a transactional
    outbox); ``sent_at`` stays NULL until the hub has published the signed notice to
    the provider's receipts topic (:mod:`integration.ingest.agreement_notices`).
    """

    __tablename__ = "agreement_notices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["agreement_id", "superseded_version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_notices_superseded",
        ),
        ForeignKeyConstraint(
            ["agreement_id", "current_version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_notices_current",
        ),
        UniqueConstraint(
            "agreement_id",
            "superseded_version",
            "current_version",
            name="uq_agreement_notices_versions",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.code"))
    agreement_id: Mapped[str] = mapped_column(String(64))
    superseded_version: Mapped[int] = mapped_column(Integer)
    current_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None, index=True)
