"""Landing accepted batches in the bronze lake: one commit per table and group.

The batches of a group are re-keyed with K_hub column by column and appended to their
``bronze.<agency>__<dataset>`` table in ONE lake commit per table, whose snapshot summary
names every batch id. The data files are written once; a commit that conflicts with
another writer is retried with the same files, with a capped, jittered backoff. A batch
some snapshot summary already names (an earlier crash, or another worker of the group)
is not appended again. Afterwards the table's snapshot list is kept short.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pyiceberg.catalog import Catalog as LakeCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from integration.ingest.decisions import Pending
from integration.ingest.ledger import Ledger
from integration.ingest.rekey import TokenRekeyer
from integration.lake.bronze import (
    BATCH_IDS_PROPERTY,
    Lineage,
    StagedAppend,
    commit_staged,
    discard_staged,
    ensure_bronze_table,
    expire_appends,
    lineage_values,
    stage_batches,
)
from integration.lake.data_files import ColumnBatch
from integration.lake.errors import LakeCommitFailed
from schemas.catalog import SchemaVersion

log = logging.getLogger(__name__)

#: The longest base wait between two attempts at a conflicting lake commit (before jitter).
MAX_COMMIT_BACKOFF_S = 1.0


class BronzeLanding:
    """Appends a group's accepted batches to their bronze tables; every dependency is
    explicit. ``sleep`` is injectable so tests need not wait between attempts."""

    def __init__(
        self,
        *,
        lake: LakeCatalog,
        rekeyer: TokenRekeyer,
        ledger: Ledger,
        commit_attempts: int = 12,
        commit_backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        max_snapshots: int = 16,
    ) -> None:
        self.lake = lake
        self.rekeyer = rekeyer
        self.ledger = ledger
        self.commit_attempts = commit_attempts
        self.commit_backoff_s = commit_backoff_s
        self.sleep = sleep
        self.max_snapshots = max_snapshots
        self._tables: dict[str, Table] = {}

    def _table(self, reader: SchemaVersion) -> Table:
        table = self._tables.get(reader.key)
        if table is None:
            table = ensure_bronze_table(
                self.lake,
                agency=reader.agency,
                dataset=reader.dataset,
                avro_schema=dict(reader.raw),
                event_date_field=reader.event_date_field,
            )
            self._tables[reader.key] = table
        return table

    def land(self, pending: Sequence[Pending], now: datetime) -> dict[str, int]:
        """Append the pending batches, one commit per table; batch id → snapshot id."""
        by_table: dict[str, list[Pending]] = {}
        for p in pending:
            by_table.setdefault(p.opened.reader.key, []).append(p)
        snapshots: dict[str, int] = {}
        for items in by_table.values():
            table = self._table(items[0].opened.reader)
            snapshots.update(self._commit(table, items, now))
        return snapshots

    def _commit(self, table: Table, items: Sequence[Pending], now: datetime) -> dict[str, int]:
        """One lake commit for ``items``, retried on conflict with a bounded backoff.

        The data files are written once; a conflicting commit is retried with the same
        files, so a retry costs only new metadata. Before every attempt the table is
        refreshed and batches whose ids a snapshot summary already names (an earlier
        crash, or another worker of the group after a rebalance) are left out: then the
        files are written again for the rest.
        """
        batches = {p.batch_id: self._column_batch(p, now) for p in items}
        staged: StagedAppend | None = None
        for attempt in range(1, self.commit_attempts + 1):
            table.refresh()
            found = snapshots_holding(table, batches)
            if found:
                log.warning(
                    "%d batch(es) already in %s but not in the ledger; recording them",
                    len(found),
                    table.name(),
                )
            todo_ids = tuple(batch_id for batch_id in batches if batch_id not in found)
            if staged is not None and staged.batch_ids != todo_ids:
                # Its commits failed (pyiceberg tells a failed commit from one that landed
                # with a lost response) and only this worker knows the file names.
                discard_staged(table, staged)
                staged = None
            if not todo_ids:
                return found
            if staged is None:
                staged = stage_batches(table, [batches[batch_id] for batch_id in todo_ids])
            try:
                snapshot_id = commit_staged(table, staged)
            except LakeCommitFailed:
                if attempt == self.commit_attempts:
                    discard_staged(table, staged)
                    raise
                # Jittered, doubling, capped: two workers appending to one table must not
                # keep colliding, and a long run of conflicts must not stall a group.
                backoff = min(self.commit_backoff_s * 2 ** (attempt - 1), MAX_COMMIT_BACKOFF_S)
                delay = backoff * (1 + random.random())  # noqa: S311 (jitter)
                log.warning(
                    "lake commit to %s conflicted (attempt %d of %d); retrying in %.2f s",
                    table.name(),
                    attempt,
                    self.commit_attempts,
                    delay,
                )
                self.sleep(delay)
                continue
            return found | dict.fromkeys(todo_ids, snapshot_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _column_batch(self, p: Pending, now: datetime) -> ColumnBatch:
        """The batch column-wise with its token columns re-keyed with K_hub."""
        columns = dict(p.columns)
        for name in p.opened.reader.token_fields():
            if name in columns:
                columns[name] = self.rekeyer.column(columns[name])
        lineage = Lineage(
            batch_id=p.batch_id,
            agreement_id=p.headers.agreement_id,
            agreement_version=p.agreement_version,
            schema_fingerprint=p.headers.schema_fingerprint,
            received_at=now,
        )
        return ColumnBatch(columns, p.rows, lineage_values(lineage))

    def bound_snapshots(self, keys: set[str]) -> None:
        """Keep the tables' snapshot lists short: pyiceberg copies the whole table
        metadata on every commit, so time per group would grow with every snapshot.

        Past ``max_snapshots``, snapshots are expired (never the newest half) when the
        ledger holds every batch id their summaries name: crash recovery only looks up
        batches that reached the lake but not the ledger (:func:`snapshots_holding`),
        and those stay. Their manifest lists and merged-away manifests are deleted; data
        files stay (every append's files are still live). A failed expiry is only
        logged: the next group tries again.
        """
        for key in keys:
            table = self._tables.get(key)
            if table is None or len(table.metadata.snapshots) <= self.max_snapshots:
                continue
            table.refresh()  # another worker of the group may have expired some already
            current = table.current_snapshot()
            keep = max(1, self.max_snapshots // 2)
            older = sorted(table.metadata.snapshots, key=lambda s: s.sequence_number or 0)
            older = [
                s for s in older[:-keep] if current is None or s.snapshot_id != current.snapshot_id
            ]
            named = {s.snapshot_id: _summary_ids(s.summary) for s in older}
            recorded = self.ledger.recorded({i for ids in named.values() for i in ids})
            doomed = [sid for sid, ids in named.items() if ids <= recorded]
            if not doomed:
                continue
            try:
                deleted = expire_appends(table, doomed)
            except (CommitFailedException, LakeCommitFailed, OSError) as exc:
                log.warning("expiring %d snapshot(s) of %s failed: %s", len(doomed), key, exc)
                continue
            log.debug("expired %d snapshot(s) of %s, %d file(s) deleted", len(doomed), key, deleted)


def _summary_ids(summary: Any) -> set[str]:
    ids = summary.get(BATCH_IDS_PROPERTY) if summary else None
    return set(ids.split(",")) if ids else set()


def snapshots_holding(table: Table, batch_ids: Mapping[str, Any] | set[str]) -> dict[str, int]:
    """For each of ``batch_ids`` that a snapshot summary names: that snapshot's id."""
    wanted = set(batch_ids)
    found: dict[str, int] = {}
    for snapshot in table.metadata.snapshots:
        for batch_id in wanted.intersection(_summary_ids(snapshot.summary)):
            found[batch_id] = snapshot.snapshot_id
    return found
