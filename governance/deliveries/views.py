"""What a quarantined message shows people (never its content): the CLI and the API."""

from __future__ import annotations

from typing import Any

from governance.deliveries.models import QuarantinedMessage


def quarantine_view(q: QuarantinedMessage) -> dict[str, Any]:
    return {
        "id": q.id,
        "received_at": q.received_at.isoformat(),
        "state": q.state,
        "reason_code": q.reason_code,
        "first_reason_code": q.first_reason_code,
        "message": q.message,
        "agency": q.agency,
        "dataset": q.dataset,
        "batch_id": q.batch_id,
        "topic": q.topic,
        "partition": q.partition,
        "offset": q.offset,
        "replays": q.replays,
        "replayed_at": q.replayed_at.isoformat() if q.replayed_at else None,
        "replay_outcome": q.replay_outcome,
        "snapshot_id": q.snapshot_id,
    }
