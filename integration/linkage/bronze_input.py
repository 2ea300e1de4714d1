"""The linkage's input: the token columns of every bronze table that has any.

This is the one reader of bronze token columns (the separation principle: tokens are
for linkage only). It reads each table at its current snapshot and records the
snapshot id, so a run says exactly which deliveries it linked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from integration.linkage.errors import LinkageInputUnreadable
from integration.linkage.features import ATTRIBUTES, Source

BRONZE = "bronze"
EVENT_DATE = "_event_date"
RECEIVED = "_received_at"
#: The lineage columns naming the agreement a row was delivered under.
AGREEMENT = ("_agreement_id", "_agreement_version")


def latest_per_record(data: pa.Table) -> pa.Table:
    """One row per record id: the one received last (a re-delivered or corrected record
    lands again under the same id)."""
    if data.num_rows == 0:
        return data
    keys = ["record_id", RECEIVED] if RECEIVED in data.column_names else ["record_id"]
    indices = pc.sort_indices(data, sort_keys=[(k, "ascending") for k in keys])
    ordered = data.take(indices)
    ids = ordered["record_id"].to_numpy(zero_copy_only=False)
    last = np.r_[ids[1:] != ids[:-1], True] if len(ids) else np.zeros(0, bool)
    kept = ordered.filter(pa.array(last))
    return kept.drop_columns([RECEIVED]) if RECEIVED in kept.column_names else kept


@dataclass
class BronzeInput:
    """The tables to link (token columns, clear attributes, the event date), and the
    snapshot each was read at."""

    tables: dict[Source, pa.Table] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)

    def event_dates(self) -> npt.NDArray[np.datetime64]:
        """The event date of every node, in node order (NaT where the table has none)."""
        parts = [
            t[EVENT_DATE].cast(pa.date32()).to_numpy(zero_copy_only=False).astype("datetime64[D]")
            for t in self.tables.values()
        ]
        return np.concatenate(parts) if parts else np.zeros(0, "datetime64[D]")


def event_date_column(table: Table) -> str | None:
    """The column the table is partitioned on (the dataset's event date), if any."""
    spec = table.spec()
    if not spec.fields:
        return None
    return table.schema().find_column_name(spec.fields[0].source_id)


def token_tables(lake: Catalog) -> list[tuple[str, Table]]:
    """Every bronze table with token columns, by name (``bronze.<agency>__<dataset>``)."""
    try:
        identifiers = sorted(lake.list_tables(BRONZE))
    except Exception as exc:
        raise LinkageInputUnreadable(f"the bronze namespace cannot be listed: {exc}") from exc
    out = []
    for identifier in identifiers:
        name = identifier[-1]
        if "__" not in name:
            continue
        try:
            table = lake.load_table(identifier)
        except Exception as exc:
            raise LinkageInputUnreadable(
                f"bronze.{name} cannot be read: {type(exc).__name__}: {exc}"
            ) from exc
        if any(f.name.endswith("_token") for f in table.schema().fields):
            out.append((f"{BRONZE}.{name}", table))
    return out


def bronze_snapshots(lake: Catalog) -> dict[str, int | None]:
    """The current snapshot of every bronze table with tokens (what a run would read)."""
    out: dict[str, int | None] = {}
    for name, table in token_tables(lake):
        snapshot = table.current_snapshot()
        out[name] = snapshot.snapshot_id if snapshot else None
    return out


def read_bronze(lake: Catalog) -> BronzeInput:
    """Every bronze table with token columns, with the columns the linkage needs: one
    row per record id (the latest received), the event date as ``_event_date``."""
    out = BronzeInput()
    for name, table in token_tables(lake):
        agency, dataset = name.removeprefix(f"{BRONZE}.").split("__", 1)
        snapshot = table.current_snapshot()
        if snapshot is None:
            continue
        columns = [f.name for f in table.schema().fields]
        event = event_date_column(table)
        wanted = [
            "record_id",
            *(c for c in columns if c.endswith("_token")),
            *(a for a in ATTRIBUTES if a in columns),
            *(c for c in (RECEIVED, *AGREEMENT, event) if c is not None and c in columns),
        ]
        try:
            scan = table.scan(snapshot_id=snapshot.snapshot_id, selected_fields=tuple(wanted))
            data = scan.to_arrow()
        except Exception as exc:
            raise LinkageInputUnreadable(
                f"{name} cannot be read: {type(exc).__name__}: {exc}"
            ) from exc
        data = latest_per_record(data)
        dates = data[event].cast(pa.date32()) if event else pa.nulls(data.num_rows, pa.date32())
        data = data.drop_columns([event]) if event else data
        out.tables[Source(agency, dataset)] = data.append_column(EVENT_DATE, dates)
        out.snapshots[name] = snapshot.snapshot_id
    return out
