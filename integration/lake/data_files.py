"""Data files of a bronze append: Arrow built column by column, split by partition with
one sort, written as Parquet files ready for ONE fast append.

Building rows as dicts and letting pyiceberg filter the table once per partition costs
far more than decoding the records did; here every column is one ``pa.array`` call over
all the group's batches, the partition split is one ``sort_indices`` plus zero-copy
slices, and the files are written with pyiceberg's own writer (statistics, names,
locations and field ids exactly as ``Table.append`` would produce them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.io.pyarrow import (
    bin_pack_arrow_table,
    pyarrow_to_schema,
    schema_to_pyarrow,
    write_file,
)
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import TableProperties, WriteTask
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.utils.properties import property_as_int

LINEAGE_COLUMNS = (
    "_batch_id",
    "_agreement_id",
    "_agreement_version",
    "_schema_fingerprint",
    "_received_at",
)


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
    "arrow_table",
    "columns_of",
    "partitions",
    "write_data_files",
]
