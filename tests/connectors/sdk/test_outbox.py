from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.sdk.errors import ReceiptConflict, UnknownBatch
from connectors.sdk.outbox import Outbox, Receipt
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark, WatermarkStore

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _store(outbox: Outbox, batch_id: str, *, sent: bool = True, at: datetime = T) -> bool:
    return outbox.store(
        batch_id=batch_id,
        dataset="trainees",
        payload=b"\x00payload" + batch_id.encode(),
        headers=b"h",
        record_count=3,
        created_at=at,
        sent_at=at if sent else None,
    )


def test_store_keeps_opaque_bytes_and_refuses_duplicates(state: StateDB) -> None:
    outbox = Outbox(state)
    assert _store(outbox, "b1") is True
    assert _store(outbox, "b1") is False
    got = outbox.get("b1")
    assert (got.payload, got.headers, got.state, got.attempts) == (
        b"\x00payloadb1",
        b"h",
        "sent",
        1,
    )
    assert [b.batch_id for b in outbox.batches(dataset="trainees")] == ["b1"]


def test_due_for_resend(state: StateDB) -> None:
    outbox = Outbox(state)
    _store(outbox, "old", at=T)
    _store(outbox, "fresh", at=T + timedelta(minutes=9))
    _store(outbox, "pending", sent=False, at=T + timedelta(minutes=9))
    _store(outbox, "done", at=T)
    outbox.apply_receipt(Receipt("done", "accepted"), at=T)
    due = outbox.due_for_resend(T + timedelta(minutes=10), timedelta(minutes=5))
    assert [b.batch_id for b in due] == ["old", "pending"]
    outbox.mark_sent("old", at=T + timedelta(minutes=10))
    assert outbox.get("old").attempts == 2
    due = outbox.due_for_resend(T + timedelta(minutes=11), timedelta(minutes=5))
    assert [b.batch_id for b in due] == ["pending"]


def test_receipts_are_idempotent_and_conflicts_refused(state: StateDB) -> None:
    outbox = Outbox(state)
    _store(outbox, "b1")
    receipt = Receipt("b1", "rejected", reason_code="agreement.not_active", rows=("r7", "r9"))
    assert outbox.apply_receipt(receipt, at=T) is True
    assert outbox.apply_receipt(receipt, at=T + timedelta(hours=1)) is False
    got = outbox.get("b1")
    assert (got.state, got.reason_code, got.rejected_rows) == (
        "rejected",
        "agreement.not_active",
        ("r7", "r9"),
    )
    outbox.mark_sent("b1", at=T)  # a settled batch is not sent again
    assert outbox.get("b1").state == "rejected"
    # Replayed from quarantine once fixed: still refused for another reason, then landed.
    again = Receipt("b1", "rejected", reason_code="validation.range", rows=("r7",))
    assert outbox.apply_receipt(again, at=T) is True
    assert outbox.get("b1").reason_code == "validation.range"
    assert outbox.apply_receipt(Receipt("b1", "accepted"), at=T) is True
    assert outbox.get("b1").state == "accepted"
    # Acceptance is final.
    with pytest.raises(ReceiptConflict, match="already accepted"):
        outbox.apply_receipt(receipt, at=T)
    with pytest.raises(UnknownBatch, match="'nope'"):
        outbox.apply_receipt(Receipt("nope", "accepted"), at=T)


def test_batch_and_watermark_commit_together_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = StateDB.open(path)
    outbox, marks = Outbox(db), WatermarkStore(db)
    with pytest.raises(RuntimeError), db.transaction():
        _store(outbox, "b1")
        marks.advance("trainees", Watermark(datetime(2026, 1, 1, 9, 30), 17), at=T)
        raise RuntimeError("power cut")
    db.close()
    db = StateDB.open(path)  # what a restarted connector sees
    assert Outbox(db).batches() == [] and WatermarkStore(db).get("trainees") is None
    with db.transaction():
        _store(Outbox(db), "b1")
        WatermarkStore(db).advance("trainees", Watermark(datetime(2026, 1, 1, 9, 30), 17), at=T)
    db.close()
    db = StateDB.open(path)
    assert Outbox(db).contains("b1")
    assert WatermarkStore(db).get("trainees") == Watermark(datetime(2026, 1, 1, 9, 30), 17)
    db.close()
