"""The silver tables the linkage writes: person links, persons, and key changes.

``silver.person_links`` maps every linked record (agency, dataset, record id) to its
person key, with the match weight that joined it and how; ``silver.persons`` has one
row per person key in use (the sources it appears in, its record count, the first and
last event dates); ``silver.person_key_changes`` accumulates every run's key changes
(issued, merged into an older key, split off), so a downstream table keyed by person
can follow a key's history. None of them holds a token.

A run overwrites the first two and appends to the third, one Iceberg commit each; the
run's record in the hub database then names the snapshot ids, and only a committed
run's snapshots count. A run that fails after writing sets every silver table back to
the last committed run's snapshot (:func:`restore`), and the next run does the same
first, so a crash between the lake and the database leaves no half-written layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import (
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
)

from integration.lake.errors import LakeCommitFailed

PERSON_LINKS = "silver.person_links"
PERSONS = "silver.persons"
KEY_CHANGES = "silver.person_key_changes"


def _required(field_id: int, name: str, kind: object, doc: str) -> NestedField:
    return NestedField(field_id, name, kind, required=True, doc=doc)  # type: ignore[arg-type]


def _optional(field_id: int, name: str, kind: object, doc: str) -> NestedField:
    return NestedField(field_id, name, kind, required=False, doc=doc)  # type: ignore[arg-type]


SCHEMAS: dict[str, Schema] = {
    PERSON_LINKS: Schema(
        _required(1, "agency", StringType(), "Agency that delivered the record."),
        _required(2, "dataset", StringType(), "Dataset of the record."),
        _required(3, "record_id", StringType(), "Opaque record id, as in bronze."),
        _required(4, "person_key", StringType(), "Random, stable key of the person."),
        _optional(
            5,
            "match_weight",
            DoubleType(),
            "Highest model weight of a link that "
            "holds the record in its person; empty when a strong token or a "
            "reviewer's decision joined it, or it stands alone.",
        ),
        _required(6, "linked_by", StringType(), "model, strong_token, alone"),
        _required(7, "key_id", IntegerType(), "K_link generation of the record's tokens."),
        _required(8, "run_id", LongType(), "Linkage run that wrote the row."),
    ),
    PERSONS: Schema(
        _required(1, "person_key", StringType(), "Random, stable key of the person."),
        _required(
            2,
            "sources",
            ListType(10, StringType(), element_required=True),
            "agency/dataset of every source the person appears in, sorted.",
        ),
        _required(3, "records", IntegerType(), "Records linked to the person."),
        _optional(4, "first_seen", DateType(), "Earliest event date of its records."),
        _optional(5, "last_seen", DateType(), "Latest event date of its records."),
        _required(6, "run_id", LongType(), "Linkage run that wrote the row."),
    ),
    KEY_CHANGES: Schema(
        _required(1, "run_id", LongType(), "Linkage run of the change."),
        _required(2, "change", StringType(), "issued, merged or split."),
        _required(3, "person_key", StringType(), "The key the change is about."),
        _optional(
            4,
            "other_key",
            StringType(),
            "merged: the key it forwards to; split: the key whose records it took.",
        ),
    ),
}


def ensure_tables(lake: Catalog) -> dict[str, Table]:
    """The silver tables, created on first use."""
    out = {}
    for name, schema in SCHEMAS.items():
        try:
            out[name] = lake.load_table(name)
        except NoSuchTableError:
            out[name] = lake.create_table(name, schema=schema)
    return out


def current_snapshots(tables: Mapping[str, Table]) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for name, table in tables.items():
        table.refresh()
        snapshot = table.current_snapshot()
        out[name] = snapshot.snapshot_id if snapshot else None
    return out


def write(tables: Mapping[str, Table], data: Mapping[str, pa.Table]) -> dict[str, int]:
    """Overwrite the links and persons, append the key changes; the new snapshot ids."""
    written = {}
    try:
        for name, rows in data.items():
            table = tables[name]
            rows = rows.cast(table.schema().as_arrow())
            if name == KEY_CHANGES:
                table.append(rows)
            else:
                with warnings.catch_warnings():
                    # An overwrite of an empty table says its delete matched nothing.
                    warnings.filterwarnings("ignore", "Delete operation did not match")
                    table.overwrite(rows)
            snapshot = table.current_snapshot()
            assert snapshot is not None
            written[name] = snapshot.snapshot_id
    except LakeCommitFailed:
        raise
    except Exception as exc:
        raise LakeCommitFailed(f"writing the silver tables failed: {type(exc).__name__}") from exc
    return written


def restore(tables: Mapping[str, Table], committed: Mapping[str, int | None]) -> list[str]:
    """Set every silver table whose current snapshot is not the committed one back to it
    (a table the committed run did not write is emptied); the names of those changed."""
    changed = []
    for name, table in tables.items():
        table.refresh()
        current = table.current_snapshot()
        target = committed.get(name)
        if (current.snapshot_id if current else None) == target:
            continue
        if target is None:
            table.overwrite(pa.Table.from_pylist([], schema=table.schema().as_arrow()))
        else:
            table.manage_snapshots().set_current_snapshot(snapshot_id=target).commit()
        changed.append(name)
    return changed


def read(table: Table, snapshot_id: int | None, columns: list[str]) -> pa.Table:
    """``columns`` of a silver table as of ``snapshot_id`` (empty when None)."""
    if snapshot_id is None:
        return pa.Table.from_pylist([], schema=table.schema().as_arrow()).select(columns)
    return table.scan(snapshot_id=snapshot_id, selected_fields=tuple(columns)).to_arrow()
