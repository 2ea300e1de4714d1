"""Retention: delete what an agreement no longer allows the hub to keep, then expire
the snapshots that still reference it, so the data files are really gone.

A callable job (Airflow calls it per agreement); the cut-off comes from the
agreement's retention period, computed by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from pyiceberg.expressions import LessThan
from pyiceberg.table import Table


@dataclass(frozen=True)
class RetentionResult:
    table: str
    rows_before: int
    rows_after: int
    snapshots_expired: int


def _rows(table: Table) -> int:
    return int(table.scan().to_arrow().num_rows)


def apply_retention(
    table: Table,
    *,
    event_date_field: str,
    keep_from: date,
    expire_snapshots_before: datetime,
) -> RetentionResult:
    """Delete rows whose event date is before ``keep_from``; expire old snapshots.

    Snapshots committed before ``expire_snapshots_before`` are expired except the
    current one, so no earlier snapshot still points at the deleted rows.
    """
    before = _rows(table)
    table.delete(delete_filter=LessThan(term=event_date_field, value=keep_from.isoformat()))
    table.refresh()
    current = table.current_snapshot()
    cutoff_ms = int(expire_snapshots_before.timestamp() * 1000)
    old = [
        s.snapshot_id
        for s in table.metadata.snapshots
        if s.timestamp_ms < cutoff_ms and (current is None or s.snapshot_id != current.snapshot_id)
    ]
    if old:
        table.maintenance.expire_snapshots().by_ids(old).commit()
        table.refresh()
    return RetentionResult(
        table=".".join(table.name()),
        rows_before=before,
        rows_after=_rows(table),
        snapshots_expired=len(old),
    )
