from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.sdk.errors import ReceiptConflict, SigningKeyInvalid, UnknownBatch
from connectors.sdk.outbox import Outbox
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender, unpack_messages
from connectors.sdk.receipt_reader import ReceiptReader
from connectors.sdk.receipts import (
    ReceiptApplier,
    ReceiptReport,
    load_hub_key,
    resend_due,
)
from connectors.sdk.state import StateDB
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import Message, parse_headers
from schemas.keys import key_id_for, public_pem
from schemas.receipts import UNVERIFIED_REASONS, Receipt, seal_receipt
from schemas.signing import Signer
from tests.connectors.sdk.test_publisher import CATALOG, NOW, SCHEMA, make_batch
from tests.fixtures.kafka import Broker

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


def test_a_part_replayed_from_quarantine_takes_the_later_decision(
    state: StateDB, signer: Signer
) -> None:
    """The hub refused a part (its agreement version was superseded), the LMIS unit
    replayed it under the amendment, and the new receipt says accepted: the batch
    follows; an acceptance is final."""
    sender = RecordingSender()
    batch = make_batch(300)
    make_publisher(state, signer, sender, max_message_bytes=8192)(batch)
    parts = part_ids(sender)
    app = applier(state)
    for pid in parts[1:]:
        app.apply(receipt(pid))
    assert app.apply(receipt(parts[0], "rejected", "agreement.version_superseded")) == [
        batch.batch_id
    ]
    assert Outbox(state).get(batch.batch_id).state == "rejected"
    assert app.apply(receipt(parts[0])) == [batch.batch_id]  # the replay's receipt
    held = Outbox(state).get(batch.batch_id)
    assert (held.state, held.reason_code) == ("accepted", None)
    with pytest.raises(ReceiptConflict):
        app.apply(receipt(parts[0], "rejected", "agreement.version_superseded"))


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


def test_resend_due_sends_unacknowledged_batches_past_the_timeout(
    state: StateDB, signer: Signer
) -> None:
    # Signed anew at each send: with the same key and clock, the same bytes.
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
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    state: StateDB,
    signer: Signer,
    caplog: pytest.LogCaptureFixture,
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
    with caplog.at_level("WARNING", logger="connectors.sdk.receipts"):
        report = reader.poll(timeout_s=10)
        again = reader.poll(timeout_s=0.5)
    reader.close()
    assert report.settled == [batch.batch_id]
    # Said once, and every batch without a receipt was made pending at once.
    assert (report.broker_lost, report.requeued, again.broker_lost) == (True, 1, False)
    assert [r.getMessage()[:33] for r in caplog.records] == ["broker lost the receipts topic lm"]


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


def unverified(name: str, reason: str) -> Receipt:
    """The hub's rejection of a message it could not verify, naming ``name``."""
    return replace(receipt(name, "rejected", reason), records_received=0, records_rejected=0)


def test_a_rejection_the_hub_could_not_verify_never_settles_a_batch(
    state: StateDB, signer: Signer
) -> None:
    # A forged message claiming a genuine batch's id: the hub's rejection must not mark
    # the genuine batch rejected, whichever id it names.
    sender = RecordingSender()
    batch = make_batch(3, "g")
    make_publisher(state, signer, sender)(batch)
    (part,) = part_ids(sender)
    own = applier(state)
    report = ReceiptReport()
    for reason in sorted(UNVERIFIED_REASONS):
        message = sealed(unverified(part, reason))
        own.apply_message(message.value, message.headers, report)
    assert (report.applied, report.settled, report.unverified) == (0, [], [])
    assert report.unverified_other == len(UNVERIFIED_REASONS)
    assert Outbox(state).get(batch.batch_id).state == "sent"
    # Its own receipt still settles it.
    assert own.apply(receipt(part)) == [batch.batch_id]


