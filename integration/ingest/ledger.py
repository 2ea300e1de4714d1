"""The ingest ledger: accepted batches (for dedupe and lineage) and the quarantine.

A quarantined message keeps its original value and headers, envelope-encrypted with
the hub KEK (:mod:`governance.keys.wrapping`, associated data ``quarantine:<id>``), so
an operator can inspect or replay it while the database alone reveals nothing of it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from governance.keys.wrapping import KeyEncryptionKey, SealedColumns, open_envelope, seal
from integration.ingest.errors import QuarantineUnknown

_CHUNK = 500  # ids per IN (...) query, well below every backend's parameter limit


@dataclass(frozen=True)
class Origin:
    """Where a message was read: topic, partition and offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Original:
    """A quarantined message's bytes, decrypted."""

    value: bytes
    headers: list[tuple[str, bytes]]


def _pack(value: bytes, headers: Sequence[tuple[str, bytes]]) -> bytes:
    head = json.dumps([[k, v.hex()] for k, v in headers]).encode("utf-8")
    return len(head).to_bytes(4, "big") + head + value


def _unpack(data: bytes) -> Original:
    n = int.from_bytes(data[:4], "big")
    headers = [(str(k), bytes.fromhex(v)) for k, v in json.loads(data[4 : 4 + n])]
    return Original(data[4 + n :], headers)


class Ledger:
    """Reads and writes the ledger and quarantine tables in the caller's session."""

    def __init__(self, session: Session, *, kek: KeyEncryptionKey) -> None:
        self.session = session
        self.kek = kek

    def accepted(self, batch_id: str) -> IngestedBatch | None:
        return self.session.get(IngestedBatch, batch_id)

    def accepted_many(self, batch_ids: Iterable[str]) -> dict[str, IngestedBatch]:
        """The accepted rows of those of ``batch_ids`` the ledger holds (one query per
        500 ids)."""
        wanted = sorted(set(batch_ids))
        found: dict[str, IngestedBatch] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            query = select(IngestedBatch).where(IngestedBatch.batch_id.in_(chunk))
            found.update((row.batch_id, row) for row in self.session.scalars(query))
        return found

    def recorded(self, batch_ids: Iterable[str]) -> set[str]:
        """Those of ``batch_ids`` the ledger holds as accepted."""
        wanted = sorted(set(batch_ids))
        found: set[str] = set()
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            query = select(IngestedBatch.batch_id).where(IngestedBatch.batch_id.in_(chunk))
            found.update(self.session.scalars(query))
        return found

    def record_accepted(self, row: IngestedBatch) -> IngestedBatch:
        self.session.add(row)
        self.session.flush()
        return row

    def quarantine(
        self,
        *,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
        origin: Origin,
        reason_code: str,
        message: str,
        received_at: datetime,
        agency: str | None = None,
        dataset: str | None = None,
        batch_id: str | None = None,
        content_digest: str | None = None,
    ) -> QuarantinedMessage:
        qid = uuid.uuid4().hex
        env = seal(self.kek, _pack(value, headers), aad=f"quarantine:{qid}".encode())
        row = QuarantinedMessage(
            id=qid,
            received_at=received_at,
            reason_code=reason_code,
            message=message[:2000],
            agency=agency,
            dataset=dataset,
            batch_id=batch_id,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            content_digest=content_digest,
            state="quarantined",
            replays=0,
            first_reason_code=reason_code,
            **SealedColumns.columns_of(env),
        )
        self.session.add(row)
        self.session.flush()
        return row

    def quarantined_at(self, origin: Origin, content_digest: str) -> QuarantinedMessage | None:
        """The row already holding this message (same origin, same bytes), if any.

        A message read again after a crash (its decision stored, its offset not yet
        committed) is not quarantined twice.
        """
        return self.session.scalars(
            select(QuarantinedMessage)
            .where(QuarantinedMessage.topic == origin.topic)
            .where(QuarantinedMessage.partition == origin.partition)
            .where(QuarantinedMessage.offset == origin.offset)
            .where(QuarantinedMessage.content_digest == content_digest)
            .limit(1)
        ).first()

    def quarantined(
        self,
        *,
        reason_code: str | None = None,
        agency: str | None = None,
        state: str | None = None,
        limit: int | None = 50,
    ) -> list[QuarantinedMessage]:
        """Rows newest first; ``state`` is ``quarantined`` or ``replayed`` (default: both)."""
        query = select(QuarantinedMessage).order_by(QuarantinedMessage.received_at.desc())
        if state is not None:
            query = query.where(QuarantinedMessage.state == state)
        if reason_code is not None:
            query = query.where(QuarantinedMessage.reason_code == reason_code)
        if agency is not None:
            query = query.where(QuarantinedMessage.agency == agency)
        if limit is not None:
            query = query.limit(limit)
        return list(self.session.scalars(query))

    def get_quarantined(self, qid: str) -> QuarantinedMessage:
        row = self.session.get(QuarantinedMessage, qid)
        if row is None:
            raise QuarantineUnknown(f"no quarantined message with id {qid!r}")
        return row

    def original(self, row: QuarantinedMessage) -> Original:
        """The message's value and headers as received (needs the same KEK)."""
        env = row.envelope()
        return _unpack(open_envelope(self.kek, env, aad=f"quarantine:{row.id}".encode()))
