"""Retention: delete what an agreement no longer allows the hub to keep, then expire
the snapshots that still reference it and delete the files only they referenced, so
the data is really gone.

Which rows: every bronze row carries the agreement (id and version) it was delivered
under; each version's ``retention_days`` gives its cut-off, today minus that many
days. Rows are aged by their **event date** — the dataset's event date field, the
column the table is partitioned by month on — because an agreement's retention period
is about the period the records describe, and whole monthly files then drop without
rewriting data. A table without an event date is aged by ``_received_at`` (when the
hub took the batch). Rows of an agreement version the hub does not know are kept and
reported.

Snapshots older than ``keep_snapshots`` are expired (never the current one): the
ingest worker recovers a crash between its lake commit and its ledger from recent
snapshot summaries, so the newest ones are kept for a while; what they still
reference goes at a later run.

:func:`run_retention` is the callable job (the CLI's ``lake retention`` and a DAG task
call it); it writes one ``lake:retention`` audit entry per table it changed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, BooleanExpression, EqualTo, LessThan, Or
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.transforms import MonthTransform
from pyiceberg.types import DateType
from sqlalchemy.orm import Session

from governance.agreements.document import parse_document
from governance.agreements.models import Agreement
from governance.audit.services import AuditLog
from governance.timestamps import Clock
from integration.lake.data_files import install_parquet_writer

log = logging.getLogger(__name__)

RECEIVED_AT = "_received_at"


@dataclass(frozen=True)
class RetentionResult:
    table: str
    rows_before: int
    rows_after: int
    snapshots_expired: int
    files_deleted: int = 0


@dataclass(frozen=True)
class RetentionCut:
    """Rows of one agreement version older than its retention period."""

    agreement_id: str
    agreement_version: int
    retention_days: int | None  # None: the version is unknown, its rows are kept
    keep_from: str | None  # ISO date (or instant for _received_at)
    rows: int


@dataclass(frozen=True)
class TableRetention:
    """What retention did (or, in a dry run, would do) to one table."""

    table: str
    column: str
    rows_before: int
    rows_deleted: int
    snapshots_expired: int
    files_deleted: int
    dry_run: bool
    cuts: list[RetentionCut] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rows(table: Table) -> int:
    snapshot = table.current_snapshot()
    if snapshot is None:
        return 0
    return int(table.scan(selected_fields=("_batch_id",)).to_arrow().num_rows)


def date_column(table: Table) -> str:
    """The column rows are aged by: the monthly partition's source, else ``_received_at``."""
    schema = table.schema()
    for spec_field in table.spec().fields:
        if isinstance(spec_field.transform, MonthTransform):
            return schema.find_column_name(spec_field.source_id) or RECEIVED_AT
    return RECEIVED_AT


def _files_of(table: Table, snapshots: Iterable[Snapshot], *, live: bool) -> set[str]:
    """Manifest lists, manifests and data files the snapshots reference."""
    paths: set[str] = set()
    for snapshot in snapshots:
        paths.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(table.io):
            paths.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=live):
                paths.add(entry.data_file.file_path)
    return paths


def expire_snapshots(table: Table, *, older_than: datetime) -> tuple[int, int]:
    """Expire snapshots committed before ``older_than`` (never the current one) and
    delete the files only they referenced; returns (snapshots expired, files deleted)."""
    table.refresh()
    current = table.current_snapshot()
    cutoff_ms = int(older_than.timestamp() * 1000)
    old = [
        s
        for s in table.metadata.snapshots
        if s.timestamp_ms < cutoff_ms and (current is None or s.snapshot_id != current.snapshot_id)
    ]
    if not old:
        return 0, 0
    candidates = _files_of(table, old, live=False)
    table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in old]).commit()
    table.refresh()
    doomed = candidates - _files_of(table, table.metadata.snapshots, live=True)
    for path in sorted(doomed):
        try:
            table.io.delete(path)
        except FileNotFoundError:
            continue
    return len(old), len(doomed)


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
    install_parquet_writer()  # files the delete rewrites keep no private statistics
    table.delete(delete_filter=LessThan(term=event_date_field, value=keep_from.isoformat()))
    expired, deleted = expire_snapshots(table, older_than=expire_snapshots_before)
    return RetentionResult(
        table=".".join(table.name()),
        rows_before=before,
        rows_after=_rows(table),
        snapshots_expired=expired,
        files_deleted=deleted,
    )


