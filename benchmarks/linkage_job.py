"""The linkage as the hub runs it, at the size of a nation: an incremental run of
``integration.linkage.link.link`` against a full re-link of the same records, and the
whole linkage job (bronze in, silver out, person keys and the run record in the hub
database) against the ``link()`` call alone on the same input, in the same run.

    .venv/bin/python -m benchmarks.linkage_job --incremental [--persons 1000000]
        [--shares 0.01,0.05] [--seed 20240101] [--json FILE]
    .venv/bin/python -m benchmarks.linkage_job --job [--persons 1000000] [--share 0.01]
        [--hub DIR] [--json FILE]

The input is :mod:`benchmarks.linkage_population`'s nation (cached as Parquet). A later
delivery is ``share`` of each agency's records drawn at random and held back from the
first run: some belong to persons the first run already holds (a second agency's record,
a duplicate registration), most to persons it has never seen (about four in five persons
have one record).

``--incremental``: per share, a full ``link()`` of the first delivery (its model and
labels are what the next run starts from), then the incremental call on all records —
the earlier run's model, the held-back records (and any the first run left unlinked)
marked new, the earlier persons held together as the job holds them by their keys —
then one full re-link of all records. Printed: wall time, peak resident size, pairs
scored and F1 against the truth of each, the ratios incremental/full, and how far the
incremental persons agree with the full re-link's (pairwise F1 with the full run as the
reference, and the records whose person is exactly the full run's).

``--job``: a hub database (SQLite) and a lake warehouse under ``--hub`` (a temporary
folder by default), the first delivery written to ``bronze.<agency>__<dataset>`` tables
as the linkage tests land them (no Kafka ingest; the tables are not partitioned, so
persons have no first or last seen date), then: ``link()`` alone on the bronze tables
as the job reads them; ``LinkageJob.run()`` built as `lmis-hub linkage run` builds it;
the held-back records appended; ``run(incremental=True)``; and a full run on all
records. Each job run is timed by step (reading bronze, linking, key assignment, silver
rows and writes, the database's inserts), and its silver links are measured against the
truth.

Every measurement runs in a fresh spawned process (peak resident size ``VmHWM``, the size
before the call printed too), stopped if its resident size passes ``--memory-limit``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from sqlalchemy.orm import Session

from benchmarks.linkage_job_report import incremental_report, job_report
from benchmarks.linkage_population import CACHE, ensure, load, record_truth
from benchmarks.processes import MEMORY_LIMIT_MIB, MIB, Phases, in_process, reset_peak, status
from governance.linkage.models import LinkageRun
from hub_api.wiring import database, lake_catalog, linkage_job
from integration.lake.bronze import bronze_identifier
from integration.linkage import job as job_module
from integration.linkage import silver
from integration.linkage.bronze_input import RECEIVED, read_bronze
from integration.linkage.clusters import group_edges
from integration.linkage.features import Source
from integration.linkage.job import LinkageJob
from integration.linkage.link import link
from integration.linkage.model import ModelSettings
from integration.linkage.quality import Quality, measure
from lmis_hub.settings import Settings, load_settings

# -- the later delivery ------------------------------------------------------------------


def hold_back(
    tables: Mapping[Source, pa.Table], share: float, seed: int
) -> dict[Source, npt.NDArray[np.bool_]]:
    """Per table, ``share`` of its rows drawn at random (the records a later delivery
    brings), the same for the same tables, share and seed."""
    rng = np.random.default_rng([seed, 3, round(share * 1_000_000)])
    held = {}
    for source, table in tables.items():
        n = table.num_rows
        mask = np.zeros(n, bool)
        mask[rng.choice(n, size=round(share * n), replace=False)] = True
        held[source] = mask
    return held


def arrange(
    tables: Mapping[Source, pa.Table], held: Mapping[Source, npt.NDArray[np.bool_]]
) -> tuple[dict[Source, pa.Table], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """All records as the lake holds them after the later delivery: per table, the first
    delivery's rows, then the held-back ones. Returns the tables, the original node of
    each of their nodes, and which nodes are held back."""
    arranged: dict[Source, pa.Table] = {}
    original: list[npt.NDArray[np.int64]] = []
    late: list[npt.NDArray[np.bool_]] = []
    offset = 0
    for source, table in tables.items():
        mask = held[source]
        order = np.r_[np.flatnonzero(~mask), np.flatnonzero(mask)].astype(np.int64)
        arranged[source] = table.take(pa.array(order))
        original.append(order + offset)
        late.append(np.r_[np.zeros(int((~mask).sum()), bool), np.ones(int(mask.sum()), bool)])
        offset += table.num_rows
    return arranged, np.concatenate(original), np.concatenate(late)


def first_delivery(
    tables: Mapping[Source, pa.Table], held: Mapping[Source, npt.NDArray[np.bool_]]
) -> dict[Source, pa.Table]:
    """The records of the first delivery: every row not held back."""
    return {source: table.filter(pa.array(~held[source])) for source, table in tables.items()}


def same_person(
    labels: npt.NDArray[np.int64], reference: npt.NDArray[np.int64]
) -> npt.NDArray[np.bool_]:
    """Per record, whether its person (the set of records with its label) is exactly its
    person in ``reference``."""
    pairs = np.unique(np.c_[labels, reference], axis=0)
    ours, per_ours = np.unique(pairs[:, 0], return_counts=True)
    theirs, per_theirs = np.unique(pairs[:, 1], return_counts=True)
    one_ours = per_ours[np.searchsorted(ours, labels)] == 1
    one_theirs = per_theirs[np.searchsorted(theirs, reference)] == 1
    result: npt.NDArray[np.bool_] = one_ours & one_theirs
    return result


def _quality(q: Quality) -> dict[str, Any]:
    return {
        "precision": round(q.precision, 6),
        "recall": round(q.recall, 6),
        "f1": round(q.f1, 6),
        "persons_split": q.persons_split,
        "persons_merged": q.persons_merged,
    }


class Stopwatch:
    """Wall and CPU time and the peak resident size of one call, from its start (the
    peak is reset there, so loading the input does not count)."""

    def __init__(self) -> None:
        self.rss_before = status("VmRSS")
        reset_peak()
        self.cpu = resource.getrusage(resource.RUSAGE_SELF)
        self.started = time.perf_counter()

    def stop(self, records: int) -> dict[str, Any]:
        wall = time.perf_counter() - self.started
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "records": records,
            "seconds": round(wall, 2),
            "records_per_s": round(records / wall),
            "cpu_seconds": round(
                cpu.ru_utime + cpu.ru_stime - self.cpu.ru_utime - self.cpu.ru_stime, 1
            ),
            "rss_before_mib": self.rss_before // MIB,
            "peak_rss_mib": status("VmHWM") // MIB,
        }


# -- the library call: a first run, the incremental call, a full re-link ------------------


def _first_run(folder: str, share: float, seed: int) -> dict[str, Any]:
    data = load(Path(folder), clear=False)
    held = hold_back(data.tokens, share, seed)
    first = first_delivery(data.tokens, held)
    person = data.person[~np.concatenate(list(held.values()))]
    data.tokens = {}
    clock = Stopwatch()
    linkage = link(first, settings=ModelSettings())
    out = clock.stop(linkage.features.nodes)
    model = linkage.model
    return out | {
        "pairs_scored": model.pairs_scored,
        "quality": _quality(measure(linkage.labels, person)),
        "labels": linkage.labels,
        "model": {"splink": model.splink, "date_part_u": model.date_part_u},
    }


def _incremental(
    folder: str,
    share: float,
    seed: int,
    model: dict[str, Any],
    first_labels: npt.NDArray[np.int64],
) -> dict[str, Any]:
    data = load(Path(folder), clear=False)
    tables, original, late = arrange(data.tokens, hold_back(data.tokens, share, seed))
    # What the job derives from the previous run's keys: the first delivery's nodes
    # come first in each table, so they keep their order; an unlinked one is new.
    earlier = np.flatnonzero(~late)
    linked = first_labels >= 0
    new = late.copy()
    new[earlier[~linked]] = True
    kept = group_edges(first_labels[linked], earlier[linked])
    data.tokens = {}
    clock = Stopwatch()
    linkage = link(tables, settings=ModelSettings(), trained=model, new=new, kept=kept)
    out = clock.stop(len(late))
    labels = np.empty_like(linkage.labels)
    labels[original] = linkage.labels
    in_original = np.zeros(len(late), bool)
    in_original[original[new]] = True
    return out | {
        "new_records": int(new.sum()),
        "pairs_scored": linkage.model.pairs_scored,
        "link_seconds": {k: round(v, 2) for k, v in linkage.seconds.items()},
        "quality": _quality(measure(labels, data.person)),
        "labels": labels,
        "new": in_original,
    }


def _full(folder: str) -> dict[str, Any]:
    data = load(Path(folder), clear=False)
    clock = Stopwatch()
    linkage = link(data.tokens, settings=ModelSettings())
    out = clock.stop(data.records)
    return out | {
        "pairs_scored": linkage.model.pairs_scored,
        "link_seconds": {k: round(v, 2) for k, v in linkage.seconds.items()},
        "quality": _quality(measure(linkage.labels, data.person)),
        "labels": linkage.labels,
    }


def incremental(
    folder: Path, shares: list[float], seed: int, *, limit_mib: int = MEMORY_LIMIT_MIB
) -> dict[str, Any]:
    """Per share: the first run and the incremental call; once: the full re-link."""
    full = in_process(_full, str(folder), limit_mib=limit_mib)
    if "error" in full:
        return {"full": full}
    runs = []
    for share in shares:
        first = in_process(_first_run, str(folder), share, seed, limit_mib=limit_mib)
        if "error" in first:
            runs.append({"share": share, "error": first["error"]})
            continue
        inc = in_process(
            _incremental,
            str(folder),
            share,
            seed,
            first.pop("model"),
            first.pop("labels"),
            limit_mib=limit_mib,
        )
        if "error" in inc:
            runs.append({"share": share, "first": first, "error": inc["error"]})
            continue
        labels, new = inc.pop("labels"), inc.pop("new")
        agree = same_person(labels, full["labels"])
        inc["against_full"] = _quality(measure(labels, full["labels"]))
        inc["same_person_as_full"] = round(float(agree.mean()), 6)
        inc["same_person_as_full_new"] = round(float(agree[new].mean()), 6)
        runs.append({"share": share, "first": first, "incremental": inc})
    full.pop("labels")
    return {"full": full, "runs": runs}


def hub_settings(root: Path) -> Settings:
    """A hub on a SQLite database and a lake warehouse under ``root``."""
    return load_settings(
        data_dir=root,
        database_url=f"sqlite:///{root / 'hub.db'}",
        lake={"warehouse": str(root / "lake")},
    )


def land(lake: Catalog, source: Source, rows: pa.Table, *, at: datetime) -> None:
    """Append ``rows`` to ``bronze.<agency>__<dataset>`` (created on first use) with the
    lineage's ``_received_at``, as the linkage tests land tokenised tables."""
    rows = rows.append_column(
        RECEIVED, pa.array([at] * rows.num_rows, pa.timestamp("us", tz="UTC"))
    )
    name = bronze_identifier(source.agency, source.dataset)
    try:
        table = lake.load_table(name)
    except NoSuchTableError:
        table = lake.create_table(name, schema=rows.schema)
    table.append(rows.cast(table.schema().as_arrow()))


