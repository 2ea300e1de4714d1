"""Data files of a bronze append: Arrow built column by column, split by partition with
one sort, written as Parquet files ready for ONE fast append.

Building rows as dicts and letting pyiceberg filter the table once per partition costs
far more than decoding the records did; here every column is one ``pa.array`` call over
all the group's batches, the partition split is one ``sort_indices`` plus zero-copy
slices, and the files are written with pyiceberg's own writer (statistics, names,
locations and field ids exactly as ``Table.append`` would produce them).

Lake metadata keeps no values of private columns: a column whose Iceberg metrics mode
is ``none`` or ``counts`` (tokens, record ids, bytes) gets no Parquet footer statistics
either, so neither the data files nor the manifests carry its min/max.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io import OutputFile
from pyiceberg.io.fileformat import FileFormatFactory
from pyiceberg.io.pyarrow import (
    MetricModeTypes,
    ParquetFormatModel,
    ParquetFormatWriter,
    bin_pack_arrow_table,
    compute_statistics_plan,
    pyarrow_to_schema,
    schema_to_pyarrow,
    write_file,
)
from pyiceberg.manifest import DataFile, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.schema import Schema
from pyiceberg.table import TableProperties, WriteTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.typedef import Properties
from pyiceberg.utils.properties import property_as_int

LINEAGE_COLUMNS = (
    "_batch_id",
    "_agreement_id",
    "_agreement_version",
    "_schema_fingerprint",
    "_received_at",
)


def footer_statistics_columns(file_schema: Schema, properties: Properties) -> list[str]:
    """The Parquet columns that may keep footer statistics (min/max, null count): those
    whose Iceberg metrics mode (``write.metadata.metrics.*``) keeps bounds.

    A column with mode ``none`` or ``counts`` (tokens, record ids, bytes: see
    :func:`integration.lake.bronze.private_metrics_properties`) gets none, so its
    values never reach the file footer; pyiceberg then leaves its manifest bounds
    empty as well.
    """
    plan = compute_statistics_plan(file_schema, dict(properties))
    keep = {MetricModeTypes.TRUNCATE, MetricModeTypes.FULL}
    allowed = {c.column_name for c in plan.values() if c.mode.type in keep}
    # Parquet paths of nested columns are dotted like the Iceberg column names.
    return sorted(allowed)


class PrivateStatisticsParquetWriter(ParquetFormatWriter):
    """pyiceberg's Parquet writer, with footer statistics only for the columns whose
    metrics mode keeps bounds (see :func:`footer_statistics_columns`)."""

    def __init__(self, output_file: OutputFile, file_schema: Schema, properties: Properties):
        super().__init__(output_file, file_schema, properties)
        self._parquet_writer_kwargs["write_statistics"] = footer_statistics_columns(
            file_schema, properties
        )


class PrivateStatisticsParquetModel(ParquetFormatModel):
    """The Parquet format of every pyiceberg write in this process (appends, and the
    files a delete rewrites), writing :class:`PrivateStatisticsParquetWriter` files."""

    def create_writer(
        self, output_file: OutputFile, file_schema: Schema, properties: Properties
    ) -> ParquetFormatWriter:
        return PrivateStatisticsParquetWriter(output_file, file_schema, properties)


def install_parquet_writer() -> None:
    """Make pyiceberg write Parquet through :class:`PrivateStatisticsParquetModel`.

    pyiceberg keeps one writer per file format in ``FileFormatFactory`` and refuses a
    second registration, so the entry is replaced; calling this again does nothing.
    """
    current = FileFormatFactory.get(FileFormat.PARQUET)
    if not isinstance(current, PrivateStatisticsParquetModel):
        FileFormatFactory._registry[FileFormat.PARQUET] = PrivateStatisticsParquetModel()


@dataclass(frozen=True)
class ColumnBatch:
    """One delivery column-wise: field name → values (each ``rows`` long) and its
    lineage values (one per lineage column, repeated on every row)."""

    columns: Mapping[str, Sequence[Any]]
    rows: int
    lineage: Mapping[str, Any]


def columns_of(records: Sequence[Mapping[str, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    """``records`` turned column-wise; a field a record lacks is null."""
    names = list(names)
    if len(names) > 1 and records:
        try:  # every record has every field (decoded records do): transpose in C
            rows = list(map(itemgetter(*names), records))
        except KeyError:
            pass
        else:
            columns = zip(*rows, strict=True)
            return {name: list(values) for name, values in zip(names, columns, strict=True)}
    return {name: [r.get(name) for r in records] for name in names}


def arrow_table(metadata: TableMetadata, batches: Sequence[ColumnBatch]) -> pa.Table:
    """The batches as one Arrow table of the table's current schema (with field ids).

    Columns of the table that a batch does not carry (a field of another schema
    version) are null for its rows.
    """
    arrow_schema = schema_to_pyarrow(metadata.schema(), include_field_ids=True)
    arrays: list[pa.Array] = []
    for field in arrow_schema:
        values: list[Any] = []
        for batch in batches:
            if field.name in batch.lineage:
                values.extend([batch.lineage[field.name]] * batch.rows)
                continue
            column = batch.columns.get(field.name)
            values.extend(column if column is not None else [None] * batch.rows)
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


@dataclass(frozen=True)
class Partition:
    """The rows of one partition (``key`` is None for an unpartitioned table)."""

    key: PartitionKey | None
    rows: pa.Table


def partitions(metadata: TableMetadata, data: pa.Table) -> list[Partition]:
    """Split ``data`` by the table's partition spec: one sort, then contiguous slices."""
    spec, schema = metadata.spec(), metadata.schema()
    if spec.is_unpartitioned() or data.num_rows == 0:
        return [Partition(None, data)]
    keys: list[pa.Array] = []
    for field in spec.fields:
        source = schema.find_field(field.source_id)
        name = schema.find_column_name(field.source_id)
        if name is None or name not in data.column_names:
            raise ValueError(f"partition source column {name!r} is not a top-level column")
        transform = field.transform.pyarrow_transform(source.field_type)
        keys.append(pc.cast(transform(data[name]), pa.int64()).combine_chunks())
    key_names = [f"k{i}" for i in range(len(keys))]
    key_table = pa.Table.from_arrays(keys, names=key_names)
    order = pc.sort_indices(key_table, sort_keys=[(n, "ascending") for n in key_names])
    data = data.take(order)
    key_table = key_table.take(order)
    ends: set[int] = set()
    for name in key_names:
        encoded = pc.run_end_encode(key_table[name].combine_chunks())
        ends.update(encoded.run_ends.to_pylist())
    out: list[Partition] = []
    start = 0
    for end in sorted(ends):
        values = [key_table[name][start].as_py() for name in key_names]
        key = PartitionKey(
            field_values=[
                PartitionFieldValue(field=f, value=v)
                for f, v in zip(spec.fields, values, strict=True)
            ],
            partition_spec=spec,
            schema=schema,
        )
        out.append(Partition(key, data.slice(start, end - start)))
        start = end
    return out


