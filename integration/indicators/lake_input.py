"""The indicators' input: their source tables read from the lake, and the snapshot of
each.

A bronze table is read at its current snapshot (or one given), one row per record id —
the one received last, as the linkage reads it
(:func:`integration.linkage.bronze_input.latest_per_record`) — with every column of
its dataset's schema except the tokens (:func:`.sources.source_schema`). A silver table
is read at the snapshot the last committed linkage run wrote
(:func:`committed_silver_snapshots`): a run that failed halfway may have left newer
snapshots that are not the silver layer. The snapshot ids read are kept, so a computed
package says exactly which deliveries and which linkage it rests on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from sqlalchemy.orm import Session

from integration.indicators.definition import Definition
from integration.indicators.errors import SourceEmpty, SourceUnreadable
from integration.indicators.sources import SILVER_SOURCES, bronze_dataset, conform, source_schema
from integration.linkage.bronze_input import RECEIVED, latest_per_record
from integration.linkage.job import last_committed
from schemas.catalog import SchemaCatalog

_KEPT_RECEIVED = "__received_at"


@dataclass
class LakeInput:
    """Source tables by lake name, and the snapshot id each was read at."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    snapshots: dict[str, int] = field(default_factory=dict)


def committed_silver_snapshots(session: Session) -> dict[str, int]:
    """The silver snapshots of the last committed linkage run (empty when none ran)."""
    run = last_committed(session)
    if run is None:
        return {}
    return {name: int(run.snapshots[name]) for name in SILVER_SOURCES if run.snapshots.get(name)}


def _latest(data: pa.Table) -> pa.Table:
    """One row per record id, keeping the time it was received."""
    if RECEIVED not in data.column_names:
        return latest_per_record(data)
    kept = data.append_column(_KEPT_RECEIVED, data[RECEIVED])
    out = latest_per_record(kept)
    return out.rename_columns([RECEIVED if c == _KEPT_RECEIVED else c for c in out.column_names])


def read_source(
    lake: Catalog, name: str, *, schemas: SchemaCatalog, snapshot_id: int | None = None
) -> tuple[pa.Table, int]:
    """One source table (``name`` as in a definition) and the snapshot read."""
    schema = source_schema(name, schemas=schemas)
    try:
        table = lake.load_table(name)
    except NoSuchTableError as exc:
        raise SourceEmpty(f"table {name} is not in the lake yet", table=name) from exc
    except Exception as exc:
        raise SourceUnreadable(
            f"{name} cannot be opened: {type(exc).__name__}", table=name
        ) from exc
    if snapshot_id is None:
        current = table.current_snapshot()
        if current is None:
            raise SourceEmpty(f"table {name} has no data yet", table=name)
        snapshot_id = current.snapshot_id
    present = {f.name for f in table.schema().fields}
    wanted = tuple(f.name for f in schema if f.name in present)
    try:
        data = table.scan(snapshot_id=snapshot_id, selected_fields=wanted).to_arrow()
    except Exception as exc:
        raise SourceUnreadable(
            f"{name} cannot be read at snapshot {snapshot_id}: {type(exc).__name__}", table=name
        ) from exc
    if bronze_dataset(name) is not None and "record_id" in data.column_names:
        data = _latest(data)
    if data.num_rows == 0:
        raise SourceEmpty(f"table {name} is empty at snapshot {snapshot_id}", table=name)
    return conform(data, schema), snapshot_id


def read_sources(
    lake: Catalog,
    names: Iterable[str],
    *,
    schemas: SchemaCatalog,
    snapshots: Mapping[str, int] | None = None,
) -> LakeInput:
    """The tables ``names`` (each once), at ``snapshots`` where given, else current."""
    pinned = dict(snapshots or {})
    out = LakeInput()
    for name in sorted(set(names)):
        data, snapshot_id = read_source(lake, name, schemas=schemas, snapshot_id=pinned.get(name))
        out.tables[name] = data
        out.snapshots[name] = snapshot_id
    return out


def read_package_input(
    lake: Catalog,
    session: Session,
    definitions: Iterable[Definition],
    *,
    schemas: SchemaCatalog,
) -> LakeInput:
    """Every source of the computable ``definitions``: bronze at its current snapshot,
    silver at the last committed linkage run's (:class:`SourceEmpty` when a definition
    needs silver and no linkage run has committed)."""
    names = {s for d in definitions if d.computable for s in d.sources}
    silver = committed_silver_snapshots(session)
    missing = sorted(n for n in names if n in SILVER_SOURCES and n not in silver)
    if missing:
        raise SourceEmpty(
            f"no committed linkage run has written {', '.join(missing)}; run the linkage first"
        )
    return read_sources(lake, names, schemas=schemas, snapshots=silver)