#: When the first delivery and the later one landed.
FIRST_LANDED = datetime(2026, 11, 1, tzinfo=UTC)


def _land(folder: str, root: str, share: float, seed: int, later: bool) -> dict[str, Any]:
    settings = hub_settings(Path(root))
    database(settings).dispose()  # migrated
    lake = lake_catalog(settings)
    data = load(Path(folder), clear=False)
    held = hold_back(data.tokens, share, seed)
    started = time.perf_counter()
    rows = 0
    for source, table in data.tokens.items():
        part = table.filter(pa.array(held[source] if later else ~held[source]))
        land(lake, source, part, at=FIRST_LANDED + timedelta(days=30 if later else 0))
        rows += part.num_rows
    return {"rows": rows, "seconds": round(time.perf_counter() - started, 2)}


def _persons_of(
    truth: Mapping[Source, tuple[pa.Array, npt.NDArray[np.int64]]],
    agency: pa.ChunkedArray,
    dataset: pa.ChunkedArray,
    record_id: pa.ChunkedArray,
) -> npt.NDArray[np.int64]:
    """The true person of each (agency, dataset, record id)."""
    persons = np.full(len(record_id), -1, np.int64)
    for source, (ids, person) in truth.items():
        here = pc.and_(pc.equal(agency, source.agency), pc.equal(dataset, source.dataset))
        rows = np.flatnonzero(here.to_numpy(zero_copy_only=False))
        found = pc.index_in(record_id.take(pa.array(rows)), value_set=ids)
        persons[rows] = person[found.to_numpy(zero_copy_only=False)]
    if (persons < 0).any():
        raise ValueError("a linked record is not in the population")
    return persons


