"""Reading what a test produced, with assign + seek (no group join)."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, TopicPartition

from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import Message


def read_all(bootstrap: str, topic: str, count: int, *, timeout_s: float = 15.0) -> list[Message]:
    """The first ``count`` messages of partition 0 of ``topic``."""
    consumer = Consumer(
        librdkafka_config(
            KafkaSettings(bootstrap_servers=bootstrap),
            **{"group.id": "unused", "enable.auto.commit": False},
        )
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[Message] = []
    try:
        while len(out) < count:
            batch = consumer.consume(num_messages=count - len(out), timeout=timeout_s)
            if not batch:
                break
            out.extend(_message(m) for m in batch)
    finally:
        consumer.close()
    return out


def _message(m: Any) -> Message:
    assert m.error() is None, m.error()
    return Message(key=m.key(), value=m.value(), headers=list(m.headers()))
