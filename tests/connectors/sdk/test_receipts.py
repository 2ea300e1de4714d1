from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.sdk.errors import ReceiptConflict, SigningKeyInvalid, UnknownBatch
from connectors.sdk.outbox import Outbox
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender, unpack_messages
from connectors.sdk.receipts import (
    ReceiptApplier,
    ReceiptReader,
    ReceiptReport,
    load_hub_key,
    resend_due,
)
from connectors.sdk.state import StateDB
from governance.keys.material import key_id_for, public_pem
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import Message, parse_headers
from schemas.receipts import Receipt, seal_receipt
from schemas.signing import Signer
from tests.connectors.sdk.test_publisher import CATALOG, NOW, SCHEMA, make_batch

HUB = Ed25519PrivateKey.generate()
HUB_SIGNER = Signer(key_id_for("hub", HUB.public_key()), HUB)


@pytest.fixture
def signer() -> Signer:
    private = Ed25519PrivateKey.generate()
    return Signer(key_id_for("tvet", private.public_key()), private)


class RecordingSender:
    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self.calls.append(list(messages))


def make_publisher(
    state: StateDB, signer: Signer, sender: object, **kw: object
) -> EnvelopePublisher:
    return EnvelopePublisher(
        schema=SCHEMA,
        topic="t",
        agreement_id="dsa-tvet-2026",
        agreement_version=1,
        signer=signer,
        state=state,
        sender=sender,  # type: ignore[arg-type]
        clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )


def applier(state: StateDB) -> ReceiptApplier:
    return ReceiptApplier(
        state,
        catalog=CATALOG,
        hub_keys=[HUB.public_key()],
        agency="tvet",
        clock=lambda: NOW,
        max_skew=timedelta(minutes=5),
    )


def receipt(part_id: str, outcome: str = "accepted", reason: str | None = None) -> Receipt:
    return Receipt(
        batch_id=part_id,
        agency="tvet",
        dataset="trainee",
        outcome=outcome,  # type: ignore[arg-type]
        reason_code=reason,
        lake_commit_id=None,
        records_received=1,
        records_accepted=1 if outcome == "accepted" else 0,
        records_rejected=0 if outcome == "accepted" else 1,
        decided_at=NOW,
    )


def sealed(r: Receipt, signer: Signer = HUB_SIGNER) -> Message:
    return seal_receipt(
        r, catalog=CATALOG, agreement_id="hub", agreement_version=1, signer=signer, now=NOW
    )


def part_ids(sender: RecordingSender) -> list[str]:
    return [parse_headers(m.headers).batch_id for m in sender.calls[-1]]


def test_a_split_batch_settles_only_when_every_part_has_its_receipt(
    state: StateDB, signer: Signer
) -> None:
    sender = RecordingSender()
    batch = make_batch(300)
    make_publisher(state, signer, sender, max_message_bytes=8192)(batch)
    parts = part_ids(sender)
    assert len(parts) > 2
    app = applier(state)
    for pid in parts[:-1]:
        assert app.apply(receipt(pid)) == []
        assert Outbox(state).get(batch.batch_id).state == "sent"
    assert app.apply(receipt(parts[-1])) == [batch.batch_id]
    assert Outbox(state).get(batch.batch_id).state == "accepted"
    assert app.apply(receipt(parts[0])) == []  # the same receipt again: no change
    with pytest.raises(ReceiptConflict):
        app.apply(receipt(parts[0], "rejected", "envelope.bad_signature"))


def test_one_rejected_part_rejects_the_batch_with_its_reason(
    state: StateDB, signer: Signer
) -> None:
    sender = RecordingSender()
    batch = make_batch(300)
    make_publisher(state, signer, sender, max_message_bytes=8192)(batch)
    parts = part_ids(sender)
    app = applier(state)
    app.apply(receipt(parts[0]))
    app.apply(receipt(parts[1], "rejected", "ingest.schema_violation"))
    for pid in parts[2:]:
        app.apply(receipt(pid))
    held = Outbox(state).get(batch.batch_id)
    assert (held.state, held.reason_code) == ("rejected", "ingest.schema_violation")


