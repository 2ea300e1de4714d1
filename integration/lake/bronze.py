"""Bronze tables: one per agency dataset, records as delivered plus lineage columns.

Each accepted batch (or a bounded group of batches) lands in one Iceberg commit whose
snapshot summary names the batch ids, so the lake itself can tell which deliveries it
holds. Tables are partitioned by month of the dataset's event date when it has one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import DateType, TimestampType, TimestamptzType

from integration.lake.errors import LakeCommitFailed, UnsupportedAvroType
from integration.lake.iceberg_schema import avro_to_iceberg

log = logging.getLogger(__name__)

BATCH_IDS_PROPERTY = "lmis.batch-ids"
PARTITION_FIELD_ID = 1000


def bronze_identifier(agency: str, dataset: str) -> str:
    """``bronze.<agency>__<dataset>``, as in the design."""
    return f"bronze.{agency}__{dataset}"


@dataclass(frozen=True)
class Lineage:
    """Where a batch came from; stored on every row it carried."""

    batch_id: str
    agreement_id: str
    agreement_version: int
    schema_fingerprint: str
    received_at: datetime


@dataclass(frozen=True)
class LakeBatch:
    """Decoded records of one delivery and their lineage."""

    records: Sequence[dict[str, Any]]
    lineage: Lineage


def _partition_spec(schema: Schema, event_date_field: str | None) -> PartitionSpec:
    if event_date_field is None:
        return PartitionSpec()
    try:
        source = schema.find_field(event_date_field)
    except ValueError as exc:
        raise UnsupportedAvroType(
            f"event date field {event_date_field!r} is not in the schema"
        ) from exc
    if not isinstance(source.field_type, DateType | TimestampType | TimestamptzType):
        raise UnsupportedAvroType(
            f"event date field {event_date_field!r} is {source.field_type}, not a date or timestamp"
        )
    return PartitionSpec(
        PartitionField(
            source_id=source.field_id,
            field_id=PARTITION_FIELD_ID,
            transform=MonthTransform(),
            name=f"{event_date_field}_month",
        )
    )


def ensure_bronze_table(
    catalog: Catalog,
    *,
    agency: str,
    dataset: str,
    avro_schema: dict[str, Any],
    event_date_field: str | None = None,
) -> Table:
    """The dataset's bronze table, created on first use and evolved to ``avro_schema``.

    Evolution is by field name: a new schema version adds its new columns; columns of
    earlier versions stay (older rows keep their values, newer rows have nulls).
    """
    identifier = bronze_identifier(agency, dataset)
    schema = avro_to_iceberg(avro_schema)
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        return catalog.create_table_if_not_exists(
            identifier,
            schema=schema,
            partition_spec=_partition_spec(schema, event_date_field),
            properties={"lmis.agency": agency, "lmis.dataset": dataset},
        )
    current = {f.name for f in table.schema().fields}
    if any(f.name not in current for f in schema.fields):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = catalog.load_table(identifier)
    return table


def _arrow_rows(table: Table, batches: Iterable[LakeBatch]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for batch in batches:
        lineage = {
            "_batch_id": batch.lineage.batch_id,
            "_agreement_id": batch.lineage.agreement_id,
            "_agreement_version": batch.lineage.agreement_version,
            "_schema_fingerprint": batch.lineage.schema_fingerprint,
            "_received_at": batch.lineage.received_at,
        }
        rows.extend({**record, **lineage} for record in batch.records)
    arrow_schema = schema_to_pyarrow(table.schema(), include_field_ids=True)
    return pa.Table.from_pylist(rows, schema=arrow_schema)


def append_batches(table: Table, batches: Sequence[LakeBatch]) -> int:
    """Append the batches in ONE lake commit; returns the new snapshot id.

    The snapshot summary records the batch ids (``lmis.batch-ids``). Either every batch
    lands or none does.
    """
    if not batches:
        raise ValueError("append_batches needs at least one batch")
    data = _arrow_rows(table, batches)
    ids = ",".join(b.lineage.batch_id for b in batches)
    try:
        table.append(data, snapshot_properties={BATCH_IDS_PROPERTY: ids})
    except CommitFailedException as exc:
        raise LakeCommitFailed(f"lake commit for batches {ids} failed: {exc}") from exc
    snapshot = table.current_snapshot()
    assert snapshot is not None
    log.debug("committed %d rows of %d batches to %s", data.num_rows, len(batches), table.name())
    return snapshot.snapshot_id


def committed_batch_ids(table: Table) -> set[str]:
    """Batch ids recorded in the table's snapshot summaries (unexpired snapshots)."""
    ids: set[str] = set()
    for snapshot in table.metadata.snapshots:
        summary = snapshot.summary
        value = summary.get(BATCH_IDS_PROPERTY) if summary else None
        if value:
            ids.update(value.split(","))
    return ids


def row_count(table: Table) -> int:
    """Rows in the table's current snapshot."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", 0))
