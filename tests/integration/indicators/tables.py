"""Small hand-made source tables and definitions for the indicator tests."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.definition import Definition, read_definition
from integration.indicators.dimensions import TOTAL
from integration.indicators.sources import conform, source_schema
from schemas.catalog import SchemaCatalog

RECEIVED = datetime(2025, 1, 1, tzinfo=UTC)


def rid(i: int) -> str:
    """A record id of the lake's shape."""
    return f"{i:032x}"


def source(schemas: SchemaCatalog, name: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """A source table of ``name``'s schema with ``rows`` (columns not given are NULL)."""
    schema = source_schema(name, schemas=schemas)
    columns = {f.name: [row.get(f.name) for row in rows] for f in schema}
    if "_received_at" in columns:
        columns["_received_at"] = [r or RECEIVED for r in columns["_received_at"]]
    return conform(
        pa.table({k: pa.array(v, schema.field(k).type) for k, v in columns.items()}), schema
    )


def definition(schemas: SchemaCatalog, text: str, *, where: str = "test.yaml") -> Definition:
    """A checked definition from YAML text (indentation removed)."""
    return read_definition(textwrap.dedent(text), where=where, schemas=schemas)


def cell_map(
    table: pa.Table, dims: Sequence[str], column: str = "obs_value"
) -> dict[tuple[str, ...], Any]:
    """(time period, codes…) -> ``column`` of every row."""
    keys = zip(*(table[c].to_pylist() for c in ("time_period", *dims)), strict=True)
    return dict(zip(keys, table[column].to_pylist(), strict=True))


def only(table: pa.Table, **codes: str) -> pa.Table:
    """The rows with these codes."""
    for name, code in codes.items():
        table = table.filter(pc.equal(table[name], code))
    return table


def total(table: pa.Table, dims: Sequence[str]) -> pa.Table:
    """The rows of the grand total (every dimension ``_T``)."""
    return only(table, **dict.fromkeys(dims, TOTAL))


def day(text: str) -> date:
    return date.fromisoformat(text)
