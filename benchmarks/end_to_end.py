"""End to end: records/s from an agency's source through the connector, the broker and the
ingest worker into the lake, against raw transport of the same messages in the same run.

    .venv/bin/python -m benchmarks.end_to_end [--records 1000000]

A scratch folder gets a NIS contributions table of ``--records`` rows (the synthetic
nation's layout), the embedded broker on a free port, a SQLite hub database with the
five agencies, their keys and the example agreements (as ``lmis-hub demo`` makes them),
and the real ``connectors/agencies/nis/contribution.yaml``. Then:

1. **end to end**: the connector publishes every row once (read, map, validate,
   tokenise, seal and sign, outbox, produce), then the ingest worker consumes until
   every batch has a receipt (verify, decode, coverage, re-key, lake commit, ledger and
   audit, receipts, offsets). The connector and the worker run one after the other, so
   the time is the sum of both stages.
2. **raw transport**: the very messages the connector produced (values and headers,
   taken from its outbox) are produced to a fresh topic with the connector's producer
   settings and consumed through a consumer group, with no processing.

The ratio end-to-end / raw is the project's headline figure. Where the time goes is
measured by wrapping the stages' functions for this run only (the figures include the
wrappers' small overhead); "other" is what no wrapper covers (loop, batching, Python).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Producer, TopicPartition
from sqlalchemy.orm import Session

import integration.ingest.loop as loop_mod
import integration.ingest.worker as worker_mod
import schemas.envelope as envelope_mod
from connectors.sdk.kit import ConnectorKit
from connectors.sdk.outbox import Outbox
from connectors.sdk.publisher import (
    PRODUCER_OVERHEAD_BYTES,
    unpack_messages,
)
from connectors.sdk.state import StateDB
from governance.db import make_engine, migrate
from hub_api.demo.connectors import AGENCY_CONFIGS, demo_kit, deploy, unsettled_parts, wired
from hub_api.demo.parties import demo_secrets, ensure_link_key, ensure_parties
from hub_api.demo.reconciliation import reconcile
from hub_api.demo.spine import drain
from infra.broker import free_port, start_broker, stop_process
from integration.ingest.landing import BronzeLanding
from integration.ingest.recording import OutcomeRecorder
from integration.ingest.rekey import TokenRekeyer
from integration.lake.catalog import open_catalog
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings, Settings
from schemas.envelope import DEFAULT_MAX_MESSAGE_BYTES
from synth import contribution_schedule as schedule


class Stopwatch:
    """Seconds per stage, summed over calls (nested stages are counted in both)."""

    def __init__(self, *, detail: bool = True) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.detail = detail

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        if not self.detail and not stage.endswith(": total"):
            return fn

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        return timed

    def generator(self, stage: str, it: Iterator[Any]) -> Iterator[Any]:
        """Time spent producing each item of ``it`` (not the consumer's time)."""
        if not self.detail:
            yield from it
            return
        while True:
            start = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.seconds[stage] += time.perf_counter() - start
                return
            self.seconds[stage] += time.perf_counter() - start
            yield item


@contextmanager
def patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


def make_source(path: Path, n: int) -> None:
    """``contributions`` as the synthetic NIS keeps it, ``n`` rows over 24 months, the
    contribution set by the scheme's schedule (:mod:`synth.contribution_schedule`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    earnings = 4000 + (np.arange(n, dtype=np.int64) * 37) % 9000
    weeks = 4 + np.arange(n, dtype=np.int64) % 2
    classes = schedule.earnings_class(earnings.astype(np.float64))
    paid = schedule.contribution(earnings.astype(np.float64), weeks)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE contributions (contribution_id TEXT NOT NULL PRIMARY KEY, "
            "nis_number TEXT, employer_number TEXT, period TEXT, "
            "insurable_earnings NUMERIC(12, 2), weeks SMALLINT, earnings_class TEXT, "
            "contribution NUMERIC(12, 2), updated_at DATETIME NOT NULL)"
        )

        def rows() -> Iterator[tuple[object, ...]]:
            for i in range(n):
                month = i * 24 // n
                period = f"{2024 + month // 12}-{month % 12 + 1:02d}"
                yield (
                    f"K{i + 1:010d}",
                    f"{(i * 7919) % 400_000 + 1:09d}",
                    f"E{200_000 + i % 4000}",
                    period,
                    int(earnings[i]),
                    int(weeks[i]),
                    schedule.CLASSES[int(classes[i])],
                    f"{paid[i]:.2f}",
                    f"{period}-22 {i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}.000000",
                )

        conn.executemany("INSERT INTO contributions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
        conn.execute("CREATE INDEX ix_contributions_updated_at ON contributions (updated_at)")


def run_connector_timed(config: Any, kit: ConnectorKit, watch: Stopwatch) -> int:
    """The connector's run once, with each stage timed; the records published."""
    with wired(config, kit) as parts:
        sender, publisher, pipeline = parts.sender, parts.publisher, parts.pipeline
        sender.send = watch.wrap("connector:   of which produce (until acked)", sender.send)  # type: ignore[method-assign]
        source = pipeline._source
        read = source.read
        source.read = lambda after=None: watch.generator("connector: read source", read(after))  # type: ignore[method-assign]
        pipeline.process_row = watch.wrap(  # type: ignore[method-assign]
            "connector: map + validate + tokenise", pipeline.process_row
        )
        tok = pipeline._tokeniser
        tok.tokens = watch.wrap("connector:   of which tokenise", tok.tokens)  # type: ignore[method-assign]
        pipeline._batch = watch.wrap("connector: batch ids", pipeline._batch)  # type: ignore[method-assign]
        publisher_seal = publisher.seal
        publisher.seal = watch.wrap("connector:   of which encode + sign", publisher_seal)  # type: ignore[method-assign]
        report = watch.wrap("connector: total", pipeline.run)(
            watch.wrap("connector: publish (seal+outbox+produce)", publisher)
        )
    return int(report.records_published)


def run_worker_timed(settings: Settings, expected: set[str], watch: Stopwatch) -> dict[str, int]:
    """:func:`hub_api.demo.spine.drain` with the worker's stages timed."""
    worker = worker_mod.IngestWorker
    stages: list[tuple[Any, str, str]] = [
        (envelope_mod, "decode_records", "worker:   of which decode"),
        (worker, "_verify", "worker: verify + decode"),
        (worker, "_check_coverage", "worker: agreement coverage"),
        (TokenRekeyer, "column", "worker: re-key"),
        (BronzeLanding, "_commit", "worker: lake commit"),
        (OutcomeRecorder, "store", "worker: ledger + audit (hub db)"),
        (loop_mod, "send_outcomes", "worker: produce receipts"),
        (loop_mod, "_gather", "worker: consume"),
        (worker, "process_group", "worker: decide (all of the above but consume)"),
    ]
    with ExitStack() as stack:
        for owner, name, stage in stages:
            # A stage renamed away must fail here, not quietly drop out of the figures.
            stack.enter_context(patched(owner, name, watch.wrap(stage, getattr(owner, name))))
        counts = watch.wrap("worker: total", drain)(
            settings, expected, idle_timeout_s=20.0, say=print
        )
    return {str(k): int(v) for k, v in counts.items()}


def raw_transport(
    bootstrap: str, messages: list[tuple[bytes, bytes, list[Any]]]
) -> dict[str, float]:
    """Produce the same messages to a fresh topic and consume them, no processing."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    producer = Producer(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.max.bytes": DEFAULT_MAX_MESSAGE_BYTES + PRODUCER_OVERHEAD_BYTES,
            **librdkafka_config(kafka),
        }
    )
    start = time.perf_counter()
    for key, value, headers in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(60) == 0
    produced = time.perf_counter() - start
    # assign() as benchmarks/transport.py's baseline: no group join, which is a one-off
    # cost of a few seconds that the worker pays once per start (counted in its figures)
    consumer = Consumer(librdkafka_config(kafka, **{"group.id": "bench-raw"}))
    start = time.perf_counter()
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    n = 0
    size = 0
    while n < len(messages):
        for m in consumer.consume(500, 1.0):
            if m.error() is None:
                n += 1
                size += len(m.value() or b"")
    consumed = time.perf_counter() - start
    consumer.close()
    return {"produce": produced, "consume": consumed, "bytes": float(size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--no-breakdown",
        action="store_true",
        help="Time only the two stages' totals (no per-call wrappers, so no overhead).",
    )
    args = parser.parse_args()
    n = args.records
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        broker = start_broker(
            host="127.0.0.1", port=free_port(), log_path=tmp / "broker.log", detach=False
        )
        try:
            run(tmp, broker.bootstrap, n, detail=not args.no_breakdown)
        finally:
            stop_process(broker.pid)


def run(tmp: Path, bootstrap: str, n: int, *, detail: bool = True) -> None:
    settings = Settings(data_dir=tmp / "hub")
    secrets = demo_secrets(settings)
    settings = settings.model_copy(
        update={
            "key_encryption_key": secrets.kek,
            "kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}),
        }
    )
    engine = make_engine(settings.database_url_value())
    migrate(engine)
    with Session(engine) as session, session.begin():
        ensure_parties(session, secrets)
    engine.dispose()
    nation = tmp / "nation"
    t = time.perf_counter()
    make_source(nation / "sources" / "nis" / "nis.db", n)
    print(f"source: {n:,} NIS contributions written in {time.perf_counter() - t:.1f} s")
    _, config = deploy(
        AGENCY_CONFIGS / "nis" / "contribution.yaml",
        data_dir=settings.data_dir,
        nation=nation,
        bootstrap=bootstrap,
        jobboard_url="http://127.0.0.1:9",
    )
    kit = demo_kit(
        link_key=ensure_link_key(secrets), signing_passphrase=secrets.passphrase, settings=settings
    )
    watch = Stopwatch(detail=detail)
    published = run_connector_timed(config, kit, watch)
    outcomes = run_worker_timed(settings, unsettled_parts([config]), watch)
    end_to_end = watch.seconds["connector: total"] + watch.seconds["worker: total"]

    engine = make_engine(settings.database_url_value())
    lake = open_catalog(
        database_url=settings.database_url_value(),
        warehouse=settings.lake_warehouse,
        lake=settings.lake,
    )
    with Session(engine) as session:
        line = reconcile([config], session=session, lake=lake).lines[0]
    engine.dispose()

    state = StateDB.open(config.state_db_path)
    try:
        messages = [
            (m.key, m.value, list(m.headers))
            for b in Outbox(state).batches(dataset=config.dataset)
            for m in unpack_messages(b.payload, b.headers, batch_id=b.batch_id)
        ]
    finally:
        state.close()
    raw = raw_transport(bootstrap, messages)
    raw_s = raw["produce"] + raw["consume"]

    print(
        f"\nrecords {n:,}: published {published:,}, accepted {line.accepted:,}, "
        f"in the lake {line.in_lake:,}, quarantined {line.quarantined} "
        f"({'reconciled' if line.source_rows == line.in_lake == n else 'MISMATCH'}); "
        f"{len(messages)} messages, {raw['bytes'] / 1e6:.1f} MB; worker outcomes {outcomes}"
    )
    print(f"\n{'stage':48} {'seconds':>9} {'share':>7}")
    for side, total in (("connector", "connector: total"), ("worker", "worker: total")):
        whole = watch.seconds[total]
        covered = sum(watch.seconds.get(stage, 0.0) for stage in LEAVES if stage.startswith(side))
        for stage in ORDER:
            if stage.startswith(side) and stage in watch.seconds:
                sec = watch.seconds[stage]
                print(f"  {stage:46} {sec:9.2f} {sec / end_to_end:7.1%}")
        other = whole - covered
        if detail:
            print(f"  {side + ': other':46} {other:9.2f} {other / end_to_end:7.1%}")
        print(f"{total:48} {whole:9.2f} {whole / end_to_end:7.1%}")
    e2e_rate = n / end_to_end
    raw_rate = n / raw_s
    print(f"\nend to end       {end_to_end:8.2f} s  {e2e_rate:12,.0f} records/s")
    print(
        f"raw transport    {raw_s:8.2f} s  {raw_rate:12,.0f} records/s "
        f"(produce {raw['produce']:.2f} s, consume {raw['consume']:.2f} s, "
        f"{raw['bytes'] / 1e6 / raw_s:.0f} MB/s)"
    )
    print(f"ratio end-to-end / raw transport: {e2e_rate / raw_rate:.3f}")


#: The order stages are printed in ("of which" stages are part of the one above).
ORDER = [
    "connector: read source",
    "connector: map + validate + tokenise",
    "connector:   of which tokenise",
    "connector: batch ids",
    "connector: publish (seal+outbox+produce)",
    "connector:   of which encode + sign",
    "connector:   of which produce (until acked)",
    "worker: consume",
    "worker: decide (all of the above but consume)",
    "worker: verify + decode",
    "worker:   of which decode",
    "worker: agreement coverage",
    "worker: re-key",
    "worker: lake commit",
    "worker: ledger + audit (hub db)",
    "worker: produce receipts",
]
#: Stages that do not overlap each other; their sum is subtracted for "other".
LEAVES = {
    "connector: read source",
    "connector: map + validate + tokenise",
    "connector: batch ids",
    "connector: publish (seal+outbox+produce)",
    "worker: consume",
    "worker: decide (all of the above but consume)",
    "worker: produce receipts",
}


if __name__ == "__main__":
    main()
