"""The linkage job: bronze in, silver out, the run recorded and audited — all or nothing.

A run (1) sets the silver tables back to the last committed run if a crash left them
ahead, (2) records itself as ``running``, (3) reads every bronze table with tokens,
(4) links them with the reviewers' decisions as constraints, (5) keeps each person's
key from the previous run (:mod:`.keys`), (6) writes the silver tables, then (7) in one
database transaction records the new and retired keys, the key changes, the review
queue and the run as ``committed``, with an audit entry. An error at any step sets the
silver tables back, marks the run ``failed`` with the error's code, and re-raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.linkage.models import (
    LinkageRun,
    PersonKey,
    PersonKeyEvent,
    ReviewDecision,
    ReviewPair,
)
from governance.timestamps import Clock, as_utc
from integration.linkage import silver
from integration.linkage.bronze_input import BronzeInput, read_bronze
from integration.linkage.clusters import Edges, group_edges
from integration.linkage.consent import leave_out_withdrawn
from integration.linkage.errors import LinkageError
from integration.linkage.features import ATTRIBUTES, Source
from integration.linkage.keys import Assignment, KeyChange, assign_keys, new_key
from integration.linkage.link import Linkage, link
from integration.linkage.model import ModelSettings
from lmis_hub.errors import HubError

log = logging.getLogger(__name__)

Pair = tuple[int, int]


def last_committed(session: Session) -> LinkageRun | None:
    return session.scalars(
        select(LinkageRun).where(LinkageRun.state == "committed").order_by(LinkageRun.id.desc())
    ).first()


def _committed_silver(run: LinkageRun | None) -> dict[str, int | None]:
    snapshots = run.snapshots if run else {}
    return {name: snapshots.get(name) for name in silver.SCHEMAS}


@dataclass
class LinkageJob:
    session: Session
    lake: Catalog
    audit: AuditLog
    clock: Clock
    actor: str
    settings: ModelSettings
    make_key: Callable[[], str] = new_key

    def run(self, *, incremental: bool = False) -> LinkageRun:
        """One run; returns its committed record (raises a LinkageError or LakeError
        after recording the failure). ``incremental`` compares only the records that
        landed since the last committed run, with its model; it falls back to a full
        run (saying why in ``counts["full_because"]``) when there is no such run, or a
        reviewer decided since, or a bronze table changed other than by appends."""
        previous = last_committed(self.session)
        # The lake's catalog may share the database (SQLite): no read transaction of
        # ours may stay open across a lake write, or our next write is refused.
        self.session.commit()
        tables = silver.ensure_tables(self.lake)
        restored = silver.restore(tables, _committed_silver(previous))
        if restored:
            log.warning("silver tables set back to the last committed run: %s", restored)
        run = LinkageRun(
            mode="incremental" if incremental else "full",
            state="running",
            actor=self.actor,
            started_at=self.clock(),
            settings={},
            model={},
            counts={},
            snapshots={},
        )
        self.session.add(run)
        self.session.commit()
        try:
            self._link_and_commit(run, previous, tables, incremental=incremental)
        except Exception as exc:
            code, message = (
                (exc.code, exc.message)
                if isinstance(exc, HubError)
                else (LinkageError.code, f"{type(exc).__name__}: {exc}")
            )
            self.session.rollback()
            silver.restore(tables, _committed_silver(previous))
            self.session.rollback()
            self.session.execute(
                update(LinkageRun)
                .where(LinkageRun.id == run.id)
                .values(
                    state="failed",
                    finished_at=self.clock(),
                    error_code=code,
                    error_message=message[:2000],
                )
            )
            self.audit.record("linkage:fail", self.actor, f"run:{run.id}", {"code": code})
            self.session.commit()
            raise
        return run

    # -- the steps ---------------------------------------------------------------

    def _link_and_commit(
        self,
        run: LinkageRun,
        previous: LinkageRun | None,
        tables: dict[str, Any],
        *,
        incremental: bool,
    ) -> None:
        started = time.perf_counter()
        bronze = read_bronze(self.lake)
        withdrawn = leave_out_withdrawn(bronze, self.session, clock=self.clock, audit=self.audit)
        order = _node_order(bronze)
        same, different = self._decisions(order)
        prior_keys = self._previous_keys(tables, previous, order)
        plan = self._incremental_plan(previous, bronze, order, prior_keys) if incremental else None
        full_because = plan if isinstance(plan, str) else None
        if isinstance(plan, Incremental):
            linkage = link(
                bronze.tables,
                settings=self.settings,
                same=same,
                different=different,
                trained=previous.model if previous else None,
                new=plan.new,
                kept=plan.kept,
            )
        else:
            run.mode = "full"
            linkage = link(bronze.tables, settings=self.settings, same=same, different=different)
        issued_order = {
            key: i
            for i, key in enumerate(
                self.session.scalars(
                    select(PersonKey.key).order_by(PersonKey.issued_run, PersonKey.key)
                )
            )
        }
        assignment = assign_keys(
            linkage.labels, prior_keys, issued_order=issued_order, make_key=self.make_key
        )
        data = _silver_rows(run.id, bronze, linkage, assignment)
        self.session.commit()  # end the reads before the lake writes (see run)
        written = silver.write(tables, data)
        self._record_keys(run, assignment)
        review = self._queue_review(run, linkage, order)
        run.settings = linkage.model.settings
        run.model = {
            "parameters": linkage.model.parameters,
            "prior": linkage.model.prior,
            "date_part_u": linkage.model.date_part_u,
            "retrained": linkage.model.retrained,
            "splink": linkage.model.splink,
        }
        run.counts = {
            **linkage.summary(),
            "new_records": (
                int((plan.new & linkage.features.linkable()).sum())
                if isinstance(plan, Incremental)
                else None
            ),
            "full_because": full_because,
            "left_out_consent_withdrawn": withdrawn,
            "key_changes": assignment.counts(),
            "review_queued": review,
            "decisions_applied": {"match": len(same), "no_match": len(different)},
            "seconds": {**linkage.seconds, "total": round(time.perf_counter() - started, 3)},
        }
        run.snapshots = {**bronze.snapshots, **written}
        run.state = "committed"
        run.finished_at = self.clock()
        self.audit.record(
            "linkage:run",
            self.actor,
            f"run:{run.id}",
            {
                "mode": run.mode,
                "records": run.counts["records"],
                "persons": run.counts["persons"],
                "key_changes": run.counts["key_changes"],
                "review_queued": review,
                "snapshots": run.snapshots,
            },
        )
        self.session.commit()

    def _incremental_plan(
        self,
        previous: LinkageRun | None,
        bronze: BronzeInput,
        order: dict[tuple[str, str], int],
        prior_keys: list[str | None],
    ) -> Incremental | str:
        """What an incremental run compares, or why it must be a full run."""
        if previous is None or not previous.model.get("splink"):
            return "no committed run with a model to start from"
        decided = self.session.scalar(select(func.max(ReviewDecision.decided_at)))
        finished = previous.finished_at
        if decided is not None and finished is not None and as_utc(decided) > as_utc(finished):
            return "a reviewer decided pairs since the last run"
        new = np.array([key is None for key in prior_keys], bool)
        for name, snapshot in bronze.snapshots.items():
            before = previous.snapshots.get(name)
            if before == snapshot:
                continue
            source = Source(*name.removeprefix("bronze.").split("__", 1))
            if before is None:
                continue  # a table new since: its records have no previous key
            try:
                appended = (
                    self.lake.load_table(name)
                    .incremental_append_scan(
                        from_snapshot_id_exclusive=before,
                        to_snapshot_id_inclusive=snapshot,
                        selected_fields=("record_id",),
                    )
                    .to_arrow()
                )
            except Exception as exc:  # retention rewrote the table, or history expired
                return f"{name} changed other than by appends ({type(exc).__name__})"
            for record in appended["record_id"].to_pylist():
                node = order.get((str(source), record))
                if node is not None:
                    new[node] = True
        kept_nodes = np.flatnonzero(~new)
        codes: dict[str | None, int] = {}
        groups = np.array(
            [codes.setdefault(prior_keys[i], len(codes)) for i in kept_nodes.tolist()], np.int64
        )
        return Incremental(new=new, kept=group_edges(groups, kept_nodes.astype(np.int64)))

    def _decisions(self, order: dict[tuple[str, str], int]) -> tuple[list[Pair], list[Pair]]:
        """The latest decision on each pair whose two records are in this run."""
        latest: dict[tuple[tuple[str, str], tuple[str, str]], str] = {}
        for d in self.session.scalars(select(ReviewDecision).order_by(ReviewDecision.id)):
            latest[((d.left_source, d.left_record), (d.right_source, d.right_record))] = d.decision
        same: list[Pair] = []
        different: list[Pair] = []
        for (left, right), decision in latest.items():
            a, b = order.get(left), order.get(right)
            if a is None or b is None:
                continue
            (same if decision == "match" else different).append((a, b))
        return same, different

    def _previous_keys(
        self, tables: dict[str, Any], previous: LinkageRun | None, order: dict[tuple[str, str], int]
    ) -> list[str | None]:
        keys: list[str | None] = [None] * len(order)
        snapshot = (previous.snapshots if previous else {}).get(silver.PERSON_LINKS)
        rows = silver.read(
            tables[silver.PERSON_LINKS],
            snapshot,
            ["agency", "dataset", "record_id", "person_key"],
        )
        for agency, dataset, record, key in zip(
            rows["agency"].to_pylist(),
            rows["dataset"].to_pylist(),
            rows["record_id"].to_pylist(),
            rows["person_key"].to_pylist(),
            strict=True,
        ):
            node = order.get((f"{agency}/{dataset}", record))
            if node is not None:
                keys[node] = key
        return keys

    def _record_keys(self, run: LinkageRun, assignment: Assignment) -> None:
        """The run's key events, the keys it issued and the keys it retired, as three
        bulk statements (a nation's first run issues a key per person)."""
        now = self.clock()
        events = assignment.events
        if not events:
            return
        self.session.execute(
            insert(PersonKeyEvent),
            [
                {"run_id": run.id, "change": e.change.value, "key": e.key, "other": e.other}
                for e in events
            ],
        )
        issued = [
            {"key": e.key, "issued_run": run.id, "issued_at": now}
            for e in events
            if e.change is KeyChange.ISSUED
        ]
        if issued:
            self.session.execute(insert(PersonKey), issued)
        merged = [
            {"key": e.key, "retired_run": run.id, "forwards_to": e.other}
            for e in events
            if e.change is KeyChange.MERGED
        ]
        if merged:
            self.session.execute(update(PersonKey), merged)

    def _queue_review(
        self, run: LinkageRun, linkage: Linkage, order: dict[tuple[str, str], int]
    ) -> int:
        """Put the review band's pairs in the queue (those no reviewer has decided). A
        full run compares every pair, so it supersedes the open pairs of earlier runs; an
        incremental run compares only pairs touching new records, so the open pairs stay
        and only pairs not already open are added."""
        if run.mode == "full":
            self.session.execute(
                update(ReviewPair).where(ReviewPair.state == "open").values(state="superseded")
            )
        decided = {
            ((d.left_source, d.left_record), (d.right_source, d.right_record))
            for d in self.session.scalars(select(ReviewDecision))
        }
        decided |= {
            ((p.left_source, p.left_record), (p.right_source, p.right_record))
            for p in self.session.scalars(select(ReviewPair).where(ReviewPair.state == "open"))
        }
        names = {node: key for key, node in order.items()}
        review = linkage.model.review
        persons = linkage.features.persons
        attrs = _attributes(persons)
        patterns = [c for c in review.column_names if c not in _PAIR_COLUMNS]
        queued = 0
        for row in review.to_pylist():
            left, right = names[row["unique_id_l"]], names[row["unique_id_r"]]
            if (left, right) in decided or (right, left) in decided:
                continue
            self.session.add(
                ReviewPair(
                    run_id=run.id,
                    state="open",
                    left_source=left[0],
                    left_record=left[1],
                    right_source=right[0],
                    right_record=right[1],
                    match_weight=float(row["match_weight"]),
                    match_probability=float(row["match_probability"]),
                    pattern={c: row[c] for c in patterns},
                    attributes={
                        "left": attrs.get(row["unique_id_l"], {}),
                        "right": attrs.get(row["unique_id_r"], {}),
                    },
                )
            )
            queued += 1
        return queued


@dataclass(frozen=True)
class Incremental:
    """An incremental run's plan: the nodes to compare, and the edges that hold the
    earlier persons together."""

    new: npt.NDArray[np.bool_]
    kept: Edges


_PAIR_COLUMNS = frozenset({"unique_id_l", "unique_id_r", "match_weight", "match_probability"})


def _attributes(persons: pa.Table) -> dict[int, dict[str, Any]]:
    columns = [a for a in ATTRIBUTES if a in persons.column_names]
    ids = persons["unique_id"].to_pylist()
    values = {c: persons[c].to_pylist() for c in columns}
    return {node: {c: values[c][i] for c in columns} for i, node in enumerate(ids)}


def _node_order(bronze: BronzeInput) -> dict[tuple[str, str], int]:
    """(``agency/dataset``, record id) -> node index, in the order :func:`link` uses."""
    order: dict[tuple[str, str], int] = {}
    for source, table in bronze.tables.items():
        name = str(source)
        for record in table["record_id"].to_pylist():
            order.setdefault((name, record), len(order))
    return order


def _silver_rows(
    run_id: int, bronze: BronzeInput, linkage: Linkage, assignment: Assignment
) -> dict[str, pa.Table]:
    features = linkage.features
    linked = np.flatnonzero(linkage.labels >= 0)
    sources: list[Source] = features.sources
    source_index = features.source_index[linked]
    keys = [assignment.keys[i] for i in linked.tolist()]
    weights = linkage.weights[linked]
    labels = linkage.labels[linked]
    _, person_of, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    alone = sizes[person_of] == 1
    linked_by = np.where(np.isnan(weights), np.where(alone, "alone", "strong_token"), "model")
    links = pa.table(
        {
            "agency": pa.array([sources[i].agency for i in source_index.tolist()]),
            "dataset": pa.array([sources[i].dataset for i in source_index.tolist()]),
            "record_id": features.record_ids.take(pa.array(linked)),
            "person_key": pa.array(keys),
            "match_weight": pa.array(weights, mask=np.isnan(weights)),
            "linked_by": pa.array(linked_by.tolist()),
            "key_id": pa.array(features.key_ids[linked]),
            "run_id": pa.array(np.full(len(linked), run_id, np.int64)),
        }
    )
    dates = pa.array(bronze.event_dates()[linked], pa.date32())
    grouped = (
        pa.table(
            {
                "person_key": links["person_key"],
                "source": pc.binary_join_element_wise(links["agency"], links["dataset"], "/"),
                "day": dates,
            }
        )
        .group_by("person_key")
        .aggregate(
            [("source", "distinct"), ("person_key", "count"), ("day", "min"), ("day", "max")]
        )
    )
    persons = pa.table(
        {
            "person_key": grouped["person_key"],
            "sources": pa.array(
                [sorted(v) for v in grouped["source_distinct"].to_pylist()], pa.list_(pa.string())
            ),
            "records": grouped["person_key_count"].cast(pa.int32()),
            "first_seen": grouped["day_min"],
            "last_seen": grouped["day_max"],
            "run_id": pa.array(np.full(grouped.num_rows, run_id, np.int64)),
        }
    )
    changes = pa.table(
        {
            "run_id": pa.array([run_id] * len(assignment.events), pa.int64()),
            "change": pa.array([e.change.value for e in assignment.events], pa.string()),
            "person_key": pa.array([e.key for e in assignment.events], pa.string()),
            "other_key": pa.array([e.other for e in assignment.events], pa.string()),
        }
    )
    return {silver.PERSON_LINKS: links, silver.PERSONS: persons, silver.KEY_CHANGES: changes}


__all__ = ["LinkageError", "LinkageJob", "last_committed"]
