"""Quarantine notices: one small message on the quarantine topic per refused message.

The notice says what was refused and why — quarantine id, reason code, batch id,
agency, dataset, origin (topic, partition, offset), content digest and size — and
points at the quarantine table row that holds the original, KEK-encrypted. The
original itself is NOT put on the topic: it would copy (sealed) payloads to a broker
whose retention and ACLs the hub does not control, a notice for an oversized message
would itself be oversized, and replay needs the hub database anyway (the KEK-sealed
row, the ledger, the agreements). Monitoring reads the topic; replay reads the table.

The value is canonical JSON (sorted keys, UTF-8), the key is the quarantine id, so a
notice sent again after a crash is recognisable as the same one.
"""

from __future__ import annotations

import json
from typing import Any

from governance.deliveries.models import QuarantinedMessage
from schemas.envelope import Message

QUARANTINE_TOPIC = "lmis.quarantine"
NOTICE_FORMAT = "lmis-quarantine-notice-v1"


def quarantine_notice(row: QuarantinedMessage, *, value_bytes: int) -> Message:
    """The notice for a quarantine row (after it is stored, so its id is final)."""
    body: dict[str, Any] = {
        "format": NOTICE_FORMAT,
        "quarantine_id": row.id,
        "reason_code": row.reason_code,
        "batch_id": row.batch_id,
        "agency": row.agency,
        "dataset": row.dataset,
        "origin": {"topic": row.topic, "partition": row.partition, "offset": row.offset},
        "content_digest": row.content_digest,
        "value_bytes": value_bytes,
        "received_at": row.received_at.isoformat(),
        "state": row.state,
    }
    value = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return Message(key=row.id.encode("ascii"), value=value, headers=[("lmis-notice", b"1")])


def read_notice(value: bytes) -> dict[str, Any]:
    """A notice's fields (for consumers of the quarantine topic and the tests)."""
    body: dict[str, Any] = json.loads(value)
    if body.get("format") != NOTICE_FORMAT:
        raise ValueError(f"not a quarantine notice: format {body.get('format')!r}")
    return body
