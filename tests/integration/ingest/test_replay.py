"""Replaying quarantined originals through the worker's decision, after the cause is
fixed: accepted into the lake (row marked replayed, never deleted), or still refused
(row stays quarantined with the new reason); audited either way."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from governance.deliveries.models import IngestedBatch
from integration.ingest.loop import send_outcomes
from integration.ingest.notices import QUARANTINE_TOPIC
from lmis_hub.kafka import librdkafka_config, librdkafka_group_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import Message
from schemas.receipts import open_receipt
from schemas.signing import SIGNATURE_HEADER
from tests.integration.ingest.conftest import contribution_fields, delivered
from tests.integration.ingest.test_run import RECEIPTS, _ensure_topic
from tests.integration.ingest.test_worker import landed, receipt_of
from tests.schemas.envelope_helpers import resign


def _replay_tags(hub, qid: str) -> list[dict[str, Any]]:
    return [
        e.details
        for e in hub.audit.tail(30)
        if e.tag == "quarantine:replay" and e.subject == f"quarantine:{qid}"
    ]


def test_replay_after_the_agreement_is_amended_to_cover_the_field(hub, db_session):
    all_fields = contribution_fields(hub.schemas)
    narrow = hub.activate_version([f for f in all_fields if f != "nis_number_token"])
    message = resign(hub.seal(3), hub.nis, agreement_version=str(narrow).encode())
    refused = hub.worker.process(delivered(message))
    assert refused.reason_code == "agreement.field_not_covered", refused.message
    row = hub.ledger.get_quarantined(refused.quarantine_id)

    still = hub.worker.replay([row])[0]  # nothing fixed yet
    assert still.status == "quarantined" and still.reason_code == "agreement.field_not_covered"
    assert row.state == "quarantined" and row.replays == 1

    wide = hub.activate_version(all_fields)  # the amendment covering the field
    hub.clock.now += timedelta(minutes=1)
    (outcome,) = hub.worker.replay([row])
    assert outcome.status == "accepted" and outcome.replayed, outcome.message
    rows = landed(hub, outcome.batch_id)
    assert rows.num_rows == 3
    assert set(rows["_agreement_version"].to_pylist()) == {wide}
    assert db_session.get(IngestedBatch, outcome.batch_id).agreement_version == wide
    receipt = receipt_of(hub, outcome)
    assert receipt.outcome == "accepted" and receipt.lake_commit_id == str(outcome.snapshot_id)

    row = hub.ledger.get_quarantined(refused.quarantine_id)  # still there, never deleted
    assert row.state == "replayed" and row.replay_outcome == "accepted" and row.replays == 2
    assert row.snapshot_id == str(outcome.snapshot_id)
    assert row.first_reason_code == "agreement.field_not_covered"
    details = _replay_tags(hub, row.id)
    assert [d["outcome"] for d in details] == ["quarantined", "accepted"]
    assert details[1]["previous_reason_code"] == "agreement.field_not_covered"
    accepted = [
        e
        for e in hub.audit.tail(30)
        if e.tag == "delivery:accepted" and e.subject.endswith(outcome.batch_id)
    ]
    assert accepted[0].details["replay_of"] == row.id


def test_a_replay_still_refused_keeps_the_row_with_the_new_reason(hub):
    hub.agreements.suspend("nis-lmis-2026", 1, actor="lmis", reason="audit finding")
    refused = hub.worker.process(delivered(hub.seal(2)))
    assert refused.reason_code == "agreement.suspended"
    hub.agreements.terminate("nis-lmis-2026", 1, actor="lmis", reason="ended")
    row = hub.ledger.get_quarantined(refused.quarantine_id)
    (outcome,) = hub.worker.replay([row])
    assert outcome.status == "quarantined" and outcome.reason_code == "agreement.terminated"
    assert outcome.quarantine_id == row.id and outcome.notice is not None
    row = hub.ledger.get_quarantined(row.id)
    assert (row.state, row.reason_code, row.first_reason_code) == (
        "quarantined",
        "agreement.terminated",
        "agreement.suspended",
    )
    assert row.replay_outcome == "quarantined"
    details = _replay_tags(hub, row.id)[0]
    assert details["reason_code"] == "agreement.terminated"
    assert details["previous_reason_code"] == "agreement.suspended"
    assert len(hub.ledger.quarantined(limit=None)) == 1


def test_replay_of_a_batch_accepted_meanwhile_is_a_duplicate(hub):
    hub.agreements.suspend("nis-lmis-2026", 1, actor="lmis", reason="audit finding")
    message = hub.seal(2)
    refused = hub.worker.process(delivered(message))
    hub.agreements.activate("nis-lmis-2026", 1, actor="lmis", reason="finding closed")
    resent = hub.worker.process(delivered(message, offset=5))  # the connector re-sent it
    assert resent.status == "accepted"
    (outcome,) = hub.worker.replay([hub.ledger.get_quarantined(refused.quarantine_id)])
    assert outcome.status == "duplicate" and outcome.snapshot_id == resent.snapshot_id
    row = hub.ledger.get_quarantined(refused.quarantine_id)
    assert row.state == "replayed" and row.replay_outcome == "duplicate"
    assert landed(hub, resent.batch_id).num_rows == 2


def test_replayed_receipts_and_notices_reach_the_broker(
    hub, kafka_bootstrap, kafka_admin, group_id
):
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    for topic in (RECEIPTS, QUARANTINE_TOPIC):
        _ensure_topic(kafka_admin, topic)
    hub.agreements.suspend("nis-lmis-2026", 1, actor="lmis", reason="audit finding")
    good = hub.worker.process(delivered(hub.seal(2)))
    forged = hub.seal(1)
    bad_headers = [(k, (b"0" * 128 if k == SIGNATURE_HEADER else v)) for k, v in forged.headers]
    bad = hub.worker.process(delivered(Message(b"k", forged.value, bad_headers), offset=1))
    hub.agreements.activate("nis-lmis-2026", 1, actor="lmis", reason="finding closed")
    rows = [hub.ledger.get_quarantined(o.quarantine_id) for o in (good, bad)]

    probe = Consumer(librdkafka_group_config(settings, group_id))
    _, receipts_from = probe.get_watermark_offsets(TopicPartition(RECEIPTS, 0), timeout=10)
    outcomes = hub.worker.replay(rows)
    assert [o.status for o in outcomes] == ["accepted", "quarantined"]
    send_outcomes(Producer(librdkafka_config(settings)), outcomes)
    probe.assign([TopicPartition(RECEIPTS, 0, receipts_from)])
    got: list[tuple[str, str]] = []
    deadline = time.monotonic() + 15
    while len(got) < 2 and time.monotonic() < deadline:
        msg = probe.poll(0.5)
        if msg is None or msg.error():
            continue
        if dict(msg.headers() or []).get("lmis-key-id") != hub.hub.key_id.encode():
            continue
        receipt = open_receipt(
            msg.value() or b"",
            msg.headers() or [],
            catalog=hub.schemas,
            public_key_for=lambda _k: hub.hub.public_key(),
            now=hub.clock.now,
            max_skew=timedelta(minutes=5),
        )
        got.append((receipt.batch_id, receipt.outcome))
    probe.close()
    # The unverified message's rejection names its bytes' digest, not the id it claims.
    unverified = hashlib.sha256(forged.value).hexdigest()
    assert got == [(outcomes[0].batch_id, "accepted"), (unverified, "rejected")]