def _link_alone(folder: str, root: str) -> dict[str, Any]:
    settings = hub_settings(Path(root))
    lake = lake_catalog(settings)
    engine = database(settings)
    with Session(engine) as session:
        model_settings = linkage_job(session, settings, actor="benchmark").settings
    engine.dispose()
    started = time.perf_counter()
    bronze = read_bronze(lake)
    read = time.perf_counter() - started
    clock = Stopwatch()
    linkage = link(bronze.tables, settings=model_settings)
    out = clock.stop(linkage.features.nodes)
    truth = record_truth(Path(folder))
    agency = pa.chunked_array(
        [pa.array([s.agency] * t.num_rows, pa.string()) for s, t in bronze.tables.items()]
    )
    dataset = pa.chunked_array(
        [pa.array([s.dataset] * t.num_rows, pa.string()) for s, t in bronze.tables.items()]
    )
    record_id = pa.chunked_array([t["record_id"] for t in bronze.tables.values()])
    persons = _persons_of(truth, agency, dataset, record_id)
    return out | {
        "read_bronze_seconds": round(read, 2),
        "pairs_scored": linkage.model.pairs_scored,
        "link_seconds": {k: round(v, 2) for k, v in linkage.seconds.items()},
        "quality": _quality(measure(linkage.labels, persons)),
    }


