"""Tables of deliveries: the ledger of accepted batches and the quarantine (written by
the ingest worker, in the hub database with the governance tables and their migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.keys.wrapping import SealedColumns
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
    ``state`` is ``quarantined`` until a replay is accepted (or found already ingested),
    then ``replayed`` with ``replay_outcome``; a replay still refused keeps the row
    quarantined under the new reason (``first_reason_code`` keeps the first one).
    Rows are never deleted.
    """

    __tablename__ = "ingest_quarantine"
    __table_args__ = (Index("ix_ingest_quarantine_origin", "topic", "partition", "offset"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    reason_code: Mapped[str] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text)
    agency: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    dataset: Mapped[str | None] = mapped_column(String(64), default=None)
    batch_id: Mapped[str | None] = mapped_column(String(64), default=None)
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    content_digest: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(16), default="quarantined", index=True)
    replays: Mapped[int] = mapped_column(Integer, default=0)
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    replay_outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    first_reason_code: Mapped[str | None] = mapped_column(String(64), default=None)
    snapshot_id: Mapped[str | None] = mapped_column(String(32), default=None)