def test_receipts_not_signed_by_the_hub_or_for_unknown_batches_are_skipped(
    state: StateDB, signer: Signer
) -> None:
    sender = RecordingSender()
    batch = make_batch(3)
    make_publisher(state, signer, sender)(batch)
    (pid,) = part_ids(sender)
    forger = Ed25519PrivateKey.generate()
    forged = sealed(receipt(pid), Signer(key_id_for("hub", forger.public_key()), forger))
    report = ReceiptReport()
    app = applier(state)
    app.apply_message(forged.value, forged.headers, report)
    assert report.invalid == ["envelope.unknown_key"] and report.applied == 0
    assert Outbox(state).get(batch.batch_id).state == "sent"
    stranger = sealed(receipt("f" * 64))
    app.apply_message(stranger.value, stranger.headers, report)
    assert report.unknown == ["f" * 64]
    with pytest.raises(UnknownBatch):
        app.apply(receipt("f" * 64))


def test_reader_applies_receipts_from_the_broker_and_resumes_from_its_offset(
    kafka_bootstrap: str, topic_factory: Callable[..., str], state: StateDB, signer: Signer
) -> None:
    sender = RecordingSender()
    batches = [make_batch(3, tag) for tag in "abc"]
    pub = make_publisher(state, signer, sender)
    pids = []
    for b in batches:
        pub(b)
        pids.append(part_ids(sender)[0])
    topic = topic_factory("lmis.receipts.tvet")
    producer = KafkaSender(librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)))
    producer.send(topic, [sealed(receipt(pids[0])), sealed(receipt(pids[1], "rejected", "x.y"))])

    config = librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    reader = ReceiptReader(state, topic=topic, consumer_config=config, applier=applier(state))
    report = reader.poll(timeout_s=10)
    reader.close()
    assert sorted(report.settled) == sorted([batches[0].batch_id, batches[1].batch_id])
    states = {b.batch_id: b.state for b in Outbox(state).batches()}
    assert [states[b.batch_id] for b in batches] == ["accepted", "rejected", "sent"]

    producer.send(topic, [sealed(receipt(pids[2]))])
    producer.close()
    again = ReceiptReader(state, topic=topic, consumer_config=config, applier=applier(state))
    second = again.poll(timeout_s=10)
    again.close()
    assert (second.applied, second.settled) == (1, [batches[2].batch_id])  # not re-read


def test_resend_due_sends_unacknowledged_batches_unchanged(state: StateDB, signer: Signer) -> None:
    sender = RecordingSender()
    pub = make_publisher(state, signer, sender)
    done, waiting = make_batch(3, "a"), make_batch(3, "b")
    pub(done)
    pub(waiting)
    applier(state).apply(receipt(parse_headers(sender.calls[0][0].headers).batch_id))
    first_bytes = sender.calls[1]
    assert (
        resend_due(pub, state, now=NOW + timedelta(seconds=10), timeout=timedelta(minutes=1)) == []
    )
    resent = resend_due(pub, state, now=NOW + timedelta(minutes=2), timeout=timedelta(minutes=1))
    assert resent == [waiting.batch_id]
    assert sender.calls[-1] == first_bytes
    held = Outbox(state).get(waiting.batch_id)
    assert held.attempts == 2
    assert unpack_messages(held.payload, held.headers) == first_bytes


def test_hub_key_file(tmp_path: Path) -> None:
    path = tmp_path / "hub.pub.pem"
    path.write_text(public_pem(HUB.public_key()), encoding="ascii")
    assert key_id_for("hub", load_hub_key(path)) == HUB_SIGNER.key_id
    with pytest.raises(SigningKeyInvalid):
        load_hub_key(tmp_path / "missing.pem")


