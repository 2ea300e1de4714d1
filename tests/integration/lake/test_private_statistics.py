"""No min/max of tokens, record ids or bytes in lake metadata: neither in the Parquet
footers of the data files nor in the manifests' lower/upper bounds (real lake)."""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import LessThan
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from integration.lake.bronze import (
    METADATA_PROPERTIES,
    LakeBatch,
    append_batches,
    ensure_bronze_table,
    private_metrics_properties,
)
from integration.lake.iceberg_schema import avro_to_iceberg
from tests.integration.lake.test_bronze import TOKEN, fresh_dataset, lineage

PRIVATE = ("record_id", "nis_number_token", "vacancy_record_id", "attachment")
PUBLIC = ("period", "earnings", "weeks")


def schema() -> dict[str, Any]:
    return {
        "type": "record",
        "name": "contribution",
        "namespace": "lmis.nis",
        "lmis.record_id": "record_id",
        "fields": [
            {"name": "record_id", "type": "string"},
            {"name": "nis_number_token", "type": TOKEN, "token": "nis_number"},
            {"name": "vacancy_record_id", "type": ["null", "string"], "default": None},
            {"name": "attachment", "type": ["null", "bytes"], "default": None},
            {"name": "period", "type": {"type": "int", "logicalType": "date"}},
            {
                "name": "earnings",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            },
            {"name": "weeks", "type": "int"},
        ],
    }


def rows(n: int, start: date) -> list[dict[str, Any]]:
    return [
        {
            "record_id": os.urandom(16).hex(),
            "nis_number_token": os.urandom(32),
            "vacancy_record_id": os.urandom(16).hex(),
            "attachment": os.urandom(8),
            "period": start + timedelta(days=i % 20),
            "earnings": Decimal("100.00") + i,
            "weeks": 1 + i % 4,
        }
        for i in range(n)
    ]


def data_files(table: Table) -> list[DataFile]:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return [
        entry.data_file
        for manifest in snapshot.manifests(table.io)
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
    ]


def assert_private_metadata(table: Table) -> None:
    files = data_files(table)
    assert files
    ids = {name: table.schema().find_field(name).field_id for name in PRIVATE + PUBLIC}
    for data_file in files:
        for name in PRIVATE:
            assert ids[name] not in (data_file.lower_bounds or {}), name
            assert ids[name] not in (data_file.upper_bounds or {}), name
        for name in PUBLIC:  # pruning still works on dates and numbers
            assert ids[name] in data_file.lower_bounds and ids[name] in data_file.upper_bounds
        with table.io.new_input(data_file.file_path).open() as stream:
            footer = pq.ParquetFile(stream).metadata
        for group in range(footer.num_row_groups):
            columns = {
                footer.row_group(group).column(i).path_in_schema: footer.row_group(group).column(i)
                for i in range(footer.num_columns)
            }
            for name in PRIVATE:
                stats = columns[name].statistics
                assert stats is None or not stats.has_min_max, name
            for name in PUBLIC:
                stats = columns[name].statistics
                assert stats is not None and stats.has_min_max, name


def test_tokens_record_ids_and_bytes_keep_no_min_max(lake_catalog: SqlCatalog) -> None:
    table = ensure_bronze_table(
        lake_catalog,
        agency="nis",
        dataset=fresh_dataset(),
        avro_schema=schema(),
        event_date_field="period",
    )
    append_batches(table, [LakeBatch(rows(40, date(2024, 1, 1)), lineage("b-1"))])
    assert_private_metadata(lake_catalog.load_table(table.name()))


def test_files_a_delete_rewrites_keep_no_min_max(lake_catalog: SqlCatalog) -> None:
    table = ensure_bronze_table(
        lake_catalog,
        agency="nis",
        dataset=fresh_dataset(),
        avro_schema=schema(),
        event_date_field="period",
    )
    append_batches(table, [LakeBatch(rows(40, date(2024, 1, 1)), lineage("b-1"))])
    table = lake_catalog.load_table(table.name())
    before = {f.file_path for f in data_files(table)}
    # half of the month's rows go: the file is rewritten (copy on write)
    table.delete(delete_filter=LessThan(term="period", value="2024-01-10"))
    table = lake_catalog.load_table(table.name())
    assert {f.file_path for f in data_files(table)} - before
    assert_private_metadata(table)


def test_an_older_table_gets_the_private_metrics_properties(lake_catalog: SqlCatalog) -> None:
    dataset = fresh_dataset()
    lake_catalog.create_table(
        f"bronze.nis__{dataset}",
        schema=avro_to_iceberg(schema()),
        properties={"lmis.agency": "nis", "lmis.dataset": dataset, **METADATA_PROPERTIES},
    )
    table = ensure_bronze_table(lake_catalog, agency="nis", dataset=dataset, avro_schema=schema())
    wanted = private_metrics_properties(schema(), table.schema())
    assert {k.rsplit(".", 1)[-1] for k in wanted} == set(PRIVATE)
    assert {k: table.properties.get(k) for k in wanted} == wanted
    append_batches(table, [LakeBatch(rows(10, date(2024, 3, 1)), lineage("b-2"))])
    assert_private_metadata(lake_catalog.load_table(table.name()))


@pytest.mark.parametrize("name", ["_batch_id", "period"])
def test_other_columns_have_no_metrics_override(lake_catalog: SqlCatalog, name: str) -> None:
    table = ensure_bronze_table(
        lake_catalog, agency="nis", dataset=fresh_dataset(), avro_schema=schema()
    )
    assert f"write.metadata.metrics.column.{name}" not in table.properties
