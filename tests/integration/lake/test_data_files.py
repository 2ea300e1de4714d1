"""Column-wise Arrow and the one-sort partition split against a real bronze table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from integration.lake.bronze import (
    METADATA_PROPERTIES,
    append_batches,
    ensure_bronze_table,
    expire_appends,
    lineage_values,
)
from integration.lake.data_files import ColumnBatch, arrow_table, columns_of, partitions
from integration.lake.errors import LakeCommitFailed
from integration.lake.iceberg_schema import avro_to_iceberg
from tests.integration.lake.test_bronze import contribution_schema, fresh_dataset, lineage

OPTIONAL_DATE = {"name": "closed", "type": ["null", {"type": "int", "logicalType": "date"}]}


def _table(lake_catalog: SqlCatalog, *, event_date: str = "period") -> Any:
    return ensure_bronze_table(
        lake_catalog,
        agency="nis",
        dataset=fresh_dataset(),
        avro_schema=contribution_schema(OPTIONAL_DATE),
        event_date_field=event_date,
    )


def _batch(batch_id: str, periods: Sequence[date | None], *, closed: bool = True) -> ColumnBatch:
    n = len(periods)
    columns: dict[str, list[Any]] = {
        "record_id": [f"{batch_id}-{i}" for i in range(n)],
        "nis_number_token": [bytes([i]) * 32 for i in range(n)],
        "period": list(periods),
        "earnings": [Decimal("10.25") + i for i in range(n)],
    }
    if closed:
        columns["closed"] = list(periods)
    return ColumnBatch(columns, n, lineage_values(lineage(batch_id)))


def test_columns_become_one_arrow_table_with_lineage_and_nulls(lake_catalog: SqlCatalog) -> None:
    table = _table(lake_catalog)
    a = _batch("a", [date(2024, 1, 3), date(2024, 2, 3)])
    b = _batch("b", [date(2024, 3, 3)], closed=False)  # a column this batch lacks
    data = arrow_table(table.metadata, [a, b])
    assert data.num_rows == 3
    assert data["record_id"].to_pylist() == ["a-0", "a-1", "b-0"]
    assert data["_batch_id"].to_pylist() == ["a", "a", "b"]
    assert data["_agreement_version"].to_pylist() == [2, 2, 2]
    assert data["closed"].to_pylist() == [date(2024, 1, 3), date(2024, 2, 3), None]
    assert data.schema.field("record_id").metadata[b"PARQUET:field_id"]
    records = [{"record_id": "x", "period": date(2024, 1, 1)}]
    assert columns_of(records, ["record_id", "closed"]) == {"record_id": ["x"], "closed": [None]}


def test_one_sort_splits_by_month_and_keeps_every_row_once(lake_catalog: SqlCatalog) -> None:
    table = _table(lake_catalog, event_date="closed")  # a nullable event date
    periods = [date(2024, 3, 9), None, date(2024, 1, 2), date(2024, 3, 1), None, date(2024, 1, 31)]
    data = arrow_table(table.metadata, [_batch("a", periods)])
    parts = partitions(table.metadata, data)
    keys = [p.key.partition[0] if p.key is not None else "?" for p in parts]
    # Months since 1970: 2024-01 is 648, 2024-03 is 650; nulls last, in their own part.
    assert keys == [648, 650, None]
    assert [p.rows.num_rows for p in parts] == [2, 2, 2]
    assert [p.rows["closed"].to_pylist() for p in parts] == [
        [date(2024, 1, 2), date(2024, 1, 31)],
        [date(2024, 3, 9), date(2024, 3, 1)],
        [None, None],
    ]
    rows = pa.concat_tables([p.rows for p in parts])
    assert sorted(rows["record_id"].to_pylist()) == sorted(data["record_id"].to_pylist())


def test_an_append_writes_one_file_per_month_and_reads_back(lake_catalog: SqlCatalog) -> None:
    table = _table(lake_catalog)
    periods = [date(2024, 1, 2), date(2024, 2, 2), date(2024, 1, 20), date(2024, 4, 1)]
    append_batches(table, [_batch("a", periods[:2]), _batch("b", periods[2:])])
    files = list(table.scan().plan_files())
    # One file per month for the whole group: January's rows of both batches together.
    assert sorted(f.file.partition[0] for f in files) == [648, 649, 651]
    assert sum(f.file.record_count for f in files) == 4
    january = table.scan(row_filter="period < '2024-02-01'").to_arrow()
    assert sorted(january["record_id"].to_pylist()) == ["a-0", "b-0"]


def test_many_commits_keep_metadata_and_manifests_bounded(lake_catalog: SqlCatalog) -> None:
    table = _table(lake_catalog)
    for n in range(36):
        append_batches(table, [_batch(f"b{n}", [date(2024, 1 + n % 2, 1)])])
    snapshot = table.current_snapshot()
    assert snapshot is not None
    assert len(snapshot.manifests(table.io)) <= 32  # merged past the threshold
    assert len(table.metadata.metadata_log) <= 10
    metadata_dir = table.metadata_location.rsplit("/", 1)[0].removeprefix("file://")
    assert len(list(Path(metadata_dir).glob("*.metadata.json"))) <= 11  # old ones deleted
    assert table.scan().to_arrow().num_rows == 36


def test_an_older_table_gets_the_metadata_properties(lake_catalog: SqlCatalog) -> None:
    dataset = fresh_dataset()
    created = lake_catalog.create_table(
        f"bronze.nis__{dataset}",
        schema=avro_to_iceberg(contribution_schema()),
        properties={"lmis.agency": "nis", "lmis.dataset": dataset},
    )
    assert "write.metadata.delete-after-commit.enabled" not in created.properties
    table = ensure_bronze_table(
        lake_catalog, agency="nis", dataset=dataset, avro_schema=contribution_schema()
    )
    assert {k: table.properties.get(k) for k in METADATA_PROPERTIES} == METADATA_PROPERTIES


def test_a_stale_append_fails_instead_of_being_reapplied(lake_catalog: SqlCatalog) -> None:
    table = _table(lake_catalog)
    append_batches(table, [_batch("first", [date(2024, 1, 1)])])
    stale = lake_catalog.load_table(table.name())
    append_batches(table, [_batch("other", [date(2024, 1, 2)])])  # another writer, meanwhile
    with pytest.raises(LakeCommitFailed):
        append_batches(stale, [_batch("other", [date(2024, 1, 2)])])
    stale.refresh()
    rows = stale.scan().to_arrow()
    assert sorted(rows["_batch_id"].to_pylist()) == ["first", "other"]  # not twice


def test_only_appends_after_the_last_delete_are_expired(lake_catalog: SqlCatalog) -> None:
    table = _table(lake_catalog)

    def append(name: str, day: int) -> int:
        return append_batches(table, [_batch(name, [date(2024, 1, day)])])

    before = [append("a", 1), append("b", 2)]
    table.delete(delete_filter="record_id == 'a-0'")  # as retention does
    deleted_at = table.current_snapshot().snapshot_id
    after = [append("c", 3), append("d", 4)]
    every = [*before, deleted_at, *after]
    deleted_files = expire_appends(table, every)
    live = {s.snapshot_id for s in table.metadata.snapshots}
    # Snapshots from before the delete still name the file holding the deleted row:
    # they are retention's to expire (with that file). The current one always stays.
    assert live == {*before, deleted_at, after[1]}
    assert deleted_files >= 1  # the expired append's manifest list
    assert sorted(table.scan().to_arrow()["record_id"].to_pylist()) == ["b-0", "c-0", "d-0"]


def test_expiring_snapshots_another_writer_expired_first_is_a_commit_failure(
    lake_catalog: SqlCatalog,
) -> None:
    table = _table(lake_catalog)
    ids = [append_batches(table, [_batch(n, [date(2024, 1, 1)])]) for n in ("a", "b", "c")]
    stale = lake_catalog.load_table(table.name())
    assert expire_appends(table, ids[:2]) > 0  # the other writer
    with pytest.raises(LakeCommitFailed, match="another writer"):
        expire_appends(stale, ids[:2])
    table.refresh()
    assert [s.snapshot_id for s in table.metadata.snapshots] == ids[2:]
