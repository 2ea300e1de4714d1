"""Every agency connector, source to broker: records/s through read -> map -> validate ->
tokenise -> seal -> outbox -> produce (confluent-kafka, waiting for every delivery) on
the embedded broker, against reading the same source alone in the same run (ratio).

    .venv/bin/python -m benchmarks.connectors [--persons 10000] [--months 24] [--rows 100000]
                                              [--nation PATH] [--only nis/contribution]

Builds a synthetic nation (or uses ``--nation``), serves its job board, starts the
embedded broker, and runs each of the configs in ``connectors/agencies/`` with its own
batch size over at most ``--rows`` source rows (a dataset with fewer rows is run whole;
the table says how many). The job board's HTTP API runs in this process, so the HTTP
connectors share the interpreter with their server. Each connector starts from an empty
state; the ISCO coder's index is built, and the producer's first delivery made, before
timing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import KafkaAdminClient, NewTopic

from connectors.sdk.config import ConnectorConfig, parse_config
from connectors.sdk.kit import packaged_code_lists
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.occupation import OccupationCoder
from connectors.sdk.pipeline import Pipeline
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender
from connectors.sdk.sources.base import Source, SourceRow, load_source
from connectors.sdk.state import StateDB
from connectors.sdk.watermark import Watermark
from hub_api.demo.connectors import agency_config_files, deployment_document
from infra.broker import free_port, start_broker, stop_process
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from schemas.envelope import Message
from schemas.signing import Signer
from synth import nation as nation_mod
from synth.config import load_config as load_synth_config
from synth.jobboard_api import serve


class Limited(Source):
    """The first ``limit`` rows of another source."""

    def __init__(self, inner: Source, limit: int) -> None:
        super().__init__(chunk_size=1000)
        self._inner = inner
        self._limit = limit

    def describe(self) -> str:
        return f"first {self._limit} rows of {self._inner.describe()}"

    def read(self, after: Watermark | None = None) -> Iterator[list[SourceRow]]:
        left = self._limit
        for chunk in self._inner.read(after):
            if left <= 0:
                return
            yield chunk[:left]
            left -= len(chunk)

    def close(self) -> None:
        self._inner.close()


def read_alone(config: ConnectorConfig, limit: int) -> tuple[int, float]:
    source = Limited(load_source(config.source), limit)
    start = time.perf_counter()
    rows = sum(len(chunk) for chunk in source.read(None))
    elapsed = time.perf_counter() - start
    source.close()
    return rows, elapsed


def to_broker(
    config: ConnectorConfig, limit: int, *, kafka: dict[str, Any], admin: KafkaAdminClient
) -> tuple[int, int, float]:
    code_lists = packaged_code_lists()
    schema = config.schema_version()
    topic = f"bench.{config.agency}.{config.dataset}.{time.time_ns()}"
    admin.create_topics([NewTopic(topic, 1, 1)])
    state = StateDB.open(config.state_db_path)
    sender = KafkaSender(kafka)
    # The producer's first delivery to a new topic waits for its connection, the
    # idempotent-producer handshake and the topic's metadata (up to a second on the
    # embedded broker): paid once per process, so it is paid before timing.
    sender.send(topic, [Message(key=b"warm-up", value=b"", headers=[])])
    clock = lambda: datetime.now(UTC)  # noqa: E731
    publisher = EnvelopePublisher(
        schema=schema,
        topic=topic,
        agreement_id="dsa-bench",
        agreement_version=1,
        signer=Signer(f"{config.agency}-bench", Ed25519PrivateKey.generate()),
        state=state,
        sender=sender,
        clock=clock,
    )
    pipeline = Pipeline.from_config(
        config,
        state=state,
        link_key=LinkKey(b"b" * 32, key_id=1),
        clock=clock,
        code_lists=code_lists,  # type: ignore[arg-type]
        regions=frozenset(code_lists["region"]),
        source=Limited(load_source(config.source), limit),
    )
    start = time.perf_counter()
    report = pipeline.run(publisher)
    elapsed = time.perf_counter() - start
    sender.close()
    state.close()
    return report.rows_read, report.records_published, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--rows", type=int, default=100_000, help="source rows per connector")
    parser.add_argument("--nation", type=Path, help="an existing nation folder")
    parser.add_argument("--only", action="append", help="agency/dataset (repeatable)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        nation = args.nation
        if nation is None:
            nation = work / "nation"
            start = time.perf_counter()
            cfg = load_synth_config(None, persons=args.persons, seed=args.seed, months=args.months)
            nation_mod.make(cfg, nation_mod.Targets(nation, None, "synth_"))
            print(f"nation of {args.persons} persons, {args.months} months: "
                  f"{time.perf_counter() - start:.1f} s")  # fmt: skip
        OccupationCoder.packaged()  # the index is built once per process; not timed
        server = serve(nation / "sources" / "jobboard" / "jobboard.db", "127.0.0.1", 0)
        server.start_background()
        broker = start_broker(
            host="127.0.0.1", port=free_port(), log_path=work / "broker.log", detach=False
        )
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        kafka = librdkafka_config(KafkaSettings(bootstrap_servers=broker.bootstrap))
        rows_out: list[tuple[str, int, int, float, float]] = []
        try:
            for path in agency_config_files():
                name = f"{path.parent.name}/{path.stem}"
                if args.only and name not in args.only:
                    continue
                document = deployment_document(
                    path,
                    nation=nation,
                    data_dir=work / name,
                    bootstrap=broker.bootstrap,
                    jobboard_url=server.url,
                )
                config = parse_config(document, origin=str(path))
                rows, alone = read_alone(config, args.rows)
                read, published, piped = to_broker(config, args.rows, kafka=kafka, admin=admin)
                assert read == rows, (name, read, rows)
                rows_out.append((name, rows, published, alone, piped))
        finally:
            admin.close()
            stop_process(broker.pid)
            server.stop()

    print(f"at most {args.rows:,} source rows per connector; batch size from each config")
    head = (
        f"{'connector':<24}{'rows':>8}{'records':>9}{'source rows/s':>15}"
        f"{'to broker rec/s':>17}{'ratio':>8}"
    )
    print(head)
    print("-" * len(head))
    total_rows = total_alone = total_piped = 0.0
    for name, rows, published, alone, piped in rows_out:
        print(
            f"{name:<24}{rows:>8,}{published:>9,}{rows / alone:>15,.0f}"
            f"{published / piped:>17,.0f}{piped / alone:>7.1f}x"
        )
        total_rows += rows
        total_alone += alone
        total_piped += piped
    if rows_out:
        print(
            f"{'all':<24}{int(total_rows):>8,}{'':>9}{total_rows / total_alone:>15,.0f}"
            f"{total_rows / total_piped:>17,.0f}{total_piped / total_alone:>7.1f}x"
        )
    print("ratio: time source -> broker / time reading the source alone")


if __name__ == "__main__":
    main()