def write_data_files(
    metadata: TableMetadata, io: Any, data: pa.Table, *, write_uuid: uuid.UUID
) -> Iterator[DataFile]:
    """Write ``data`` as Parquet data files (one or more per partition, bin-packed to
    the table's target file size); yields them for the caller's append."""
    target: int = property_as_int(  # type: ignore[assignment]  # has a default
        metadata.properties,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
    )
    task_schema = pyarrow_to_schema(
        data.schema,
        name_mapping=metadata.schema().name_mapping,
        format_version=metadata.format_version,
    )
    install_parquet_writer()
    counter = iter(range(1 << 30))
    tasks = (
        WriteTask(
            write_uuid=write_uuid,
            task_id=next(counter),
            record_batches=batches,
            partition_key=partition.key,
            schema=task_schema,
        )
        for partition in partitions(metadata, data)
        for batches in bin_pack_arrow_table(partition.rows, target)
    )
    yield from write_file(io=io, table_metadata=metadata, tasks=tasks)


__all__ = [
    "LINEAGE_COLUMNS",
    "ColumnBatch",
    "Partition",
    "PrivateStatisticsParquetModel",
    "PrivateStatisticsParquetWriter",
    "arrow_table",
    "columns_of",
    "footer_statistics_columns",
    "install_parquet_writer",
    "partitions",
    "write_data_files",
]