def test_a_message_of_ours_the_hub_could_not_verify_is_noted_and_sent_again(
    state: StateDB, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    sender = RecordingSender()
    batch = make_batch(3, "h")
    pub = make_publisher(state, signer, sender)
    pub(batch)
    digest = hashlib.sha256(sender.calls[0][0].value).hexdigest()
    own = replace_applier(state, signing_key_id=signer.key_id)
    report = ReceiptReport()
    message = sealed(unverified(digest, "envelope.bad_signature"))
    with caplog.at_level("WARNING", logger="connectors.sdk.receipts"):
        own.apply_message(message.value, message.headers, report)
    assert report.unverified == [(batch.batch_id, "envelope.bad_signature")]
    assert report.settled == [] and report.unverified_other == 0
    held = Outbox(state).get(batch.batch_id)
    assert held.state == "pending"  # sent again at the next pass, not after the timeout
    (note,) = Outbox(state).unverified(dataset="trainee")
    assert (note.batch_id, note.part_index, note.reason_code) == (
        batch.batch_id,
        0,
        "envelope.bad_signature",
    )
    assert "the hub could not verify this message: envelope.bad_signature" in caplog.text
    assert resend_due(pub, state, now=NOW, timeout=timedelta(minutes=10)) == [batch.batch_id]


def test_a_key_refusal_asks_for_the_current_key_and_resends_once_it_changed(
    state: StateDB, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    sender = RecordingSender()
    batch = make_batch(3, "i")
    make_publisher(state, signer, sender)(batch)
    digest = hashlib.sha256(sender.calls[0][0].value).hexdigest()
    message = sealed(unverified(digest, "key.revoked"))
    report = ReceiptReport()
    with caplog.at_level("ERROR", logger="connectors.sdk.receipts"):
        replace_applier(state, signing_key_id=signer.key_id).apply_message(
            message.value, message.headers, report
        )
    assert report.unverified == [(batch.batch_id, "key.revoked")]
    # Sent again with the same key it would be refused again: the operator must act.
    assert Outbox(state).get(batch.batch_id).state == "sent"
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "install the agency's current signing key" in error.getMessage()
    # Restarted with the agency's new key: the refused part goes out again at once.
    replace_applier(state, signing_key_id="tvet-new-key").apply_message(
        message.value, message.headers, ReceiptReport()
    )
    assert Outbox(state).get(batch.batch_id).state == "pending"


def test_parts_stored_before_value_digests_are_found_too(state: StateDB, signer: Signer) -> None:
    sender = RecordingSender()
    batch = make_batch(3, "j")
    make_publisher(state, signer, sender)(batch)
    with state.transaction() as conn:
        conn.execute("UPDATE batch_parts SET value_sha256 = NULL")  # an older state file
    digest = hashlib.sha256(sender.calls[0][0].value).hexdigest()
    noted = applier(state).note_unverified(unverified(digest, "envelope.stale"))
    assert noted == [(batch.batch_id, "envelope.stale")]


def replace_applier(state: StateDB, *, signing_key_id: str) -> ReceiptApplier:
    return ReceiptApplier(
        state,
        catalog=CATALOG,
        hub_keys=[HUB.public_key()],
        agency="tvet",
        dataset="trainee",
        clock=lambda: NOW,
        max_skew=timedelta(minutes=5),
        signing_key_id=signing_key_id,
    )


def test_a_broker_that_lost_its_topics_gets_every_unanswered_batch_at_once(
    restartable_broker: Broker, state: StateDB, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    sender = RecordingSender()
    pub = make_publisher(state, signer, sender)
    batches = [make_batch(3, tag) for tag in "klm"]
    pids = []
    for b in batches:
        pub(b)
        pids.extend(part_ids(sender))
    topic = "lmis.receipts.tvet"
    config = librdkafka_config(KafkaSettings(bootstrap_servers=restartable_broker.bootstrap))
    hub = KafkaSender(config, timeout_s=5)
    hub.send(topic, [sealed(receipt(pids[0]))])
    hub.close()
    reader = ReceiptReader(state, topic=topic, consumer_config=config, applier=applier(state))
    try:
        assert reader.poll(timeout_s=5).settled == [batches[0].batch_id]
        restartable_broker.restart()  # every topic, offset and message is gone
        with caplog.at_level("WARNING", logger="connectors.sdk.receipts"):
            passes = [reader.poll(timeout_s=1) for _ in range(3)]
    finally:
        reader.close()
    assert [p.broker_lost for p in passes] == [True, False, False]
    lost = [r.getMessage() for r in caplog.records if "broker lost" in r.getMessage()]
    assert len(lost) == 1 and "resending 2 batches" in lost[0]
    assert [r for r in caplog.records if "broker lost" not in r.getMessage()] == []
    waiting = [b.batch_id for b in batches[1:]]
    assert [b.batch_id for b in Outbox(state).batches(state="pending")] == waiting
    # Sent again in this pass, not after resend_after_s.
    assert resend_due(pub, state, now=NOW, timeout=timedelta(minutes=10)) == waiting
