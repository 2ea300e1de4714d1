"""Tables of the ingest worker: the ledger of accepted batches and the quarantine."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.keys.envelope import SealedColumns
from governance.timestamps import UtcDateTime


class IngestedBatch(Base):
    """One accepted batch (message): where it landed and under which agreement."""

    __tablename__ = "ingested_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency: Mapped[str] = mapped_column(String(32), index=True)
    dataset: Mapped[str] = mapped_column(String(64))
    content_digest: Mapped[str] = mapped_column(String(64))
    agreement_id: Mapped[str] = mapped_column(String(128))
    agreement_version: Mapped[int] = mapped_column(Integer)
    lake_table: Mapped[str] = mapped_column(String(200))
    snapshot_id: Mapped[str | None] = mapped_column(String(32), default=None)
    records: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class QuarantinedMessage(SealedColumns, Base):
    """A refused message, its reason and the original bytes envelope-encrypted with the KEK.

    ``ciphertext`` holds the value and headers (see :mod:`integration.ingest.ledger`);
    the associated data is ``quarantine:<id>`` so a row's payload cannot be moved.
    """

    __tablename__ = "ingest_quarantine"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    reason_code: Mapped[str] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(32), default=None)
    dataset: Mapped[str | None] = mapped_column(String(64), default=None)
    batch_id: Mapped[str | None] = mapped_column(String(64), default=None)
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
