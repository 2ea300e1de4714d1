"""More hostile deliveries, each quarantined with its own code while the worker stays up;
then all hostile kinds and good batches mixed in one stream through the Kafka loop."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta

from confluent_kafka import Consumer, Producer, TopicPartition

from governance.deliveries.models import IngestedBatch
from integration.ingest.decisions import Outcome
from integration.ingest.loop import GroupLimits, run
from integration.ingest.notices import QUARANTINE_TOPIC, read_notice
from lmis_hub.kafka import librdkafka_config, librdkafka_group_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import Message, seal_batch
from schemas.samples import opaque_sample_id, sample_records
from schemas.signing import SIGNATURE_HEADER, Signer
from tests.fixtures.hub import agency_agreement, dataset_terms
from tests.integration.ingest.conftest import Hub
from tests.integration.ingest.test_run import RECEIPTS, _ensure_topic
from tests.integration.ingest.test_worker import _quarantined, landed
from tests.schemas.envelope_helpers import resign

SHORT = "nis-short-2026"


def _expired_signer(hub: Hub) -> Signer:
    """A NIS key valid for a year that ended yesterday."""
    return hub.new_key(
        "nis",
        not_before=hub.clock.now - timedelta(days=366),
        not_after=hub.clock.now - timedelta(days=1),
    )


def test_good_signature_by_an_expired_key(hub):
    signer = _expired_signer(hub)
    message = resign(hub.seal(1), signer, key_id=signer.key_id.encode())
    outcome = _quarantined(hub, message, "key.expired")
    assert "expired" in outcome.message


def _short_agreement(hub, valid_until: date) -> None:
    """A second NIS agreement whose validity ends on ``valid_until``."""
    terms = {"contribution": dataset_terms(hub.schemas, "nis", "contribution")}
    doc = agency_agreement("nis", terms, agreement_id=SHORT, valid_until=valid_until)
    hub.activate(doc, reason="short pilot")


def test_agreement_expired(hub):
    _short_agreement(hub, (hub.clock.now + timedelta(days=1)).date())
    hub.clock.now += timedelta(days=3)  # the agreement's last valid day has passed
    message = resign(hub.seal(1), hub.nis, agreement_id=SHORT.encode())
    _quarantined(hub, message, "agreement.expired")


def test_oversized_message(hub):
    hub.worker.max_message_bytes = 16 * 1024
    _quarantined(hub, hub.seal(200), "envelope.oversized")


def test_truncated_value_signed_by_a_faulty_producer(hub):
    message = hub.seal(20)
    _quarantined(
        hub,
        resign(message, hub.nis, value=message.value[: len(message.value) // 2]),
        "envelope.truncated",
    )


def test_value_truncated_in_transit_fails_its_signature(hub):
    message = hub.seal(20)
    cut = Message(message.key, message.value[:-40], message.headers)
    _quarantined(hub, cut, "envelope.bad_signature")


def test_producer_time_too_far_in_the_future(hub):
    sv = hub.schemas.current("nis", "contribution")
    records = sample_records(sv, 1)
    records[0]["record_id"] = opaque_sample_id(f"future:{records[0]['record_id']}")
    (message,) = seal_batch(
        records,
        schema=sv,
        agreement_id="nis-lmis-2026",
        agreement_version=1,
        signer=hub.nis,
        now=hub.clock.now + timedelta(hours=1),
    )
    outcome = _quarantined(hub, message, "envelope.future_timestamp")
    assert "ahead" in outcome.message


def _hostile_mix(hub) -> list[tuple[str, Message]]:
    """(expected reason code, message) for every hostile kind the worker refuses."""
    expired = _expired_signer(hub)
    big = hub.seal(200)
    cut = hub.seal(20)
    nso_signer = hub.new_key("nso")
    forged_headers = [
        (k, (b"0" * 128 if k == SIGNATURE_HEADER else v)) for k, v in hub.seal(1).headers
    ]
    sv = hub.schemas.current("nis", "contribution")
    future_records = sample_records(sv, 1)
    future_records[0]["record_id"] = opaque_sample_id(
        f"mix-future:{future_records[0]['record_id']}"
    )
    (future,) = seal_batch(
        future_records,
        schema=sv,
        agreement_id="nis-lmis-2026",
        agreement_version=1,
        signer=hub.nis,
        now=hub.clock.now + timedelta(hours=1),
    )
    return [
        ("envelope.bad_signature", Message(b"k", hub.seal(1).value, forged_headers)),
        ("key.expired", resign(hub.seal(1), expired, key_id=expired.key_id.encode())),
        ("agreement.unknown", resign(hub.seal(1), hub.nis, agreement_id=b"no-such-agreement")),
        ("envelope.unknown_schema", resign(hub.seal(1), hub.nis, schema_fingerprint=b"0" * 16)),
        ("envelope.missing_header", Message(b"k", b"garbage", [("lmis-agency", b"nis")])),
        ("envelope.bad_framing", resign(hub.seal(1), hub.nis, value=b"garbage")),
        ("envelope.oversized", big),
        ("envelope.truncated", resign(cut, hub.nis, value=cut.value[: len(cut.value) // 2])),
        ("envelope.future_timestamp", future),
        (
            "ingest.key_agency_mismatch",
            resign(hub.seal(1), nso_signer, key_id=nso_signer.key_id.encode()),
        ),
    ]


def test_a_stream_mixing_every_hostile_kind_with_good_batches(
    hub, db_session, kafka_bootstrap, kafka_admin, topic_factory, group_id
):
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    _ensure_topic(kafka_admin, RECEIPTS)
    _ensure_topic(kafka_admin, QUARANTINE_TOPIC)
    topic = topic_factory("lmis.nis.contribution.v1")
    other_topic = topic_factory("lmis.nso.contribution.v1")
    dataset_topic = topic_factory("lmis.nis.insured_person.v1")
    hub.worker.max_message_bytes = 16 * 1024
    hostile = _hostile_mix(hub)
    good = [hub.seal(n) for n in (1, 2, 3, 4, 5)]
    db_session.commit()
    stream: list[tuple[str, str | None, Message]] = []  # (topic, expected code, message)
    for i, (code, message) in enumerate(hostile):
        stream.append((topic, None, good[i % len(good)]))
        stream.append((topic, code, message))
    stream.append((other_topic, "ingest.wrong_agency", good[0]))  # NIS batch on NSO's topic
    stream.append((dataset_topic, "ingest.wrong_topic", good[1]))  # on another dataset's topic
    stream.append((topic, None, good[2]))  # a replay: deduped quietly
    forged = resign(hub.seal(2), hub.nis, batch_id=dict(good[3].headers)["lmis-batch-id"])
    stream.append((topic, "envelope.batch_id_mismatch", forged))  # a batch id reused
    producer = Producer(librdkafka_config(settings))
    for t, _code, message in stream:
        producer.produce(t, key=message.key, value=message.value, headers=list(message.headers))
    assert producer.flush(10) == 0

    probe = Consumer(librdkafka_group_config(settings, group_id + "-probe"))
    _, notices_from = probe.get_watermark_offsets(TopicPartition(QUARANTINE_TOPIC, 0), timeout=10)
    consumer = Consumer(librdkafka_group_config(settings, group_id))
    consumer.subscribe(["^" + re.escape(t) for t in (topic, other_topic, dataset_topic)])
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        processed = run(
            hub.worker,
            consumer=consumer,
            producer=producer,
            on_outcome=outcomes.append,
            should_stop=lambda: len(outcomes) >= len(stream) or time.monotonic() - started > 45,
            limits=GroupLimits(max_messages=7, max_records=10_000, max_wait_s=0.2),
        )
        committed = consumer.committed(
            [TopicPartition(t, 0) for t in (topic, other_topic, dataset_topic)], timeout=10
        )
    finally:
        consumer.close()
    assert processed == len(stream)
    assert [c.offset for c in committed] == [len(stream) - 2, 1, 1]  # past every message

    refused = sorted(o.reason_code or "" for o in outcomes if o.status == "quarantined")
    expected = sorted(code for _t, code, _m in stream if code is not None)
    assert refused == expected
    good_ids = {
        dict(m.headers)["lmis-batch-id"].decode(): n
        for m, n in zip(good, (1, 2, 3, 4, 5), strict=True)
    }
    for batch_id, n in good_ids.items():
        assert landed(hub, batch_id).num_rows == n  # every good batch exactly once
        assert db_session.get(IngestedBatch, batch_id) is not None
    assert {o.batch_id for o in outcomes if o.status == "accepted"} == set(good_ids)
    rows = hub.ledger.quarantined(limit=None)
    assert sorted(r.reason_code for r in rows) == expected

    # Every refusal has its notice on the quarantine topic, naming its row.
    probe.assign([TopicPartition(QUARANTINE_TOPIC, 0, notices_from)])
    ids = {r.id for r in rows}
    seen: dict[str, str] = {}
    deadline = time.monotonic() + 15
    while len(seen) < len(ids) and time.monotonic() < deadline:
        msg = probe.poll(0.5)
        if msg is None or msg.error():
            continue
        notice = read_notice(msg.value() or b"")
        if notice["quarantine_id"] in ids:
            seen[notice["quarantine_id"]] = notice["reason_code"]
    probe.close()
    assert seen == {r.id: r.reason_code for r in rows}
