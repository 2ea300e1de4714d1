"""Connector SDK throughput: rows/s through source -> map -> validate -> tokenise -> batch
for 100,000 SQLite rows, against reading the same source alone in the same run.

    .venv/bin/python benchmarks/connector_sdk.py [--rows 100000] [--batch-size 1000]

Publishing is a no-op that returns the record count as payload, so the figure is the
SDK's own cost; the outbox write and watermark commit per batch are included.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from connectors.sdk.config import parse_config
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.pipeline import Batch, Pipeline, Published
from connectors.sdk.sources.sql import SqlSource, SqlSourceConfig
from connectors.sdk.state import StateDB

CONFIG = {
    "agency": "tvet",
    "dataset": "trainees",
    "state_dir": "unused",
    "source": {
        "type": "sql",
        "url": "sqlite://",
        "table": "trainees",
        "watermark_column": "updated_at",
        "key_column": "trainee_no",
        "chunk_size": 5000,
    },
    "mapping": {
        "key_column": "trainee_no",
        "fields": {
            "sex": {"column": "gender", "code_table": "sex"},
            "region": {"column": "parish"},
            "birth_year": {"column": "dob", "date_formats": ["%Y-%m-%d"], "date_part": "year"},
            "enrolled_on": {"column": "enrolled", "date_formats": ["%d/%m/%Y"]},
            "programme_isco": {"column": "programme", "code_table": "programmes"},
            "stipend_cents": {"column": "stipend", "money": "cents"},
        },
        "identifiers": {
            "national_id": "national_id",
            "given_name": "first_name",
            "family_name": "surname",
            "dob": "dob",
            "person_ref": "trainee_no",
        },
        "code_tables": {
            "sex": {"M": "1", "F": "2"},
            "programmes": {"ELEC": "7411", "WELD": "7212", "CARE": "5322"},
        },
    },
    "validation": {
        "sex": {"required": True, "code_list": "sex"},
        "birth_year": {"required": True, "type": "int", "min": 1940, "max": 2012},
        "enrolled_on": {"required": True, "type": "date", "not_after_today": True},
        "programme_isco": {"required": True, "code_list": "isco"},
        "stipend_cents": {"type": "int", "min": 0},
    },
    "tokenise": {"link_key_file": "unused"},
    "kafka": {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"},
}

GIVEN = ["Ann", "Brian", "Chantal", "Dwayne", "Esther", "Fitz", "Grace", "Hugh", "Inés", "Jai"]
FAMILY = ["Braithwaite", "Clarke", "Harewood", "St. Hill", "O'Neal", "Bäcker", "Yearwood"]


def make_source_db(path: Path, rows: int) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE trainees (trainee_no TEXT PRIMARY KEY, updated_at TEXT, "
            "national_id TEXT, first_name TEXT, surname TEXT, dob TEXT, gender TEXT, "
            "parish TEXT, enrolled TEXT, programme TEXT, stipend TEXT)"
        )
        conn.exec_driver_sql("CREATE INDEX ix_wm ON trainees (updated_at, trainee_no)")
        data = [
            (
                f"T{i:07d}",
                f"2026-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}",
                f"{100000000 + i * 7:09d}",
                GIVEN[i % len(GIVEN)],
                FAMILY[i % len(FAMILY)],
                f"{1960 + i % 45}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "MF"[i % 2],
                f"P{i % 11:02d}",
                f"{1 + i % 28:02d}/{1 + i % 12:02d}/2025",
                ["ELEC", "WELD", "CARE"][i % 3],
                f"{(i % 500) * 3}.25",
            )
            for i in range(rows)
        ]
        conn.exec_driver_sql("INSERT INTO trainees VALUES (?,?,?,?,?,?,?,?,?,?,?)", data)
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = make_source_db(Path(tmp) / "agency.db", args.rows)
        doc = {**CONFIG, "batch_size": args.batch_size}
        doc["source"] = {**CONFIG["source"], "url": url}  # type: ignore[dict-item]
        config = parse_config(doc)
        assert isinstance(config.source, SqlSourceConfig)

        start = time.perf_counter()
        read = sum(len(chunk) for chunk in SqlSource(config.source).read())
        read_s = time.perf_counter() - start

        state = StateDB.open(Path(tmp) / "state.db")
        pipeline = Pipeline.from_config(
            config,
            state=state,
            link_key=LinkKey.generate(key_id=1),
            clock=lambda: datetime.now(UTC),
            code_lists={"sex": {"1", "2", "9"}, "isco": {"7411", "7212", "5322"}},
        )

        def publish(batch: Batch) -> Published:
            return Published(payload=str(len(batch.records)).encode(), headers=b"")

        start = time.perf_counter()
        report = pipeline.run(publish)
        full_s = time.perf_counter() - start
        state.close()

    assert read == args.rows == report.rows_read, (read, report.rows_read)
    assert report.records_published == args.rows and not report.refusals
    print(f"rows                         {args.rows:>12,}")
    print(f"batches (size {args.batch_size:>5})          {len(report.batches):>12,}")
    print(f"source read alone            {read / read_s:>12,.0f} rows/s  ({read_s:.2f} s)")
    print("source->map->validate->")
    print(f"  tokenise->batch->outbox    {read / full_s:>12,.0f} rows/s  ({full_s:.2f} s)")
    print(f"ratio full / read-only time  {full_s / read_s:>12.1f} x")


if __name__ == "__main__":
    main()
