"""Ingest status: per agency dataset, what landed (batches, records, the last one) and
what waits in the quarantine, from the ledger's tables in two grouped queries; and an
agency's latest accepted batches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.deliveries.models import IngestedBatch, QuarantinedMessage


def ingest_status(session: Session, *, agency: str | None = None) -> list[dict[str, Any]]:
    """One row per agency dataset that delivered or was refused (``agency``: only its)."""
    landed = select(
        IngestedBatch.agency,
        IngestedBatch.dataset,
        func.count().label("batches"),
        func.sum(IngestedBatch.records).label("records"),
        func.max(IngestedBatch.received_at).label("last"),
    ).group_by(IngestedBatch.agency, IngestedBatch.dataset)
    refused = (
        select(
            QuarantinedMessage.agency,
            QuarantinedMessage.dataset,
            func.count().label("waiting"),
            func.max(QuarantinedMessage.received_at).label("last"),
        )
        .where(QuarantinedMessage.state == "quarantined")
        .group_by(QuarantinedMessage.agency, QuarantinedMessage.dataset)
    )
    if agency is not None:
        landed = landed.where(IngestedBatch.agency == agency)
        refused = refused.where(QuarantinedMessage.agency == agency)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(a: str | None, d: str | None) -> dict[str, Any]:
        key = (a or "", d or "")
        return rows.setdefault(
            key,
            {
                "agency": a,
                "dataset": d,
                "batches": 0,
                "records": 0,
                "last_accepted_at": None,
                "quarantined": 0,
                "last_quarantined_at": None,
            },
        )

    for a, d, batches, records, last in session.execute(landed):
        row(a, d).update(
            batches=batches, records=int(records or 0), last_accepted_at=last.isoformat()
        )
    for who, what, waiting, since in session.execute(refused):
        row(who, what).update(quarantined=waiting, last_quarantined_at=since.isoformat())
    return [rows[k] for k in sorted(rows)]


def recent_batches(session: Session, agency: str, *, limit: int = 50) -> list[IngestedBatch]:
    """The batches of ``agency`` the hub accepted, newest first: what each receipt
    said (batch id, records, the agreement version, the lake commit)."""
    query = (
        select(IngestedBatch)
        .where(IngestedBatch.agency == agency)
        .order_by(IngestedBatch.received_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
