"""The broker fixture talks to a real Kafka-protocol broker."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from infra.broker import free_port, resolve_broker_binary, start_broker
from infra.errors import BrokerBinaryMissing, PortInUse
from infra.kafka_probe import answers, broker_count
from lmis_hub.kafka import kafka_python_group_config, librdkafka_config, librdkafka_group_config
from lmis_hub.settings import KafkaSettings


def test_metadata_probe_sees_the_broker(kafka_bootstrap: str) -> None:
    host, port = kafka_bootstrap.rsplit(":", 1)
    assert broker_count(host, int(port)) >= 1


def test_probe_reports_nothing_listening() -> None:
    assert not answers("127.0.0.1", free_port(), timeout=0.2)


def test_produce_and_consume_with_headers(kafka_bootstrap: str, topic_factory) -> None:
    topic = topic_factory()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    headers = [("agency", b"nis"), ("batch-id", b"b-1")]
    producer.send(topic, value=b"payload-1", key=b"k1", headers=headers).get(timeout=10)
    producer.close()

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, consumer_timeout_ms=5000)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    records = list(consumer)
    consumer.close()
    assert [(r.key, r.value, list(r.headers)) for r in records] == [(b"k1", b"payload-1", headers)]


def test_librdkafka_produces_and_consumes_in_a_group(kafka_bootstrap: str, topic_factory, group_id):
    topic = topic_factory()
    producer = Producer(librdkafka_config(KafkaSettings(bootstrap_servers=kafka_bootstrap)))
    producer.produce(topic, value=b"v", headers=[("dataset", b"contribution")])
    assert producer.flush(10) == 0
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    consumer = Consumer(librdkafka_group_config(settings, group_id))
    consumer.subscribe([topic])
    msg = None
    deadline = time.monotonic() + 20
    while msg is None and time.monotonic() < deadline:
        candidate = consumer.poll(0.5)
        if candidate is not None and candidate.error() is None:
            msg = candidate
    consumer.close()
    producer.flush(1)
    del producer
    assert msg is not None, "no message within 20 s"
    assert msg.value() == b"v"
    assert msg.headers() == [("dataset", b"contribution")]


def _consume(bootstrap: str, topic: str, group: str, n: int) -> list[bytes]:
    consumer = KafkaConsumer(
        topic, **kafka_python_group_config(KafkaSettings(bootstrap_servers=bootstrap), group)
    )
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=n - len(got)).values():
            got.extend(r.value for r in records)
    consumer.commit()
    consumer.close()
    return got


def test_consumer_group_resumes_from_committed_offset(
    kafka_bootstrap: str, topic_factory, group_id: str
) -> None:
    topic = topic_factory()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(10):
        producer.send(topic, value=f"m{i}".encode())
    producer.flush()
    first = _consume(kafka_bootstrap, topic, group_id, 4)
    assert first == [b"m0", b"m1", b"m2", b"m3"]
    # A new consumer in the same group resumes after the committed offset.
    rest = _consume(kafka_bootstrap, topic, group_id, 6)
    producer.close()
    assert rest == [f"m{i}".encode() for i in range(4, 10)]


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse, match=str(port)) as info:
            start_broker(host="127.0.0.1", port=port, log_path=tmp_path / "b.log")
    assert info.value.code == "stack.port_in_use"


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / f"tansu-{uuid.uuid4().hex}"
    with pytest.raises(BrokerBinaryMissing) as info:
        resolve_broker_binary(missing)
    assert info.value.code == "stack.broker_missing"
    assert str(missing) in info.value.message