def _versions(table: Table) -> list[tuple[str, int]]:
    if table.current_snapshot() is None:
        return []
    data = table.scan(selected_fields=("_agreement_id", "_agreement_version")).to_arrow()
    pairs = data.group_by(["_agreement_id", "_agreement_version"]).aggregate([])
    return sorted(
        (str(a), int(v))
        for a, v in zip(
            pairs["_agreement_id"].to_pylist(), pairs["_agreement_version"].to_pylist(), strict=True
        )
    )


def _retention_days(session: Session, agreement_id: str, version: int) -> int | None:
    row = session.get(Agreement, (agreement_id, version))
    if row is None:
        return None
    doc = parse_document(json.loads(row.document), where=f"agreement {row.id} v{row.version}")
    return int(doc.retention_days)


def _cut_filter(agreement_id: str, version: int, column: str, keep_from: str) -> BooleanExpression:
    return And(
        EqualTo(term="_agreement_id", value=agreement_id),
        EqualTo(term="_agreement_version", value=version),
        LessThan(term=column, value=keep_from),
    )


def retain_table(
    table: Table,
    *,
    session: Session,
    now: datetime,
    keep_snapshots: timedelta,
    dry_run: bool = False,
) -> TableRetention:
    """Apply every covering agreement version's retention to one table."""
    table.refresh()
    column = date_column(table)
    is_date = isinstance(table.schema().find_field(column).field_type, DateType)
    rows_before = _rows(table)
    cuts: list[RetentionCut] = []
    filters: list[BooleanExpression] = []
    for agreement_id, version in _versions(table):
        days = _retention_days(session, agreement_id, version)
        if days is None:
            log.warning(
                "%s: rows of unknown agreement %s v%d kept", table.name(), agreement_id, version
            )
            cuts.append(RetentionCut(agreement_id, version, None, None, 0))
            continue
        edge = now - timedelta(days=days)
        keep_from = edge.date().isoformat() if is_date else edge.isoformat()
        where = _cut_filter(agreement_id, version, column, keep_from)
        n = table.scan(row_filter=where, selected_fields=("_batch_id",)).to_arrow().num_rows
        cuts.append(RetentionCut(agreement_id, version, days, keep_from, int(n)))
        if n:
            filters.append(where)
    deleted = sum(c.rows for c in cuts)
    expired = files = 0
    if not dry_run:
        session.commit()  # no hub-database transaction open across the lake commits
        if filters:
            install_parquet_writer()  # files the delete rewrites keep no private statistics
            table.delete(delete_filter=filters[0] if len(filters) == 1 else Or(*filters))
        expired, files = expire_snapshots(table, older_than=now - keep_snapshots)
    return TableRetention(
        table=".".join(table.name()),
        column=column,
        rows_before=rows_before,
        rows_deleted=deleted,
        snapshots_expired=expired,
        files_deleted=files,
        dry_run=dry_run,
        cuts=cuts,
    )


def run_retention(
    lake: Catalog,
    *,
    session: Session,
    audit: AuditLog,
    clock: Clock,
    keep_snapshots: timedelta,
    actor: str,
    dry_run: bool = False,
    namespace: str = "bronze",
) -> list[TableRetention]:
    """Retention on every table of ``namespace``; one audit entry per changed table."""
    now = clock()
    results: list[TableRetention] = []
    for identifier in sorted(lake.list_tables(namespace)):
        table = lake.load_table(identifier)
        result = retain_table(
            table, session=session, now=now, keep_snapshots=keep_snapshots, dry_run=dry_run
        )
        results.append(result)
        if dry_run or not (result.rows_deleted or result.snapshots_expired):
            continue
        details = result.as_dict()
        del details["dry_run"]
        audit.record("lake:retention", actor, f"lake:{result.table}", details)
        session.commit()
        log.info(
            "retention on %s: %d row(s) deleted, %d snapshot(s) expired, %d file(s) deleted",
            result.table,
            result.rows_deleted,
            result.snapshots_expired,
            result.files_deleted,
        )
    return results