def _instrument_job(phases: Phases) -> None:
    """Time the job's steps (this process only: a spawned child)."""
    for owner, name, label in (
        (silver, "ensure_tables", "silver: open, set back"),
        (silver, "restore", "silver: open, set back"),
        (job_module, "read_bronze", "read bronze"),
        (job_module, "leave_out_withdrawn", "consent"),
        (job_module, "_node_order", "node order, decisions, previous keys"),
        (LinkageJob, "_decisions", "node order, decisions, previous keys"),
        (LinkageJob, "_previous_keys", "node order, decisions, previous keys"),
        (LinkageJob, "_incremental_plan", "incremental plan (appended rows)"),
        (job_module, "link", "link()"),
        (job_module, "assign_keys", "person keys"),
        (job_module, "_silver_rows", "silver rows"),
        (silver, "write", "silver: write"),
        (LinkageJob, "_record_keys", "database: keys and key events"),
        (LinkageJob, "_queue_review", "database: review queue"),
        (Session, "flush", "database: inserts (flush)"),
    ):
        phases.wrap(owner, name, label)


def _job_run(folder: str, root: str, incremental: bool) -> dict[str, Any]:
    settings = hub_settings(Path(root))
    engine = database(settings)
    phases = Phases()
    _instrument_job(phases)
    try:
        with Session(engine) as session:
            job = linkage_job(session, settings, actor="benchmark")
            with phases, phases.phase("the rest of the run"):
                clock = Stopwatch()
                run: LinkageRun = job.run(incremental=incremental)
                timed = clock.stop(int(run.counts["records"]))
            counts, snapshots, mode = dict(run.counts), dict(run.snapshots), run.mode
    finally:
        engine.dispose()
    links = _links(lake_catalog(settings), snapshots[silver.PERSON_LINKS])
    truth = record_truth(Path(folder))
    persons = _persons_of(truth, links["agency"], links["dataset"], links["record_id"])
    keys = pc.dictionary_encode(links["person_key"].combine_chunks()).indices.to_numpy()
    return timed | {
        "mode": mode,
        "links_snapshot": snapshots[silver.PERSON_LINKS],
        "pairs_scored": counts["pairs_scored"],
        "new_records": counts.get("new_records"),
        "full_because": counts.get("full_because"),
        "persons": counts["persons"],
        "key_changes": counts["key_changes"],
        "review_queued": counts["review_queued"],
        "link_seconds": counts["seconds"],
        "phases": phases.rows(),
        "silver_links": links.num_rows,
        "quality": _quality(measure(keys, persons)),
    }


