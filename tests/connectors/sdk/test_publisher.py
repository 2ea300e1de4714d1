from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from connectors.sdk.errors import PublishFailed, SigningKeyInvalid
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Batch
from connectors.sdk.publisher import (
    EnvelopePublisher,
    KafkaSender,
    load_signer,
    pack_messages,
    unpack_messages,
)
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, open_batch, parse_headers
from schemas.keys import encrypted_private_pem, key_id_for
from schemas.samples import sample_record, sample_records
from schemas.signing import Signer
from tests.connectors.sdk.kafka_helpers import read_all

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CATALOG = SchemaCatalog.load()
SCHEMA = CATALOG.current("tvet", "trainee")


@pytest.fixture
def signer() -> Signer:
    private = Ed25519PrivateKey.generate()
    return Signer(key_id_for("tvet", private.public_key()), private)


def make_batch(n: int, tag: str = "a") -> Batch:
    return Batch(
        batch_id=f"{tag}" * 64 if len(tag) == 1 else tag,
        dataset="trainee",
        records=tuple(sample_record(SCHEMA, i + 1000 * (ord(tag[0]) - 97)) for i in range(n)),
        refusals=(),
        watermark=Watermark("2026-01-01", "k"),
        row_count=n,
    )


def publisher(
    state: StateDB, signer: Signer, sender: object, topic: str, **kw: object
) -> EnvelopePublisher:
    return EnvelopePublisher(
        schema=SCHEMA,
        topic=topic,
        agreement_id="dsa-tvet-2026",
        agreement_version=3,
        signer=signer,
        state=state,
        sender=sender,  # type: ignore[arg-type]
        clock=lambda: NOW,
        **kw,  # type: ignore[arg-type]
    )


def opener(signer: Signer) -> Callable[[Message], list[dict[str, object]]]:
    def open_(m: Message) -> list[dict[str, object]]:
        opened = open_batch(
            m.value,
            m.headers,
            catalog=CATALOG,
            public_key_for=lambda kid: signer.public_key() if kid == signer.key_id else None,
            now=NOW,
            max_skew=timedelta(seconds=5),
        )
        assert opened.headers.agreement_id == "dsa-tvet-2026"
        assert opened.headers.agreement_version == 3
        return opened.records

    return open_


def sender_for(bootstrap: str) -> KafkaSender:
    return KafkaSender(librdkafka_config(KafkaSettings(bootstrap_servers=bootstrap)))


def test_published_batch_opens_and_verifies_from_the_broker(
    kafka_bootstrap: str, topic_factory: Callable[..., str], state: StateDB, signer: Signer
) -> None:
    topic = topic_factory("lmis.tvet.trainee.v1")
    batch = make_batch(40)
    sender = sender_for(kafka_bootstrap)
    published = publisher(state, signer, sender, topic)(batch)
    sender.close()

    (message,) = read_all(kafka_bootstrap, topic, 1)
    assert opener(signer)(message) == list(batch.records)
    held = Outbox(state).get(batch.batch_id)
    assert held.state == "sent" and held.attempts == 1
    assert (held.payload, held.headers) == (published.payload, published.headers)
    assert unpack_messages(held.payload, held.headers) == [message]


def test_a_large_batch_goes_out_in_parts_each_verifying(
    kafka_bootstrap: str, topic_factory: Callable[..., str], state: StateDB, signer: Signer
) -> None:
    topic = topic_factory("lmis.tvet.trainee.v1")
    batch = make_batch(300)
    sender = sender_for(kafka_bootstrap)
    publisher(state, signer, sender, topic, max_message_bytes=8192)(batch)
    sender.close()

    parts = Outbox(state).get(batch.batch_id)
    count = len(unpack_messages(parts.payload, parts.headers))
    assert count > 1
    messages = read_all(kafka_bootstrap, topic, count)
    records = [r for m in messages for r in opener(signer)(m)]
    assert records == list(batch.records)
    rows = state.connection.execute(
        "SELECT part_id, part_index FROM batch_parts WHERE batch_id = ? ORDER BY part_index",
        (batch.batch_id,),
    ).fetchall()
    assert [r[1] for r in rows] == list(range(count))
    assert [r[0] for r in rows] == [dict(m.headers)["lmis-batch-id"].decode() for m in messages]


class FailingSender:
    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self.calls.append(list(messages))
        raise PublishFailed("broker down")


