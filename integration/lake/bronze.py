"""Bronze tables: one per agency dataset, records as delivered plus lineage columns.

Each accepted batch (or a bounded group of batches) lands in one Iceberg commit whose
snapshot summary names the batch ids, so the lake itself can tell which deliveries it
holds. Tables are partitioned by month of the dataset's event date when it has one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema, index_name_by_id
from pyiceberg.table import Table, TableProperties, Transaction
from pyiceberg.table.snapshots import Operation, Snapshot
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import BinaryType, DateType, FixedType, TimestampType, TimestamptzType

from integration.lake.data_files import (
    LINEAGE_COLUMNS,
    ColumnBatch,
    arrow_table,
    columns_of,
    write_data_files,
)
from integration.lake.errors import LakeCommitFailed, UnsupportedAvroType
from integration.lake.iceberg_schema import avro_to_iceberg

log = logging.getLogger(__name__)

BATCH_IDS_PROPERTY = "lmis.batch-ids"
PARTITION_FIELD_ID = 1000


#: A table takes a commit per ingest group. Every commit writes a new metadata file and
#: logs the previous one, and pyiceberg copies the whole metadata several times per
#: commit: the log is kept short and the files it no longer names are deleted. Every
#: append adds a manifest that later snapshots carry on: past 32 they are merged.
METADATA_PROPERTIES = {
    "write.metadata.previous-versions-max": "10",
    "write.metadata.delete-after-commit.enabled": "true",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "32",
}


def private_columns(avro_schema: dict[str, Any], schema: Schema) -> list[str]:
    """Columns whose values must not appear in lake metadata: token fields (the
    ``"token"`` attribute), the record id and references to record ids, and every
    bytes or fixed column (``schema`` is the table's, all versions' columns)."""
    names: set[str] = set()
    record_id = avro_schema.get("lmis.record_id", "record_id")
    for field in avro_schema.get("fields", []):
        name = str(field.get("name"))
        if field.get("token") or name == record_id or name.endswith("_record_id"):
            names.add(name)
    for field_id, name in index_name_by_id(schema).items():
        if isinstance(schema.find_type(field_id), BinaryType | FixedType):
            names.add(name)
    return sorted(names)


def private_metrics_properties(avro_schema: dict[str, Any], schema: Schema) -> dict[str, str]:
    """Table properties that keep no statistics (no counts, no min/max) for the
    :func:`private_columns`; other columns keep theirs, so date pruning still works.
    The Parquet writer reads the same properties (see ``data_files``)."""
    prefix = TableProperties.METRICS_MODE_COLUMN_CONF_PREFIX
    return {f"{prefix}.{name}": "none" for name in private_columns(avro_schema, schema)}


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
            properties={
                "lmis.agency": agency,
                "lmis.dataset": dataset,
                **METADATA_PROPERTIES,
                **private_metrics_properties(avro_schema, schema),
            },
        )
    current = {f.name for f in table.schema().fields}
    if any(f.name not in current for f in schema.fields):
        with table.update_schema() as update:
            update.union_by_name(schema)
        table = catalog.load_table(identifier)
    # A table created before these properties, or a new version's new private columns.
    wanted = {**METADATA_PROPERTIES, **private_metrics_properties(avro_schema, table.schema())}
    if any(table.properties.get(k) != v for k, v in wanted.items()):
        with table.transaction() as tx:
            tx.set_properties(wanted)
        table = catalog.load_table(identifier)
    return table


def _column_batch(table: Table, batch: LakeBatch | ColumnBatch) -> ColumnBatch:
    if isinstance(batch, ColumnBatch):
        return batch
    names = [f.name for f in table.schema().fields if f.name not in LINEAGE_COLUMNS]
    return ColumnBatch(
        columns_of(batch.records, names), len(batch.records), lineage_values(batch.lineage)
    )


def lineage_values(lineage: Lineage) -> dict[str, Any]:
    """The lineage columns' values for every row of a batch."""
    return {
        "_batch_id": lineage.batch_id,
        "_agreement_id": lineage.agreement_id,
        "_agreement_version": lineage.agreement_version,
        "_schema_fingerprint": lineage.schema_fingerprint,
        "_received_at": lineage.received_at,
    }


class _SingleAttempt(Transaction):
    """A transaction whose append is not re-applied by pyiceberg after a conflict.

    pyiceberg rebuilds a conflicting append on the refreshed table by itself; for a
    bronze append that could land a batch another worker has just committed a second
    time. Here the conflict ends the attempt instead (pyiceberg still deletes the
    attempt's manifests, and still notices an attempt that did land despite a lost
    response); the caller refreshes, drops the batches a snapshot summary already
    names and tries again.
    """

    def _rebuild_snapshot_updates(self) -> None:
        raise CommitFailedException("the table changed since this append was planned")


