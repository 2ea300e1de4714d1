"""The outbox: every published batch stays in the state database until the hub's
receipt for it is applied.

The payload and headers are opaque bytes supplied by the caller (the signed envelope
is built elsewhere). States: ``pending`` (stored, to be sent at the next pass: not yet
sent, or sent and then lost with the broker, or refused by a hub that could not verify
it), ``sent`` (sent at least once, no receipt yet), ``accepted`` / ``rejected`` (a
receipt was applied; a rejection keeps its reason code and the rows concerned). A send
may replace the stored headers (each send is signed anew); the payload never changes.
Every write is one SQLite transaction, and :meth:`Outbox.store` joins the caller's
transaction so a batch and the watermark it carries commit together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from connectors.sdk.errors import BatchSettled, ReceiptConflict, UnknownBatch
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark, encode_watermark

State = Literal["pending", "sent", "accepted", "rejected"]
Outcome = Literal["accepted", "rejected"]


@dataclass(frozen=True)
class OutboxBatch:
    """One stored batch as the outbox holds it."""

    batch_id: str
    dataset: str
    payload: bytes
    headers: bytes
    record_count: int
    created_at: datetime
    state: State
    attempts: int
    last_sent_at: datetime | None
    reason_code: str | None
    rejected_rows: tuple[str, ...]
    #: When ``connector rewind`` moved the watermark back to or before this batch.
    rewound_at: datetime | None = None


@dataclass(frozen=True)
class Receipt:
    """What the hub said about a batch (the signature is checked before this point)."""

    batch_id: str
    outcome: Outcome
    reason_code: str | None = None
    rows: tuple[str, ...] = ()


@dataclass(frozen=True)
class UnverifiedPart:
    """A part of a batch without a receipt that the hub said it could not verify."""

    batch_id: str
    part_index: int
    reason_code: str
    noted_at: datetime


_COLUMNS = (
    "batch_id, dataset, payload, headers, record_count, created_at, state, attempts, "
    "last_sent_at, reason_code, rejected_rows, rewound_at"
)


def _row_to_batch(row: Any) -> OutboxBatch:
    last = row[8]
    return OutboxBatch(
        batch_id=str(row[0]),
        dataset=str(row[1]),
        payload=bytes(row[2]),
        headers=bytes(row[3]),
        record_count=int(row[4]),
        created_at=datetime.fromisoformat(str(row[5])),
        state=row[6],
        attempts=int(row[7]),
        last_sent_at=datetime.fromisoformat(str(last)) if last is not None else None,
        reason_code=None if row[9] is None else str(row[9]),
        rejected_rows=tuple(json.loads(str(row[10]))) if row[10] is not None else (),
        rewound_at=datetime.fromisoformat(str(row[11])) if row[11] is not None else None,
    )


class Outbox:
    """Batches awaiting the hub's receipt, in the connector's state database."""

    def __init__(self, state: StateDB) -> None:
        self._state = state

    def store(
        self,
        *,
        batch_id: str,
        dataset: str,
        payload: bytes,
        headers: bytes,
        record_count: int,
        created_at: datetime,
        sent_at: datetime | None = None,
    ) -> bool:
        """Keep a batch (``sent`` when ``sent_at`` is given, else ``pending``).

        Returns False, changing nothing, when the batch id is already held.
        """
        with self._state.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO batches (batch_id, dataset, payload, headers, record_count, "
                "created_at, state, attempts, last_sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (batch_id) DO NOTHING",
                (
                    batch_id,
                    dataset,
                    payload,
                    headers,
                    record_count,
                    created_at.isoformat(),
                    "pending" if sent_at is None else "sent",
                    0 if sent_at is None else 1,
                    None if sent_at is None else sent_at.isoformat(),
                ),
            )
            return cur.rowcount == 1

    def get(self, batch_id: str) -> OutboxBatch:
        """The batch with this id; :class:`UnknownBatch` when the outbox never held it."""
        row = self._state.connection.execute(
            f"SELECT {_COLUMNS} FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is None:
            raise UnknownBatch(f"outbox holds no batch {batch_id!r}", batch_id=batch_id)
        return _row_to_batch(row)

    def state_of(self, batch_id: str) -> State | None:
        """The batch's state, or None when the outbox never held it."""
        row = self._state.connection.execute(
            "SELECT state FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return None if row is None else row[0]

    def note_span(self, batch_id: str, *, before: Watermark | None, after: Watermark) -> None:
        """Keep where the batch's rows start (the watermark before them, None at the
        start of the source) and end; the first values noted stay (inside the caller's
        transaction)."""
        with self._state.transaction() as conn:
            conn.execute(
                "UPDATE batches SET watermark_before = COALESCE(watermark_before, ?), "
                "watermark_after = COALESCE(watermark_after, ?) WHERE batch_id = ?",
                (encode_watermark(before), encode_watermark(after), batch_id),
            )

    def contains(self, batch_id: str) -> bool:
        row = self._state.connection.execute(
            "SELECT 1 FROM batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        return row is not None

    def batches(
        self, *, dataset: str | None = None, state: State | None = None
    ) -> list[OutboxBatch]:
        """Batches in creation order, optionally of one dataset and/or state."""
        sql = f"SELECT {_COLUMNS} FROM batches WHERE 1 = 1"
        params: list[object] = []
        if dataset is not None:
            sql += " AND dataset = ?"
            params.append(dataset)
        if state is not None:
            sql += " AND state = ?"
            params.append(state)
        rows = self._state.connection.execute(sql + " ORDER BY created_at, rowid", params)
        return [_row_to_batch(r) for r in rows.fetchall()]

    def unverified(self, *, dataset: str | None = None) -> list[UnverifiedPart]:
        """Parts of batches still awaiting a receipt that the hub could not verify."""
        rows = self._state.connection.execute(
            "SELECT p.batch_id, p.part_index, p.unverified_code, p.unverified_at "
            "FROM batch_parts p JOIN batches b ON b.batch_id = p.batch_id "
            "WHERE p.unverified_code IS NOT NULL AND b.state IN ('pending', 'sent') "
            "AND (? IS NULL OR b.dataset = ?) ORDER BY b.created_at, b.rowid, p.part_index",
            (dataset, dataset),
        )
        return [
            UnverifiedPart(str(r[0]), int(r[1]), str(r[2]), datetime.fromisoformat(str(r[3])))
            for r in rows.fetchall()
        ]

    def reopen(self, batch_id: str) -> None:
        """Make a rejected batch wait for a receipt again, to send it once more (after
        its cause was fixed); an accepted batch is final."""
        with self._state.transaction() as conn:
            current = self.get(batch_id)
            if current.state != "rejected":
                raise BatchSettled(
                    f"batch {batch_id!r} is {current.state}: only a rejected batch is reopened",
                    batch_id=batch_id,
                )
            conn.execute(
                "UPDATE batches SET state = 'pending', reason_code = NULL, rejected_rows = '[]', "
                "receipt_at = NULL, rewound_at = NULL WHERE batch_id = ?",
                (batch_id,),
            )
            conn.execute(
                "UPDATE batch_parts SET outcome = NULL, reason_code = NULL WHERE batch_id = ?",
                (batch_id,),
            )

    def mark_sent(self, batch_id: str, *, at: datetime, headers: bytes | None = None) -> None:
        """Record one more send attempt of a batch that has no receipt yet (and, when
        given, the headers it was sent with this time)."""
        with self._state.transaction() as conn:
            cur = conn.execute(
                "UPDATE batches SET state = 'sent', attempts = attempts + 1, last_sent_at = ?, "
                "headers = COALESCE(?, headers) "
                "WHERE batch_id = ? AND state IN ('pending', 'sent')",
                (at.isoformat(), headers, batch_id),
            )
            if cur.rowcount == 0:
                self.get(batch_id)  # raises UnknownBatch; otherwise it is settled: no-op

    def requeue(self, batch_ids: Sequence[str] | None = None, *, dataset: str | None = None) -> int:
        """Make ``sent`` batches ``pending`` again (those named, else all, of ``dataset``
        when given), so the next pass sends them whatever their last send time; the
        number changed."""
        with self._state.transaction() as conn:
            if batch_ids is None:
                cur = conn.execute(
                    "UPDATE batches SET state = 'pending' WHERE state = 'sent' "
                    "AND (? IS NULL OR dataset = ?)",
                    (dataset, dataset),
                )
                return int(cur.rowcount)
            changed = 0
            for batch_id in batch_ids:
                cur = conn.execute(
                    "UPDATE batches SET state = 'pending' WHERE batch_id = ? AND state = 'sent'",
                    (batch_id,),
                )
                changed += int(cur.rowcount)
            return changed

    def due_for_resend(self, now: datetime, timeout: timedelta) -> list[OutboxBatch]:
        """Pending batches, and sent ones whose last send is at least ``timeout`` old."""
        cutoff = (now - timeout).isoformat()
        rows = self._state.connection.execute(
            f"SELECT {_COLUMNS} FROM batches WHERE state = 'pending' "
            "OR (state = 'sent' AND last_sent_at <= ?) ORDER BY created_at, rowid",
            (cutoff,),
        )
        return [_row_to_batch(r) for r in rows.fetchall()]

    def apply_receipt(self, receipt: Receipt, *, at: datetime) -> bool:
        """Settle a batch. Applying the same receipt again changes nothing (returns False).
        A rejected batch takes a later decision (the hub replayed it from quarantine once
        its cause was fixed); an accepted one is final: a receipt contradicting it raises
        :class:`ReceiptConflict`."""
        rows: Sequence[str] = receipt.rows
        with self._state.transaction() as conn:
            current = self.get(receipt.batch_id)
            if current.state in ("accepted", "rejected"):
                same = (
                    current.state == receipt.outcome
                    and current.reason_code == receipt.reason_code
                    and current.rejected_rows == tuple(rows)
                )
                if same:
                    return False
                if current.state == "accepted":
                    raise ReceiptConflict(
                        f"batch {receipt.batch_id!r} is already {current.state}"
                        f" ({current.reason_code or 'no reason'}); receipt says "
                        f"{receipt.outcome} ({receipt.reason_code or 'no reason'})",
                        batch_id=receipt.batch_id,
                    )
            conn.execute(
                "UPDATE batches SET state = ?, reason_code = ?, rejected_rows = ?, receipt_at = ? "
                "WHERE batch_id = ?",
                (
                    receipt.outcome,
                    receipt.reason_code,
                    json.dumps(list(rows)),
                    at.isoformat(),
                    receipt.batch_id,
                ),
            )
            return True