class RecordingSender:
    def __init__(self) -> None:
        self.calls: list[list[Message]] = []

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self.calls.append(list(messages))


RESIGNED = {"lmis-producer-time", "lmis-key-id", "lmis-signature"}


def assert_resigned(
    sent: Sequence[Message], original: Sequence[Message], signer: Signer, at: datetime
) -> None:
    """``sent`` are ``original``'s parts (key, value, batch ids, part structure), signed
    by ``signer`` at ``at`` and verifying with its key."""
    assert len(sent) == len(original)
    for new, old in zip(sent, original, strict=True):
        assert (new.key, new.value) == (old.key, old.value)
        assert [n for n, _ in new.headers] == [n for n, _ in old.headers]
        kept = [(n, v) for n, v in new.headers if n not in RESIGNED]
        assert kept == [(n, v) for n, v in old.headers if n not in RESIGNED]
        headers = parse_headers(new.headers)
        assert headers.key_id == signer.key_id
        assert headers.producer_time == at
        opened = open_batch(
            new.value,
            new.headers,
            catalog=CATALOG,
            public_key_for=lambda kid: signer.public_key() if kid == signer.key_id else None,
            now=at,
            max_skew=timedelta(seconds=5),
        )
        assert opened.headers.batch_id == parse_headers(old.headers).batch_id


def test_failed_delivery_leaves_the_batch_pending_and_a_retry_sends_it_signed_anew(
    state: StateDB, signer: Signer
) -> None:
    batch = make_batch(5)
    failing = FailingSender()
    with pytest.raises(PublishFailed):
        publisher(state, signer, failing, "t")(batch)
    held = Outbox(state).get(batch.batch_id)
    assert held.state == "pending" and held.attempts == 0

    later = RecordingSender()
    pub = EnvelopePublisher(
        schema=SCHEMA,
        topic="t",
        agreement_id="dsa-tvet-2026",
        agreement_version=3,
        signer=signer,
        state=state,
        sender=later,
        clock=lambda: NOW + timedelta(hours=1),
    )
    pub(batch)
    assert_resigned(later.calls[0], failing.calls[0], signer, NOW + timedelta(hours=1))
    held = Outbox(state).get(batch.batch_id)
    assert held.state == "sent"
    assert unpack_messages(held.payload, held.headers) == later.calls[0]  # as last sent


def test_pack_unpack_roundtrip(signer: Signer) -> None:
    from schemas.envelope import seal_batch

    messages = seal_batch(
        sample_records(SCHEMA, 50),
        schema=SCHEMA,
        agreement_id="a",
        agreement_version=1,
        signer=signer,
        now=NOW,
        max_message_bytes=8192,
    )
    packed = pack_messages(messages)
    assert unpack_messages(packed.payload, packed.headers) == messages


def test_signing_key_loads_from_encrypted_file(tmp_path: Path) -> None:
    private = Ed25519PrivateKey.generate()
    path = tmp_path / "k.pem"
    path.write_bytes(encrypted_private_pem(private, b"correct horse"))
    signer = load_signer(path, SecretStr("correct horse"), agency="tvet")
    assert signer.key_id == key_id_for("tvet", private.public_key())
    with pytest.raises(SigningKeyInvalid, match=r"k\.pem"):
        load_signer(path, SecretStr("wrong"), agency="tvet")
    with pytest.raises(SigningKeyInvalid, match="PASSPHRASE"):
        load_signer(path, None, agency="tvet")


def test_optional_fields_the_mapping_lacks_are_sealed_as_null(
    state: StateDB, signer: Signer
) -> None:
    record = dict(sample_record(SCHEMA, 1))
    optional = [k for k in record if k.endswith("_token") and k != "person_ref_token"]
    for name in optional:
        del record[name]
    batch = Batch("c" * 64, "trainee", (record,), (), Watermark("w", "k"), 1)
    sender = RecordingSender()
    publisher(state, signer, sender, "t")(batch)
    (records,) = [opener(signer)(m) for m in sender.calls[0]]
    assert all(records[0][name] is None for name in optional)
    del record["record_id"]  # required: still refused
    with pytest.raises(Exception, match="record_id"):
        publisher(state, signer, sender, "t")(
            Batch("d" * 64, "trainee", (record,), (), Watermark("w", "k"), 1)
        )


