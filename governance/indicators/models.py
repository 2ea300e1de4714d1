"""The indicator releases: what each was computed from and what was published.

A release is built once (its observations appended to the lake's ``gold.indicators``
under its id) and published at most once. Its row keeps the lineage a reader can follow
from a published figure back to the deliveries: the lake snapshots read, the linkage
run, and per indicator the agreement versions its rows were delivered under. Rows are
never deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from governance.db import Base
from governance.timestamps import UtcDateTime


class IndicatorRelease(Base):
    """One release of the indicator package.

    ``id`` is ``<date>.<n>`` (the n-th release built that day). ``state``: ``built`` →
    ``published``. ``snapshots``: lake table → snapshot id read; ``agreements``:
    indicator → ``[{"id", "version"}]``; ``indicators``: indicator → observations
    computed; ``withheld``: indicator → why it was not published; ``manifest`` is the
    signed ``release.json`` of the publication.
    """

    __tablename__ = "indicator_releases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    built_at: Mapped[datetime] = mapped_column(UtcDateTime)
    built_by: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    published_by: Mapped[str | None] = mapped_column(String(200), default=None)
    snapshots: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    linkage_run: Mapped[int | None] = mapped_column(Integer, default=None)
    agreements: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    indicators: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    gold_snapshot: Mapped[int] = mapped_column(BigInteger)
    observations: Mapped[int] = mapped_column(Integer)
    withheld: Mapped[dict] = mapped_column(JSON, default=dict)  # type: ignore[type-arg]
    folder: Mapped[str | None] = mapped_column(String(300), default=None)
    manifest: Mapped[dict | None] = mapped_column(JSON, default=None)  # type: ignore[type-arg]
    signature: Mapped[str | None] = mapped_column(String(200), default=None)
    signing_key_id: Mapped[str | None] = mapped_column(String(100), default=None)


def published_releases(session: Session) -> list[IndicatorRelease]:
    """The published releases, newest first (a cheap read: the public API asks it on
    every request)."""
    return list(
        session.scalars(
            select(IndicatorRelease)
            .where(IndicatorRelease.state == "published")
            .order_by(IndicatorRelease.published_at.desc(), IndicatorRelease.id.desc())
        )
    )
