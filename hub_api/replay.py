"""Replaying quarantined messages: each decided again by an ingest worker, landing in
the lake if it now passes, and (with ``send``) the receipts published to the agency.
Shared by `lmis-hub quarantine replay` and the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import Producer
from sqlalchemy.orm import Session

from governance.deliveries.models import QuarantinedMessage
from hub_api.wiring import ingest_worker
from integration.ingest.loop import send_outcomes
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import Settings


def replay_messages(
    session: Session,
    settings: Settings,
    rows: Sequence[QuarantinedMessage],
    *,
    actor: str,
    send: bool,
) -> list[dict[str, Any]]:
    """Decide ``rows`` again in groups of ``HUB_INGEST__MAX_GROUP_MESSAGES``; one result
    per row (outcome, reason, batch, snapshot)."""
    results: list[dict[str, Any]] = []
    session.commit()
    worker, _ = ingest_worker(session, settings, actor=actor)
    producer = Producer(librdkafka_config(settings.kafka)) if send and rows else None
    size = settings.ingest.max_group_messages
    for start in range(0, len(rows), size):
        chunk = list(rows[start : start + size])
        ids = [r.id for r in chunk]
        outcomes = worker.replay(chunk)
        if producer is not None:
            send_outcomes(producer, outcomes, quarantine_topic=settings.ingest.quarantine_topic)
        for qid, outcome in zip(ids, outcomes, strict=True):
            results.append(
                {
                    "id": qid,
                    "outcome": outcome.status,
                    "reason_code": outcome.reason_code,
                    "batch_id": outcome.batch_id,
                    "snapshot_id": outcome.snapshot_id,
                }
            )
    return results
