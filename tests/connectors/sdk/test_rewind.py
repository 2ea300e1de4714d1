"""`connector rewind`: the watermark goes back to where a batch's rows start, and the
next run reads them again, sending only what the hub has not accepted."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import Engine

from connectors.sdk.config import parse_config
from connectors.sdk.errors import RewindBlocked, RewindPointUnknown, UnknownBatch
from connectors.sdk.outbox import Outbox, Receipt
from connectors.sdk.pipeline import Pipeline
from connectors.sdk.publisher import EnvelopePublisher
from connectors.sdk.rewind import REWIND_EVENT, rewind
from connectors.sdk.sources.sql import SqlSource
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import WatermarkStore
from schemas.envelope import parse_headers
from schemas.keys import key_id_for
from schemas.signing import Signer
from tests.connectors.sdk.test_pipeline import CONFIG, KEY, NOW, Recorder, ids
from tests.connectors.sdk.test_pipeline import agency_db as agency_db  # the fixture
from tests.connectors.sdk.test_publisher import SCHEMA, RecordingSender, make_batch


def ticking(start: datetime = NOW) -> Callable[[], datetime]:
    """A clock one millisecond later at every call (batches are stored in order)."""
    now = [start]

    def clock() -> datetime:
        now[0] += timedelta(milliseconds=1)
        return now[0]

    return clock


def make_pipeline(
    engine: Engine, state: StateDB, clock: Callable[[], datetime], config: dict[str, Any] = CONFIG
) -> Pipeline:
    parsed = parse_config(config)
    return Pipeline.from_config(
        parsed,
        state=state,
        link_key=KEY,
        clock=clock,
        code_lists={"sex": {"1", "2", "9"}},
        source=SqlSource(parsed.source, engine=engine),  # type: ignore[arg-type]
    )


def settle(state: StateDB, batch_id: str, outcome: str, reason: str | None = None) -> None:
    receipt = Receipt(batch_id, outcome, reason)  # type: ignore[arg-type]
    Outbox(state).apply_receipt(receipt, at=NOW)


def refusal_rows(state: StateDB) -> list[str]:
    rows = state.connection.execute("SELECT row_key FROM refusals ORDER BY row_key").fetchall()
    return [str(r[0]) for r in rows]


def test_a_rewind_reads_the_rows_again_and_sends_only_what_the_hub_did_not_accept(
    agency_db: Engine, state: StateDB
) -> None:
    clock = ticking()
    first = Recorder()
    make_pipeline(agency_db, state, clock).run(first)
    b1, b2, b3 = first.sent
    assert ids(first.sent) == [1, 2, 3, 5, 6, 8, 9, 10]  # 4 and 7 refused, with b2
    assert refusal_rows(state) == ["4", "7"]
    settle(state, b1.batch_id, "accepted")
    settle(state, b2.batch_id, "rejected", "agreement.unknown")
    settle(state, b3.batch_id, "accepted")

    done = rewind(state, "enrolments", to_batch=b2.batch_id, at=clock())
    assert WatermarkStore(state).get("enrolments") == b1.watermark  # before b2's rows
    assert done.watermark_from == b3.watermark and done.watermark_to == b1.watermark
    assert done.batches == (b2.batch_id, b3.batch_id) and done.unanswered == ()
    assert done.refusals_cleared == 2 and refusal_rows(state) == []
    held = {b.batch_id: b for b in Outbox(state).batches()}
    assert held[b1.batch_id].rewound_at is None
    assert held[b2.batch_id].rewound_at is not None and held[b3.batch_id].rewound_at is not None
    (event,) = state.events("enrolments", kind=REWIND_EVENT)
    assert event["details"]["to_batch"] == b2.batch_id and event["details"]["batches"] == 2

    # The same mapping gives the same records: the rejected batch goes to publish again
    # (the envelope publisher sends it under the config's agreement), the accepted one
    # does not; the refused rows are reported once again.
    again = Recorder()
    report = make_pipeline(agency_db, state, clock).run(again)
    assert [b.batch_id for b in again.sent] == [b2.batch_id]
    assert report.skipped_batches == [b3.batch_id]
    assert refusal_rows(state) == ["4", "7"]
    assert WatermarkStore(state).get("enrolments") == b3.watermark


def test_rows_mapped_differently_after_a_rewind_go_out_as_new_batches(
    agency_db: Engine, state: StateDB
) -> None:
    clock = ticking()
    first = Recorder()
    make_pipeline(agency_db, state, clock).run(first)
    for b in first.sent:
        settle(state, b.batch_id, "rejected", "validation.code_list")
    corrected: dict[str, Any] = copy.deepcopy(CONFIG)
    corrected["mapping"]["code_tables"]["occ"]["WELD"] = "7213"  # the code table was wrong
    rewind(state, "enrolments", to_batch=first.sent[0].batch_id, at=clock())
    again = Recorder()
    make_pipeline(agency_db, state, clock, corrected).run(again)
    assert ids(again.sent) == ids(first.sent)
    # Every batch holds a WELD row (enrolments 3, 6 and 9): new records, new batch ids.
    assert {r["programme_isco"] for b in again.sent for r in b.records} == {"7411", "7213"}
    assert {b.batch_id for b in again.sent}.isdisjoint(b.batch_id for b in first.sent)
    assert len(Outbox(state).batches(state="rejected")) == 3  # the old ones stay as they were


def test_batches_awaiting_a_receipt_stop_a_rewind_unless_forced(
    agency_db: Engine, state: StateDB
) -> None:
    clock = ticking()
    first = Recorder()
    make_pipeline(agency_db, state, clock).run(first)
    b1, b2, b3 = first.sent
    settle(state, b1.batch_id, "accepted")
    settle(state, b2.batch_id, "rejected", "agreement.unknown")  # b3 still awaits a receipt
    with pytest.raises(RewindBlocked, match=b3.batch_id) as info:
        rewind(state, "enrolments", to_batch=b2.batch_id, at=clock())
    assert info.value.code == "outbox.rewind_blocked"
    assert WatermarkStore(state).get("enrolments") == b3.watermark  # nothing changed
    assert state.events("enrolments") == [] and refusal_rows(state) == ["4", "7"]
    done = rewind(state, "enrolments", to_batch=b2.batch_id, force=True, at=clock())
    assert done.unanswered == (b3.batch_id,)
    assert state.events("enrolments")[0]["details"]["forced"] is True


def test_rewind_to_the_start_and_the_refusals(agency_db: Engine, state: StateDB) -> None:
    clock = ticking()
    first = Recorder()
    make_pipeline(agency_db, state, clock).run(first)
    for b in first.sent:
        settle(state, b.batch_id, "accepted")
    done = rewind(state, "enrolments", to_batch=None, at=clock())
    assert done.watermark_to is None and WatermarkStore(state).get("enrolments") is None
    assert len(done.batches) == 3 and done.refusals_cleared == 2
    again = Recorder()
    report = make_pipeline(agency_db, state, clock).run(again)
    assert again.sent == [] and len(report.skipped_batches) == 3  # all accepted: nothing twice


def test_a_rewind_names_what_it_cannot_do(agency_db: Engine, state: StateDB) -> None:
    clock = ticking()
    first = Recorder()
    make_pipeline(agency_db, state, clock).run(first)
    with pytest.raises(UnknownBatch):
        rewind(state, "enrolments", to_batch="f" * 64, at=clock())
    with pytest.raises(UnknownBatch, match="not placements"):
        rewind(state, "placements", to_batch=first.sent[0].batch_id, at=clock())
    # A batch stored by a connector that did not yet keep where its rows start.
    state.connection.execute("UPDATE batches SET watermark_before = NULL")
    for b in first.sent:
        settle(state, b.batch_id, "accepted")
    with pytest.raises(RewindPointUnknown, match="--to-start") as info:
        rewind(state, "enrolments", to_batch=first.sent[1].batch_id, at=clock())
    assert info.value.code == "outbox.rewind_point_unknown"


def test_the_envelope_publisher_sends_a_rejected_batch_read_again_under_the_new_agreement(
    state: StateDB,
) -> None:
    private = Ed25519PrivateKey.generate()
    signer = Signer(key_id_for("tvet", private.public_key()), private)

    def publisher(version: int, sender: RecordingSender) -> EnvelopePublisher:
        return EnvelopePublisher(
            schema=SCHEMA,
            topic="t",
            agreement_id="dsa-tvet-2026",
            agreement_version=version,
            signer=signer,
            state=state,
            sender=sender,
            clock=lambda: NOW,
        )

    batch = make_batch(3)
    first = RecordingSender()
    publisher(3, first)(batch)
    settle(state, batch.batch_id, "rejected", "agreement.version_superseded")
    again = RecordingSender()
    publisher(4, again)(batch)  # the config names the agreement's newer version now
    (parts,) = again.calls
    assert [m.value for m in parts] == [m.value for m in first.calls[0]]  # the same batch ids
    assert {parse_headers(m.headers).agreement_version for m in parts} == {4}
    assert Outbox(state).get(batch.batch_id).state == "sent"  # waits for a new receipt
