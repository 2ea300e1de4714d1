"""Audit tables. Rows of ``audit_entries`` and ``audit_checkpoints`` are never updated or
deleted: triggers refuse it on both backends and the application role has no such grant.
``audit_head`` is the single lock row that serialises appends; it also remembers where
and when the last checkpoint was made, so the writer can tell when the next one is due
(a hint only: verification never trusts the head's copy)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime

SeqType = BigInteger().with_variant(Integer(), "sqlite")


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    tag: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    subject: Mapped[str] = mapped_column(String(300), index=True)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(SeqType)
    hash: Mapped[str] = mapped_column(String(64))
    checkpoint_seq: Mapped[int] = mapped_column(SeqType, server_default="0")
    checkpoint_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(100))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    #: First entry covered (None: a checkpoint of the head only, made before ranges).
    first_seq: Mapped[int | None] = mapped_column(SeqType, nullable=True)
    #: The 32-byte hashes of entries ``first_seq..seq``, concatenated.
    hashes: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
