"""Raw transport through the embedded broker: the baseline every pipeline figure is set against.

Produces and consumes the same opaque messages with no processing, with both Kafka
clients, and prints messages/s, MB/s and records/s (for a given records-per-message).
Consumption is measured both with assign()+seek() and through a consumer group.

    .venv/bin/python benchmarks/transport.py [--messages 400] [--size 262144] [--records 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from infra.broker import free_port, start_broker, stop_process
from lmis_hub.kafka import (
    kafka_python_config,
    kafka_python_group_config,
    librdkafka_config,
    librdkafka_group_config,
)
from lmis_hub.settings import KafkaSettings


def timed(fn: Callable[[], int]) -> tuple[int, float]:
    start = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--size", type=int, default=256 * 1024, help="bytes per message")
    parser.add_argument("--records", type=int, default=2000, help="records per message")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(
            host="127.0.0.1", port=free_port(), log_path=Path(tmp) / "b.log", detach=False
        )
        try:
            run(broker.bootstrap, args.messages, args.size, args.records)
        finally:
            stop_process(broker.pid)


def run(bootstrap: str, count: int, size: int, per_message: int) -> None:
    settings = KafkaSettings(bootstrap_servers=bootstrap)
    admin = KafkaAdminClient(**kafka_python_config(settings))
    payloads = [os.urandom(size) for _ in range(8)]
    headers = [("lmis-agency", b"nis"), ("lmis-batch-id", b"x" * 64), ("lmis-signature", b"s" * 64)]
    max_bytes = max(2 * size, 1_048_576)

    def new_topic() -> str:
        name = f"bench.{uuid.uuid4().hex}"
        admin.create_topics([NewTopic(name, 1, 1)])
        return name

    results: list[tuple[str, int, float]] = []

    # -- produce -------------------------------------------------------------------------
    t_conf = new_topic()

    def produce_confluent() -> int:
        p = Producer(librdkafka_config(settings, **{"message.max.bytes": max_bytes + 4096}))
        for i in range(count):
            p.produce(t_conf, payloads[i % 8], headers=headers)
            p.poll(0)
        assert p.flush(60) == 0
        return count

    results.append(("produce confluent-kafka", *timed(produce_confluent)))

    t_kp = new_topic()

    def produce_kafka_python() -> int:
        p = KafkaProducer(**kafka_python_config(settings, max_request_size=max_bytes + 4096))
        for i in range(count):
            p.send(t_kp, payloads[i % 8], headers=headers)
        p.flush()
        p.close()
        return count

    results.append(("produce kafka-python", *timed(produce_kafka_python)))

    # -- consume -------------------------------------------------------------------------
    def consume_confluent_assign() -> int:
        c = Consumer(librdkafka_config(settings, **{"group.id": "bench-assign"}))
        c.assign([TopicPartition(t_conf, 0, 0)])
        n = 0
        while n < count:
            for m in c.consume(500, 1.0):
                if m.error() is None:
                    n += 1
        c.close()
        return n

    results.append(("consume confluent assign+seek", *timed(consume_confluent_assign)))

    def consume_confluent_group() -> int:
        c = Consumer(librdkafka_group_config(settings, f"bench-{uuid.uuid4().hex}"))
        c.subscribe([t_conf])
        n = 0
        while n < count:
            msgs = [m for m in c.consume(500, 1.0) if m.error() is None]
            n += len(msgs)
            if msgs:
                c.commit(asynchronous=False)
        c.close()
        return n

    results.append(("consume confluent group+commit", *timed(consume_confluent_group)))

    def consume_kafka_python_assign() -> int:
        c = KafkaConsumer(**kafka_python_config(settings, max_partition_fetch_bytes=max_bytes))
        c.assign([KpTopicPartition(t_kp, 0)])
        c.seek_to_beginning()
        n = 0
        while n < count:
            for recs in c.poll(timeout_ms=1000, max_records=500).values():
                n += len(recs)
        c.close()
        return n

    results.append(("consume kafka-python assign+seek", *timed(consume_kafka_python_assign)))

    def consume_kafka_python_group() -> int:
        c = KafkaConsumer(
            t_kp,
            **kafka_python_group_config(
                settings, f"bench-{uuid.uuid4().hex}", max_partition_fetch_bytes=max_bytes
            ),
        )
        n = 0
        while n < count:
            got = sum(len(r) for r in c.poll(timeout_ms=1000, max_records=500).values())
            n += got
            if got:
                c.commit()
        c.close()
        return n

    results.append(("consume kafka-python group+commit", *timed(consume_kafka_python_group)))
    admin.close()

    mb = count * size / 1e6
    print(f"{count} messages of {size} bytes ({mb:.0f} MB), {per_message} records per message")
    print(f"{'path':36} {'s':>7} {'msg/s':>9} {'MB/s':>8} {'records/s':>12}")
    base = results[0][2]
    for name, n, secs in results:
        print(
            f"{name:36} {secs:7.2f} {n / secs:9.0f} {mb / secs:8.1f} "
            f"{n * per_message / secs:12.0f}  x{base / secs:.2f} vs confluent produce"
        )


if __name__ == "__main__":
    main()
