"""Publishing through the signed envelope, against raw production of the same bytes.

Seals ``--records`` TVET trainee records in batches of ``--batch`` with
:class:`connectors.sdk.publisher.EnvelopePublisher` (outbox write + confluent-kafka
produce + delivery wait) on the embedded broker, then produces the very same message
bytes again with a bare confluent-kafka producer as the baseline, and prints records/s
for both and their ratio (the cost of sealing, signing and the outbox).

    .venv/bin/python benchmarks/connector_publish.py [--records 50000] [--batch 5000]

"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.sdk.pipeline import Batch
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark
from infra.broker import free_port, start_broker, stop_process
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message
from schemas.signing import Signer

REGIONS = ("TT-POS", "TT-SFO", "TT-ARI", "TT-CHA")


def record(i: int) -> dict[str, Any]:
    token = hashlib.sha256(str(i).encode()).digest()
    return {
        "record_id": f"T{i:08d}",
        "registration_date": date(2024, 1, 1) + timedelta(days=i % 700),
        "person_ref_token": token,
        "national_id_token": token,
        "given_name_token": token,
        "family_name_token": token,
        "dob_token": token,
        "sex": "1" if i % 2 else "2",
        "region": REGIONS[i % len(REGIONS)],
        "birth_year": 1960 + i % 45,
        "education_level": str(i % 5),
    }


class Keeping(KafkaSender):
    """Keeps what it sent, for the baseline to send again."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.sent: list[Message] = []

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        super().send(topic, messages)
        self.sent.extend(messages)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    args = parser.parse_args()
    schema = SchemaCatalog.load().current("tvet", "trainee")
    private = Ed25519PrivateKey.generate()
    batches = [
        Batch(
            batch_id=f"{start:064d}",
            dataset="trainee",
            records=tuple(record(i) for i in range(start, min(start + args.batch, args.records))),
            refusals=(),
            watermark=Watermark(str(start), str(start)),
            row_count=args.batch,
        )
        for start in range(0, args.records, args.batch)
    ]
    with tempfile.TemporaryDirectory() as scratch:
        broker = start_broker(
            host="127.0.0.1", port=free_port(), log_path=Path(scratch) / "b.log", detach=False
        )
        try:
            config = librdkafka_config(KafkaSettings(bootstrap_servers=broker.bootstrap))
            state = StateDB.open(Path(scratch) / "state.db")
            sender = Keeping(config)
            publisher = EnvelopePublisher(
                schema=schema,
                topic="bench.envelope",
                agreement_id="bench",
                agreement_version=1,
                signer=Signer("tvet-bench", private),
                state=state,
                sender=sender,
                clock=lambda: datetime.now(UTC),
            )
            start = time.perf_counter()
            for batch in batches:
                publisher.seal(batch)
            sealing = time.perf_counter() - start
            start = time.perf_counter()
            for batch in batches:
                publisher(batch)
            enveloped = time.perf_counter() - start

            raw = Producer({"acks": "all", "linger.ms": 5, "message.max.bytes": 2**21, **config})
            start = time.perf_counter()
            for m in sender.sent:
                raw.produce("bench.raw", value=m.value, key=m.key, headers=list(m.headers))
                raw.poll(0)
            raw.flush(30)
            baseline = time.perf_counter() - start
            state.close()
        finally:
            stop_process(broker.pid)
    size = sum(len(m.value) for m in sender.sent) / 1e6
    print(
        f"{args.records} records in {len(batches)} batches, {len(sender.sent)} messages, "
        f"{size:.1f} MB"
    )
    print(f"envelope publisher: {args.records / enveloped:,.0f} records/s ({enveloped:.2f} s)")
    print(f"sealing alone (encode + sign): {args.records / sealing:,.0f} records/s")
    print(f"raw produce (same bytes): {args.records / baseline:,.0f} records/s ({baseline:.2f} s)")
    print(f"ratio publisher/raw time: {enveloped / baseline:.1f}x")


if __name__ == "__main__":
    main()
