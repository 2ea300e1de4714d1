"""Tables of the linkage (written by the linkage job and the review commands).

The links themselves live in the lake (``silver.person_links``); the hub database keeps
what must change atomically with them and be audited: each run's record (settings,
trained parameters, counts, the silver snapshots it wrote), every person key ever
issued with where a retired key forwards, the key changes of each run, the pairs
waiting for a reviewer and the decisions taken. Rows are never deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime


class LinkageRun(Base):
    """One linkage run. ``state`` is ``running`` until the run commits (``committed``,
    with the silver snapshot ids it wrote) or fails (``failed``, with the error code);
    only a committed run's snapshots are the silver layer."""

    __tablename__ = "linkage_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    mode: Mapped[str] = mapped_column(String(16))  # full | incremental
    state: Mapped[str] = mapped_column(String(16), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(String(2000), default=None)
    #: Model settings, blocking rules and thresholds.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    #: Trained m and u per comparison level, the prior, the fixed date-part u.
    model: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    #: Records, persons, pairs scored, review pairs, key changes, per source.
    counts: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    #: bronze table -> snapshot id read; silver table -> snapshot id written.
    snapshots: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]


class PersonKey(Base):
    """A person key: issued by a run, retired (``forwards_to`` the surviving key) when its
    person merged into an older one."""

    __tablename__ = "person_keys"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    issued_run: Mapped[int] = mapped_column(ForeignKey("linkage_runs.id"))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retired_run: Mapped[int | None] = mapped_column(ForeignKey("linkage_runs.id"), default=None)
    forwards_to: Mapped[str | None] = mapped_column(String(32), default=None, index=True)


class PersonKeyEvent(Base):
    """A change of a run: ``issued`` a key, ``merged`` a key into ``other``, ``split``
    records of ``other`` to ``key``."""

    __tablename__ = "person_key_events"
    __table_args__ = (Index("ix_person_key_events_key", "key", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_runs.id"), index=True)
    change: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(32))
    other: Mapped[str | None] = mapped_column(String(32), default=None)


class ReviewPair(Base):
    """A pair the model scored between the review and the match weight, as a reviewer
    sees it: the two records (agency, dataset, opaque record id), the weight and the
    agreement pattern (the level each comparison reached; never a token or a value).
    ``state`` is ``open`` until decided, or ``superseded`` when a later run no longer
    puts the pair in the band."""

    __tablename__ = "linkage_review"
    __table_args__ = (
        UniqueConstraint("run_id", "left_source", "left_record", "right_source", "right_record"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("linkage_runs.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    left_source: Mapped[str] = mapped_column(String(100))
    left_record: Mapped[str] = mapped_column(String(64))
    right_source: Mapped[str] = mapped_column(String(100))
    right_record: Mapped[str] = mapped_column(String(64))
    match_weight: Mapped[float] = mapped_column(Float)
    match_probability: Mapped[float] = mapped_column(Float)
    pattern: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    #: Non-identifying attributes of each side (sex, region, birth year, dataset).
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]


class ReviewDecision(Base):
    """A reviewer's decision on a pair of records: ``match`` or ``no_match``. The latest
    decision on a pair binds every later run."""

    __tablename__ = "linkage_decisions"
    __table_args__ = (
        Index(
            "ix_linkage_decisions_pair",
            "left_source",
            "left_record",
            "right_source",
            "right_record",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("linkage_review.id"), default=None)
    left_source: Mapped[str] = mapped_column(String(100))
    left_record: Mapped[str] = mapped_column(String(64))
    right_source: Mapped[str] = mapped_column(String(100))
    right_record: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    reviewer: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(String(2000), default=None)