def test_a_sender_recovers_from_a_broker_that_lost_its_state(restartable_broker) -> None:
    """The idempotent producer's id is unknown to a restarted memory-only broker, which
    then never acknowledges it. The producer reported losing every broker, so the next
    send goes through a new producer at once, rather than failing at its timeout."""
    bootstrap = restartable_broker.bootstrap
    sender = KafkaSender(
        librdkafka_config(KafkaSettings(bootstrap_servers=bootstrap)), timeout_s=3.0
    )
    try:
        sender.send("lmis.test.sender", [Message(b"k", b"before", [])])
        restartable_broker.restart()
        sender.send("lmis.test.sender", [Message(b"k", b"lost", [])])
        sender.send("lmis.test.sender", [Message(b"k", b"after", [])])
        assert sender.renewals == 1
    finally:
        sender.close()
    # The restarted broker created the topic anew, with its default partition count.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        meta = consumer.list_topics("lmis.test.sender", timeout=10).topics["lmis.test.sender"]
        consumer.assign([TopicPartition("lmis.test.sender", p, 0) for p in meta.partitions])
        values = [m.value() for m in consumer.consume(10, timeout=5) if m.error() is None]
    finally:
        consumer.close()
    assert values == [b"lost", b"after"]


HEADERS = [("lmis-test", b"1")]


class BrokenProducer:
    """A real confluent producer whose flushes fail as librdkafka's fatal errors do
    (``KafkaError{FATAL, UNKNOWN_PRODUCER_ID}`` raised from ``flush``, seen as
    ``SystemError`` or ``KafkaException``), or report one through the error callback."""

    def __init__(self, config: dict[str, Any], failure: str | None) -> None:
        self._inner = Producer(config)
        self._error_cb = config["error_cb"]
        self._failure = failure

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def flush(self, timeout: float = -1) -> int:
        fatal = KafkaError(KafkaError._FATAL, "UNKNOWN_PRODUCER_ID", fatal=True)
        if self._failure == "SystemError":
            raise SystemError("<built-in method flush> returned a result with an exception set")
        if self._failure == "KafkaException":
            raise KafkaException(fatal)
        if self._failure == "error_cb":
            self._error_cb(fatal)
            return 1  # the message is held, never reported
        return int(self._inner.flush(timeout))


def broken_then_sound(failure: str) -> tuple[list[BrokenProducer], Callable[..., Any]]:
    made: list[BrokenProducer] = []

    def factory(config: dict[str, Any]) -> BrokenProducer:
        made.append(BrokenProducer(config, failure if not made else None))
        return made[-1]

    return made, factory


@pytest.mark.timeout(25)  # below the 30 s delivery timeout a stuck send would wait out
@pytest.mark.parametrize("failure", ["SystemError", "KafkaException", "error_cb"])
def test_a_fatal_producer_error_replaces_the_producer(
    failure: str, kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("lmis.test.fatal")
    made, factory = broken_then_sound(failure)
    sender = KafkaSender(
        librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)),
        producer_factory=factory,
    )
    try:
        # The fatal error stops the send at once (the pytest timeout below the 30 s
        # delivery timeout fails a send that waits it out) and the producer is replaced.
        with pytest.raises(PublishFailed, match="failed"):
            sender.send(topic, [Message(b"k", b"refused", HEADERS)])
        assert len(made) == 2  # replaced at once
        sender.send(topic, [Message(b"k", b"delivered", HEADERS)])
    finally:
        sender.close()
    values = [m.value for m in read_all(kafka_bootstrap, topic, 2, timeout_s=1)]
    # The failed send's message may or may not have left before its producer was purged
    # (the outbox keeps the batch and the hub deduplicates by batch id).
    assert values in ([b"delivered"], [b"refused", b"delivered"])


def test_a_fatal_error_reported_between_sends_replaces_the_producer_first(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("lmis.test.fatal")
    made, factory = broken_then_sound("none")
    sender = KafkaSender(
        librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)),
        producer_factory=factory,
    )
    try:
        sender.send(topic, [Message(b"k", b"one", HEADERS)])
        made[0]._error_cb(KafkaError(KafkaError._FATAL, "UNKNOWN_PRODUCER_ID", fatal=True))
        sender.send(topic, [Message(b"k", b"two", HEADERS)])
        assert (len(made), sender.renewals) == (2, 1)
        sender.send(topic, [Message(b"k", b"three", HEADERS)])
        assert len(made) == 2  # a sound producer is kept
    finally:
        sender.close()
    assert [m.value for m in read_all(kafka_bootstrap, topic, 3)] == [b"one", b"two", b"three"]