def _links(lake: Catalog, snapshot: int) -> pa.Table:
    return (
        lake.load_table(silver.PERSON_LINKS)
        .scan(
            snapshot_id=snapshot,
            selected_fields=("agency", "dataset", "record_id", "person_key"),
        )
        .to_arrow()
    )


def _agreement(root: str, snapshot: int, reference: int) -> dict[str, Any]:
    """How far the person links of one run agree with another's (``reference``): by
    person (pairwise, and records whose person is exactly the same) and by key."""
    lake = lake_catalog(hub_settings(Path(root)))
    record = ["agency", "dataset", "record_id"]
    joined = (
        _links(lake, snapshot)
        .join(_links(lake, reference), keys=record, right_suffix="_reference")
        .select(["person_key", "person_key_reference"])
    )
    ours = pc.dictionary_encode(joined["person_key"].combine_chunks()).indices.to_numpy()
    theirs = pc.dictionary_encode(joined["person_key_reference"].combine_chunks()).indices
    reference_labels = theirs.to_numpy()
    same_key = pc.equal(joined["person_key"], joined["person_key_reference"])
    return {
        "records": joined.num_rows,
        "against": _quality(measure(ours, reference_labels)),
        "same_person": round(float(same_person(ours, reference_labels).mean()), 6),
        "same_key": round(float(pc.mean(same_key.cast(pa.float64())).as_py()), 6),
    }


def job(
    folder: Path, root: Path, share: float, seed: int, *, limit_mib: int = MEMORY_LIMIT_MIB
) -> dict[str, Any]:
    """The first delivery landed, ``link()`` alone and a full job run on it, the later
    delivery landed, an incremental run, a full run on all records."""
    out: dict[str, Any] = {"share": share}
    steps = (
        ("landed", _land, (str(folder), str(root), share, seed, False)),
        ("link_alone", _link_alone, (str(folder), str(root))),
        ("job_full", _job_run, (str(folder), str(root), False)),
        ("landed_later", _land, (str(folder), str(root), share, seed, True)),
        ("job_incremental", _job_run, (str(folder), str(root), True)),
        ("job_full_all", _job_run, (str(folder), str(root), False)),
    )
    for name, function, args in steps:
        out[name] = in_process(function, *args, limit_mib=limit_mib)
        if "error" in out[name]:
            return out
    out["incremental_against_full"] = in_process(
        _agreement,
        str(root),
        out["job_incremental"]["links_snapshot"],
        out["job_full_all"]["links_snapshot"],
        limit_mib=limit_mib,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incremental", action="store_true", help="the library call")
    parser.add_argument("--job", action="store_true", help="the whole linkage job")
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--shares", default="0.01,0.05", help="later deliveries (--incremental)")
    parser.add_argument("--share", type=float, default=0.01, help="later delivery (--job)")
    parser.add_argument("--hub", type=Path, help="hub folder to keep (--job; default temporary)")
    parser.add_argument("--workers", type=int, default=0, help="generation processes (cores)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where generated tables go")
    parser.add_argument("--memory-limit", type=int, default=MEMORY_LIMIT_MIB, help="MiB")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not (args.incremental or args.job):
        parser.error("say --incremental, --job or both")
    made = ensure(args.persons, args.seed, cache=args.cache, workers=args.workers)
    records = sum(made.meta["records"].values())
    print(
        f"population: {args.persons:,} persons -> {records:,} records "
        f"({'cached' if made.cached else 'generated'}: {made.folder.name})",
        flush=True,
    )
    out: dict[str, Any] = {"persons": args.persons, "seed": args.seed, "records": records}
    if args.incremental:
        shares = [float(s) for s in args.shares.split(",") if s.strip()]
        out["incremental"] = incremental(
            made.folder, shares, args.seed, limit_mib=args.memory_limit
        )
        print("\n".join(incremental_report(out["incremental"])), flush=True)
    if args.job:
        if args.hub:
            args.hub.mkdir(parents=True, exist_ok=False)
            out["job"] = job(
                made.folder, args.hub, args.share, args.seed, limit_mib=args.memory_limit
            )
        else:
            with tempfile.TemporaryDirectory(prefix="linkage-job-") as root:
                out["job"] = job(
                    made.folder, Path(root), args.share, args.seed, limit_mib=args.memory_limit
                )
        print("\n".join(job_report(out["job"])), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
