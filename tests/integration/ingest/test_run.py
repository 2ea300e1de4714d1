"""The worker's Kafka loop against the embedded broker: receipts out, offsets committed."""

from __future__ import annotations

import contextlib
import re
import time
from datetime import timedelta

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from integration.ingest.decisions import Outcome
from integration.ingest.loop import GroupLimits, run
from lmis_hub.kafka import librdkafka_config, librdkafka_group_config
from lmis_hub.settings import KafkaSettings
from schemas.receipts import open_receipt

RECEIPTS = "lmis.receipts.nis"


def _ensure_topic(admin, name: str) -> None:
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic(name=name, num_partitions=1, replication_factor=1)])


def test_run_accepts_dedupes_quarantines_and_commits(
    hub, kafka_bootstrap, kafka_admin, topic_factory, group_id
):
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    _ensure_topic(kafka_admin, RECEIPTS)
    topic = topic_factory("lmis.nis.contribution.v1")
    good = hub.seal(3)
    producer = Producer(librdkafka_config(settings))
    sends: list[tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]] = [
        (good.key, good.value, list(good.headers)),
        (b"x", b"garbage", [("lmis-agency", b"nis")]),
        (good.key, good.value, list(good.headers)),
    ]
    for key, value, headers in sends:
        producer.produce(topic, key=key, value=value, headers=headers)
    assert producer.flush(10) == 0

    probe = Consumer(librdkafka_group_config(settings, group_id + "-probe"))
    _, receipts_before = probe.get_watermark_offsets(TopicPartition(RECEIPTS, 0), timeout=10)

    consumer = Consumer(librdkafka_group_config(settings, group_id))
    consumer.subscribe(["^" + re.escape(topic)])
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        processed = run(
            hub.worker,
            consumer=consumer,
            producer=producer,
            on_outcome=outcomes.append,
            should_stop=lambda: len(outcomes) >= 3 or time.monotonic() - started > 30,
        )
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    assert processed == 3
    assert [o.status for o in outcomes] == ["accepted", "quarantined", "duplicate"]
    assert (outcomes[1].reason_code or "").startswith("envelope.")
    assert committed[0].offset == 3

    probe.assign([TopicPartition(RECEIPTS, 0, receipts_before)])
    got: list[tuple[str, str, str | None]] = []
    deadline = time.monotonic() + 15
    while len(got) < 3 and time.monotonic() < deadline:
        msg = probe.poll(0.5)
        if msg is None or msg.error():
            continue
        if dict(msg.headers() or []).get("lmis-key-id") != hub.hub.key_id.encode():
            continue  # a receipt of another test on the shared receipts topic
        receipt = open_receipt(
            msg.value() or b"",
            msg.headers() or [],
            catalog=hub.schemas,
            public_key_for=lambda k: hub.hub.public_key() if k == hub.hub.key_id else None,
            now=hub.clock.now,
            max_skew=timedelta(minutes=5),
        )
        if receipt.batch_id in {o.batch_id for o in outcomes}:
            got.append((receipt.batch_id, receipt.outcome, receipt.reason_code))
    probe.close()
    assert got == [
        (outcomes[0].batch_id, "accepted", None),
        (outcomes[1].batch_id, "rejected", outcomes[1].reason_code),
        (outcomes[0].batch_id, "accepted", None),
    ]


class _CommitRefusedOnce:
    """The real consumer, whose first commit the broker refuses as after a rebalance."""

    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer
        self.refused = 0

    def __getattr__(self, name: str):
        return getattr(self._consumer, name)

    def commit(self, **kwargs):
        if self.refused == 0:
            self.refused += 1
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID))
        return self._consumer.commit(**kwargs)


def test_a_refused_offset_commit_does_not_stop_the_worker(
    hub, kafka_bootstrap, kafka_admin, topic_factory, group_id
):
    # A broker that lost the group (restarted) or a rebalance refuses the commit of a
    # group whose decisions are already stored: the worker goes on with the next group.
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    _ensure_topic(kafka_admin, RECEIPTS)
    topic = topic_factory("lmis.nis.contribution.v1")
    producer = Producer(librdkafka_config(settings))
    for message in (hub.seal(2), hub.seal(3)):
        producer.produce(topic, key=message.key, value=message.value, headers=message.headers)
    assert producer.flush(10) == 0
    consumer = _CommitRefusedOnce(Consumer(librdkafka_group_config(settings, group_id)))
    consumer.subscribe(["^" + re.escape(topic)])
    outcomes: list[Outcome] = []
    started = time.monotonic()
    try:
        processed = run(
            hub.worker,
            consumer=consumer,
            producer=producer,
            on_outcome=outcomes.append,
            should_stop=lambda: len(outcomes) >= 2 or time.monotonic() - started > 30,
            limits=GroupLimits(max_messages=1),
        )
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
    finally:
        consumer.close()
    assert processed == 2 and consumer.refused == 1
    assert [o.status for o in outcomes] == ["accepted", "accepted"]
    assert committed[0].offset == 2
