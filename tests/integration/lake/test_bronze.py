"""Bronze tables on a real SqlCatalog (SQLite and PostgreSQL) with local data files."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.transforms import MonthTransform

from integration.lake.bronze import (
    LakeBatch,
    Lineage,
    append_batches,
    committed_batch_ids,
    ensure_bronze_table,
    row_count,
)
from integration.lake.retention import apply_retention

TOKEN = {"type": "fixed", "name": "Token", "namespace": "lmis.types", "size": 32}


def contribution_schema(*extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "contribution",
        "namespace": "lmis.nis",
        "fields": [
            {"name": "record_id", "type": "string"},
            {"name": "nis_number_token", "type": TOKEN},
            {"name": "period", "type": {"type": "int", "logicalType": "date"}},
            {
                "name": "earnings",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            },
            *extra,
        ],
    }


def records(n: int, start: date, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "record_id": f"{prefix}-{i}",
            "nis_number_token": uuid.uuid4().bytes * 2,
            "period": start + timedelta(days=31 * (i % 3)),
            "earnings": Decimal("1234.50") + i,
        }
        for i in range(n)
    ]


def lineage(batch_id: str) -> Lineage:
    return Lineage(
        batch_id=batch_id,
        agreement_id="dsa-nis-001",
        agreement_version=2,
        schema_fingerprint="a1b2c3d4e5f60718",
        received_at=datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    )


def fresh_dataset() -> str:
    return f"contribution_{uuid.uuid4().hex[:10]}"


def test_one_commit_per_group_with_batch_ids_and_lineage(lake_catalog: SqlCatalog) -> None:
    table = ensure_bronze_table(
        lake_catalog,
        agency="nis",
        dataset=fresh_dataset(),
        avro_schema=contribution_schema(),
        event_date_field="period",
    )
    assert table.spec().fields[0].transform == MonthTransform()
    group = [
        LakeBatch(records(5, date(2024, 1, 15), "a"), lineage("batch-a")),
        LakeBatch(records(3, date(2024, 2, 15), "b"), lineage("batch-b")),
    ]
    snapshot_id = append_batches(table, group)
    assert [s.snapshot_id for s in table.metadata.snapshots] == [snapshot_id]
    assert committed_batch_ids(table) == {"batch-a", "batch-b"}
    assert row_count(table) == 8

    rows = table.scan().to_arrow().to_pylist()
    assert sorted(r["record_id"] for r in rows) == sorted(
        [f"a-{i}" for i in range(5)] + [f"b-{i}" for i in range(3)]
    )
    by_id = {r["record_id"]: r for r in rows}
    assert by_id["b-0"]["_batch_id"] == "batch-b"
    assert by_id["a-1"]["_agreement_version"] == 2
    assert by_id["a-1"]["earnings"] == Decimal("1235.50")
    assert len(by_id["a-1"]["nis_number_token"]) == 32

    # Partitioned by month: the data files carry distinct month partitions.
    files = table.inspect.files().to_pylist()
    months = {f["partition"]["period_month"] for f in files}
    assert len(months) >= 3


def test_schema_evolution_adds_columns(lake_catalog: SqlCatalog) -> None:
    dataset = fresh_dataset()
    v1 = ensure_bronze_table(
        lake_catalog, agency="nis", dataset=dataset, avro_schema=contribution_schema()
    )
    append_batches(v1, [LakeBatch(records(2, date(2024, 5, 1), "v1"), lineage("b1"))])
    weeks = {"name": "weeks", "type": ["null", "int"], "default": None}
    v2 = ensure_bronze_table(
        lake_catalog, agency="nis", dataset=dataset, avro_schema=contribution_schema(weeks)
    )
    new = [{**r, "weeks": 4} for r in records(2, date(2024, 6, 1), "v2")]
    append_batches(v2, [LakeBatch(new, lineage("b2"))])
    rows = {r["record_id"]: r for r in v2.scan().to_arrow().to_pylist()}
    assert rows["v1-0"]["weeks"] is None
    assert rows["v2-1"]["weeks"] == 4
    assert committed_batch_ids(v2) == {"b1", "b2"}


def test_retention_deletes_old_rows_and_expires_snapshots(lake_catalog: SqlCatalog) -> None:
    table = ensure_bronze_table(
        lake_catalog,
        agency="nis",
        dataset=fresh_dataset(),
        avro_schema=contribution_schema(),
        event_date_field="period",
    )
    append_batches(table, [LakeBatch(records(6, date(2020, 1, 10), "old"), lineage("old"))])
    append_batches(table, [LakeBatch(records(4, date(2025, 1, 10), "new"), lineage("new"))])
    result = apply_retention(
        table,
        event_date_field="period",
        keep_from=date(2024, 1, 1),
        expire_snapshots_before=datetime.now(UTC) + timedelta(seconds=1),
    )
    assert result.rows_before == 10
    assert result.rows_after == 4
    assert result.snapshots_expired >= 2
    assert len(table.metadata.snapshots) == 1
    remaining = table.scan().to_arrow().to_pylist()
    assert all(r["record_id"].startswith("new") for r in remaining)