def test_equal_records_of_two_source_batches_get_their_own_ids_and_receipts(
    state: StateDB, signer: Signer
) -> None:
    """The hub dedupes by envelope batch id: equal records read at two positions of the
    source (a row corrected and corrected back) must not be taken for one batch."""
    sender = RecordingSender()
    pub = make_publisher(state, signer, sender)
    first = make_batch(3, "a")
    again = make_batch(3, "b" * 64)  # other span, same records
    again = type(again)(**{**again.__dict__, "records": first.records})
    pub(first)
    pub(again)
    ids = [parse_headers(call[0].headers).batch_id for call in sender.calls]
    assert len(ids) == 2 and ids[0] != ids[1]
    assert sender.calls[0][0].value != sender.calls[1][0].value
    assert applier(state).apply(receipt(ids[0])) == [first.batch_id]
    assert applier(state).apply(receipt(ids[1])) == [again.batch_id]


def test_reader_reads_from_the_start_when_its_offset_is_beyond_the_topic(
    kafka_bootstrap: str, topic_factory: Callable[..., str], state: StateDB, signer: Signer
) -> None:
    # A restarted memory-only broker has the receipts topic anew, shorter than the
    # offset the connector kept: the receipts there are read, not skipped to the end.
    sender = RecordingSender()
    batch = make_batch(3, "z")
    make_publisher(state, signer, sender)(batch)
    topic = topic_factory("lmis.receipts.tvet")
    with state.transaction() as conn:
        conn.execute(
            "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, 0, 500)", (topic,)
        )
    producer = KafkaSender(librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)))
    producer.send(topic, [sealed(receipt(part_ids(sender)[0]))])
    producer.close()
    config = librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    reader = ReceiptReader(state, topic=topic, consumer_config=config, applier=applier(state))
    report = reader.poll(timeout_s=10)
    reader.close()
    assert report.settled == [batch.batch_id]


def test_short_polls_one_after_another_still_read_the_receipts(
    kafka_bootstrap: str, topic_factory: Callable[..., str], state: StateDB, signer: Signer
) -> None:
    # An operator loop (or a drain) that polls for 0.2 s at a time: each pass must go on
    # from where the last one got to, not start the partition's fetch again.
    sender = RecordingSender()
    batches = [make_batch(3, tag) for tag in "de"]
    pub = make_publisher(state, signer, sender)
    pids = []
    for b in batches:
        pub(b)
        pids.extend(part_ids(sender))
    topic = topic_factory("lmis.receipts.tvet")
    config = librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap))
    reader = ReceiptReader(state, topic=topic, consumer_config=config, applier=applier(state))
    producer = KafkaSender(librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)))
    settled: list[str] = []
    try:
        for n, pid in enumerate(pids):
            producer.send(topic, [sealed(receipt(pid))])
            for _ in range(100):
                settled.extend(reader.poll(timeout_s=0.2).settled)
                if len(settled) > n:
                    break
    finally:
        producer.close()
        reader.close()
    assert settled == [b.batch_id for b in batches]


def test_receipts_for_a_sibling_connector_are_counted_not_reported_unknown(
    state: StateDB, caplog: pytest.LogCaptureFixture
) -> None:
    # The agency's connectors share lmis.receipts.<agency>: the trainee connector reads
    # the enrolment connector's receipts too, which are none of its business.
    own = ReceiptApplier(
        state,
        catalog=CATALOG,
        hub_keys=[HUB.public_key()],
        agency="tvet",
        dataset="trainee",
        clock=lambda: NOW,
        max_skew=timedelta(minutes=5),
    )
    sibling = sealed(replace(receipt("e" * 64), dataset="enrolment"))
    ours_unknown = sealed(receipt("f" * 64))
    report = ReceiptReport()
    with caplog.at_level("WARNING", logger="connectors.sdk.receipts"):
        own.apply_message(sibling.value, sibling.headers, report)
        assert (report.other_datasets, report.unknown, caplog.records) == (1, [], [])
        own.apply_message(ours_unknown.value, ours_unknown.headers, report)
    assert report.unknown == ["f" * 64]  # its own dataset, yet never sent: worth a warning
    assert [r.getMessage() for r in caplog.records] == [
        f"receipt skipped: [outbox.unknown_batch] receipt names batch '{'f' * 64}' of "
        "tvet/trainee, which this connector never sent"
    ]
    anyone = ReceiptReport()
    applier(state).apply_message(sibling.value, sibling.headers, anyone)  # dataset not given
    assert (anyone.other_datasets, anyone.unknown) == (0, ["e" * 64])