@dataclass(frozen=True)
class StagedAppend:
    """Data files written for some batches but not yet in any snapshot.

    Writing the Parquet files is most of an append's cost; a commit that conflicts
    with another writer is retried with the same files, so only the metadata is
    written again.
    """

    data_files: tuple[DataFile, ...]
    batch_ids: tuple[str, ...]
    rows: int

    @property
    def properties(self) -> dict[str, str]:
        """The snapshot summary entries of the commit (the batch ids it lands)."""
        return {BATCH_IDS_PROPERTY: ",".join(self.batch_ids)}


def stage_batches(table: Table, batches: Sequence[LakeBatch | ColumnBatch]) -> StagedAppend:
    """Write the batches' rows as data files of ``table``; nothing is committed."""
    if not batches:
        raise ValueError("stage_batches needs at least one batch")
    columns = [_column_batch(table, b) for b in batches]
    data = arrow_table(table.metadata, columns)
    files = write_data_files(table.metadata, table.io, data, write_uuid=uuid.uuid4())
    return StagedAppend(
        data_files=tuple(files),
        batch_ids=tuple(str(b.lineage["_batch_id"]) for b in columns),
        rows=data.num_rows,
    )


def commit_staged(table: Table, staged: StagedAppend) -> int:
    """Add the staged data files in ONE fast append (a single attempt); returns the new
    snapshot id. A conflict raises :class:`LakeCommitFailed` and the files stay staged."""
    try:
        with (
            _SingleAttempt(table) as tx,
            tx.update_snapshot(snapshot_properties=staged.properties).merge_append() as append,
        ):
            for data_file in staged.data_files:
                append.append_data_file(data_file)
    except CommitFailedException as exc:
        raise LakeCommitFailed(
            f"lake commit for batches {','.join(staged.batch_ids)} failed: {exc}"
        ) from exc
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


def discard_staged(table: Table, staged: StagedAppend) -> None:
    """Delete staged data files that no snapshot will name (the caller knows the commit
    did not land)."""
    for data_file in staged.data_files:
        table.io.delete(data_file.file_path)


def append_batches(table: Table, batches: Sequence[LakeBatch | ColumnBatch]) -> int:
    """Append the batches in ONE lake commit; returns the new snapshot id.

    The snapshot summary records the batch ids (``lmis.batch-ids``). Either every batch
    lands or none does; on a conflict the written files are deleted again.
    """
    staged = stage_batches(table, batches)
    try:
        snapshot_id = commit_staged(table, staged)
    except LakeCommitFailed:
        discard_staged(table, staged)
        raise
    log.debug("committed %d rows of %d batches to %s", staged.rows, len(batches), table.name())
    return snapshot_id


def _is_append(snapshot: Snapshot) -> bool:
    return snapshot.summary is not None and snapshot.summary.operation == Operation.APPEND


def _metadata_files(table: Table, snapshots: Iterable[Snapshot]) -> set[str]:
    paths: set[str] = set()
    for snapshot in snapshots:
        paths.add(snapshot.manifest_list)
        paths.update(m.manifest_path for m in snapshot.manifests(table.io))
    return paths


def expire_appends(table: Table, snapshot_ids: Sequence[int]) -> int:
    """Expire those of ``snapshot_ids`` that are appends made after the table's last
    other change (never the current one), and delete the manifest lists and manifests
    no remaining snapshot names; returns the files deleted.

    Data files are kept, and that is why only such appends go: every data file they
    reference is still live. Another writer expiring some of them first raises
    :class:`LakeCommitFailed`. A snapshot from before a delete or overwrite (retention)
    references files the delete removed; those are retention's to expire and delete,
    so the deleted rows are really gone.
    """
    current = table.current_snapshot()
    snapshots = table.metadata.snapshots
    last_change = max((s.sequence_number or 0 for s in snapshots if not _is_append(s)), default=-1)
    ids = {i for i in snapshot_ids if current is None or i != current.snapshot_id}
    doomed = [
        s
        for s in snapshots
        if s.snapshot_id in ids and _is_append(s) and (s.sequence_number or 0) > last_change
    ]
    if not doomed:
        return 0
    # Another writer of the table may expire the same snapshots first: then their
    # manifest lists are gone before this reads them (FileNotFoundError), or pyiceberg,
    # applying the removal to the catalog's current metadata, finds a snapshot no longer
    # there (ValueError, not a commit conflict).
    raced = f"expiring snapshots of {table.name()}: another writer changed them meanwhile"
    try:
        candidates = _metadata_files(table, doomed)
        table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in doomed]).commit()
    except (FileNotFoundError, ValueError) as exc:
        raise LakeCommitFailed(raced) from exc
    unreferenced = candidates - _metadata_files(table, table.metadata.snapshots)
    for path in unreferenced:
        table.io.delete(path)
    return len(unreferenced)


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
