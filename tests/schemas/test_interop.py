"""A message made here travels through a real broker and is read by both Kafka clients."""

from datetime import timedelta
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from lmis_hub.kafka import kafka_python_config, librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import open_batch, seal_batch
from schemas.samples import sample_records
from tests.schemas.conftest import NOW


def test_both_clients_read_headers_intact_and_signature_verifying(
    kafka_bootstrap, topic_factory, catalog, signer
):
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    schema = catalog.current("tvet", "enrolment")
    records = sample_records(schema, 400)
    messages = seal_batch(records, schema=schema, agreement_id="dsa-tvet-1",
                          agreement_version=1, signer=signer, now=NOW,
                          max_message_bytes=8 * 1024)  # fmt: skip
    assert len(messages) > 1
    topic = topic_factory("lmis.tvet.enrolment.v1")
    producer = Producer(librdkafka_config(settings))
    for m in messages:
        producer.produce(topic, key=m.key, value=m.value, headers=list(m.headers))  # type: ignore[arg-type]
    assert producer.flush(15) == 0

    def check(received):
        assert len(received) == len(messages)
        decoded = []
        for (value, headers), sent in zip(received, messages, strict=True):
            assert [(k, bytes(v)) for k, v in headers] == sent.headers
            opened = open_batch(value, headers, catalog=catalog,
                                public_key_for={signer.key_id: signer.public_key()}.get,
                                now=NOW, max_skew=timedelta(minutes=1))  # fmt: skip
            decoded.extend(opened.records)
        assert decoded == records

    consumer = Consumer(librdkafka_config(settings, **{"group.id": "unused"}))
    consumer.assign([TopicPartition(topic, 0, 0)])
    received: list[tuple[Any, Any]] = []
    while len(received) < len(messages):
        batch = consumer.consume(num_messages=len(messages), timeout=10)
        assert batch, "librdkafka read nothing"
        for msg in batch:
            assert msg.error() is None
            received.append((msg.value(), msg.headers()))
    consumer.close()
    check(received)

    kconsumer = KafkaConsumer(**kafka_python_config(settings))
    kpart = KafkaTopicPartition(topic, 0)
    kconsumer.assign([kpart])
    kconsumer.seek(kpart, 0)
    received = []
    while len(received) < len(messages):
        polled = kconsumer.poll(timeout_ms=10_000)
        assert polled, "kafka-python read nothing"
        for msgs in polled.values():
            received.extend((m.value, m.headers) for m in msgs)
    kconsumer.close()
    check(received)
