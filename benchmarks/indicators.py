"""The indicator package on a synthetic nation: building a release (every definition's
sources read from the lake, computed, protected, appended to ``gold.indicators`` and
recorded), the computation alone, and publishing it as SDMX, against a plain DuckDB
read of the same source files, in the same run.

    .venv/bin/python -m benchmarks.indicators [--persons 1000000] [--seed 20240101]
        [--cache DIR] [--memory-limit 7168] [--json FILE]

The input is a hub as the demo leaves it, made without Kafka: the synthetic nation
(:func:`synth.nation.make`, 24 months); the demo's parties (agencies, keys, the five
agreements in force: :func:`hub_api.demo.parties.ensure_parties`); every agency
connector of ``connectors/agencies/`` reading its source, mapping, validating and
tokenising as `connector run` does (the demo's deployed configs, the job board's API
served), its records appended straight to ``bronze.<agency>__<dataset>`` with their
lineage (no envelope, broker or ingest worker, so the tokens stay under the connectors'
linkage key); then one linkage job run (bronze in, silver out), wired as `lmis-hub
linkage run` wires it. That hub (database, keys, lake) is made once per size and seed
and cached under ``.lmis-hub/bench-cache/``; each run copies its database and keys to
a temporary folder and reads the cached lake files where they are (nothing here writes
to bronze or silver; the release's gold table is written in the temporary folder).

Then, each in a fresh spawned process (wall and CPU time, peak resident size from the
call's start, the size before it; :mod:`benchmarks.processes`):

1. **plain scan** (the baseline): per source table of the package, the live Parquet
   files of the snapshot the build reads (bronze current, silver at the last committed
   linkage run) read by DuckDB into Arrow, every column the package reads (all but the
   tokens); finding the files in the Iceberg metadata is not timed;
2. **build**: ``ReleaseService.build`` through :func:`hub_api.wiring.indicator_releases`
   as `lmis-hub indicators build` runs it (the wiring and the final commit included),
   timed by step (reading each source, each definition's computation, the agreement
   lineage, the gold write);
3. **compute only**: :func:`integration.indicators.compute.compute` on the same tables,
   read before the clock starts, timed per definition;
4. **publish**: ``ReleaseService.publish`` of the built release as `lmis-hub
   indicators publish` runs it (SDMX structure and data files, the signed manifest).

The per-step and per-definition times come from wrapping the functions for this run
only (:class:`benchmarks.processes.Phases`); the production code is unchanged.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from sqlalchemy.orm import Session

import synth
from benchmarks.indicators_report import report
from benchmarks.linkage_job import Stopwatch, hub_settings
from benchmarks.linkage_population import CACHE
from benchmarks.processes import MEMORY_LIMIT_MIB, Phases, in_process
from connectors.sdk.config import ConnectorConfig
from connectors.sdk.kit import ConnectorKit
from connectors.sdk.state import StateDB
from hub_api.demo.connectors import agency_config_files, demo_kit, deploy, jobboard_api
from hub_api.demo.parties import demo_secrets, ensure_link_key, ensure_parties
from hub_api.wiring import (
    database,
    governance_in_steps,
    governance_session,
    indicator_releases,
    lake_catalog,
    linkage_job,
    schema_catalog,
)
from integration.indicators import compute as compute_module
from integration.indicators import lake_input
from integration.indicators import release as release_module
from integration.indicators.compute import compute
from integration.indicators.definition import Definition, load_definitions
from integration.indicators.lake_input import committed_silver_snapshots, read_sources
from integration.indicators.sources import source_schema
from integration.lake.bronze import LakeBatch, Lineage, append_batches, ensure_bronze_table
from lmis_hub.settings import Settings
from synth import nation as synth_nation
from synth.config import load_config

#: Bump when the hub this module makes changes, so older caches are not read.
FORMAT = 1
ACTOR = "benchmark"
#: Records appended to a bronze table per lake commit while the hub is made.
COMMIT_RECORDS = 250_000
REPOSITORY = Path(__file__).resolve().parents[1]


# -- the hub: a nation landed in bronze and linked ---------------------------------------


def cache_key(persons: int, seed: int) -> str:
    """What the hub depends on: this module's format, the persons, the seed, the synth
    configuration and name files, the agency connector configs and the schemas."""
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, persons, seed]).encode())
    digest.update(load_config(None, persons=persons, seed=seed).model_dump_json().encode())
    files = [
        *sorted((Path(synth.__file__).parent / "data").glob("*names*.csv")),
        *agency_config_files(),
        *sorted((REPOSITORY / "schemas" / "avro").rglob("*.avsc")),
    ]
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    return f"indicators-n{persons}-s{seed}-{digest.hexdigest()[:12]}"


def settings_of(root: Path) -> Settings:
    """The hub under ``root`` (SQLite database, lake warehouse, the demo's keys), with
    the key-encryption key the demo keeps there (publishing signs with the hub key)."""
    settings = hub_settings(root)
    return settings.model_copy(update={"key_encryption_key": demo_secrets(settings).kek})


def _make_nation(folder: str, persons: int, seed: int) -> dict[str, Any]:
    clock = Stopwatch()
    synth_nation.make(
        load_config(None, persons=persons, seed=seed), synth_nation.Targets(Path(folder))
    )
    return clock.stop(persons)


def _land_dataset(
    lake: Catalog, kit: ConnectorKit, config: ConnectorConfig, received: datetime
) -> dict[str, Any]:
    """One connector's batches, built as `connector run` builds them (nothing stored or
    sent), appended to its bronze table with their lineage, some batches a commit."""
    started = time.perf_counter()
    assert config.agreement_id is not None
    schema = config.schema_version()
    table = ensure_bronze_table(
        lake,
        agency=config.agency,
        dataset=config.dataset,
        avro_schema=dict(schema.raw),
        event_date_field=schema.event_date_field,
    )
    records = refused = waiting = 0
    pending: list[LakeBatch] = []
    state = StateDB.open(config.state_db_path)
    try:
        for batch in kit.pipeline(config, state).batches(None):
            refused += len(batch.refusals)
            if not batch.records:
                continue
            lineage = Lineage(
                batch.batch_id,
                config.agreement_id,
                config.agreement_version,
                schema.fingerprint_hex,
                received,
            )
            pending.append(LakeBatch(batch.records, lineage))
            records, waiting = records + len(batch.records), waiting + len(batch.records)
            if waiting >= COMMIT_RECORDS:
                append_batches(table, pending)
                pending, waiting = [], 0
        if pending:
            append_batches(table, pending)
    finally:
        state.close()
    seconds = round(time.perf_counter() - started, 1)
    return {"records": records, "refused": refused, "seconds": seconds}


def _land(scratch: str, root: str) -> dict[str, Any]:
    """The demo's parties, then every agency connector's records appended to bronze."""
    settings = settings_of(Path(root))
    secrets = demo_secrets(settings)
    engine = database(settings)
    try:
        with Session(engine) as session, session.begin():
            ensure_parties(session, secrets)
    finally:
        engine.dispose()
    kit = demo_kit(
        link_key=ensure_link_key(secrets), signing_passphrase=secrets.passphrase, settings=settings
    )
    lake = lake_catalog(settings)
    nation, received = Path(scratch) / "nation", datetime.now(UTC)
    clock = Stopwatch()
    datasets: dict[str, dict[str, Any]] = {}
    with jobboard_api(nation) as jobboard_url:
        for path in agency_config_files():
            _, config = deploy(
                path,
                data_dir=Path(scratch),
                nation=nation,
                bootstrap="unused:9092",  # nothing is sent
                jobboard_url=jobboard_url,
            )
            datasets[f"{config.agency}/{config.dataset}"] = _land_dataset(
                lake, kit, config, received
            )
    total = sum(d["records"] for d in datasets.values())
    return clock.stop(total) | {"datasets": datasets}


def _link(root: str) -> dict[str, Any]:
    settings = settings_of(Path(root))
    engine = database(settings)
    try:
        with Session(engine) as session:
            clock = Stopwatch()
            run = linkage_job(session, settings, actor=ACTOR).run()
            counts = dict(run.counts)
            out = clock.stop(int(counts["records"]))
    finally:
        engine.dispose()
    return out | {"persons": counts["persons"], "link_seconds": counts["seconds"]}


@dataclass
class Hub:
    """A cached hub folder and what making it took."""

    folder: Path
    meta: dict[str, Any]
    cached: bool


def _step(name: str, result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        raise SystemExit(f"making the hub failed at {name}:\n{result['error']}")
    print(f"  {name}: {result['seconds']:,.1f} s, peak {result['peak_rss_mib']:,} MiB", flush=True)
    return result


def ensure_hub(persons: int, seed: int, *, cache: Path, limit_mib: int) -> Hub:
    """The cached hub of ``persons`` and ``seed``, made first if absent. The lake's
    metadata names its files by absolute path, so the hub is made in its final folder
    and ``meta.json`` is written last: a folder without it is made again."""
    folder = cache / cache_key(persons, seed)
    meta_file = folder / "meta.json"
    if meta_file.exists():
        return Hub(folder, json.loads(meta_file.read_text(encoding="utf-8")), True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"making the hub in {folder.name}:", flush=True)
    meta: dict[str, Any] = {"format": FORMAT, "persons": persons, "seed": seed}
    with tempfile.TemporaryDirectory(prefix="indicators-nation-") as scratch:
        nation = str(Path(scratch) / "nation")
        meta["nation"] = _step(
            "nation", in_process(_make_nation, nation, persons, seed, limit_mib=limit_mib)
        )
        meta["landing"] = _step(
            "connectors to bronze", in_process(_land, scratch, str(folder), limit_mib=limit_mib)
        )
    meta["linkage"] = _step("linkage", in_process(_link, str(folder), limit_mib=limit_mib))
    meta["made_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta_file.write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return Hub(folder, meta, False)


def run_copy(hub: Path, root: Path) -> None:
    """The hub's database and keys in ``root``; its lake files stay where they are."""
    shutil.copy2(hub / "hub.db", root / "hub.db")
    shutil.copytree(hub / "keys", root / "keys")


# -- what the package reads ---------------------------------------------------------------


def _definitions(settings: Settings) -> list[Definition]:
    return [d for d in load_definitions(schemas=schema_catalog(settings)) if d.computable]


def package_sources(root: Path) -> dict[str, int]:
    """Each source table of the computable definitions and the snapshot a build reads:
    bronze at its current snapshot, silver at the last committed linkage run's."""
    settings = settings_of(root)
    lake = lake_catalog(settings)
    names = {s for d in _definitions(settings) for s in d.sources}
    engine = database(settings)
    try:
        with Session(engine) as session:
            snapshots = committed_silver_snapshots(session)
    finally:
        engine.dispose()
    for name in sorted(names - snapshots.keys()):
        current = lake.load_table(name).current_snapshot()
        if current is not None:
            snapshots[name] = current.snapshot_id
    return {name: snapshots[name] for name in sorted(names) if name in snapshots}


def _plain_scan(root: str, snapshots: dict[str, int]) -> dict[str, Any]:
    """DuckDB reading the live Parquet files of each source into Arrow."""
    settings = settings_of(Path(root))
    lake, schemas = lake_catalog(settings), schema_catalog(settings)
    plans = {}
    for name, snapshot_id in snapshots.items():
        table = lake.load_table(name)
        tasks = list(table.scan(snapshot_id=snapshot_id).plan_files())
        if any(task.delete_files for task in tasks):
            raise ValueError(f"{name} has delete files: a plain scan would read other rows")
        present = {f.name for f in table.schema().fields}
        columns = [f.name for f in source_schema(name, schemas=schemas) if f.name in present]
        paths = [task.file.file_path.removeprefix("file://") for task in tasks]
        plans[name] = (paths, columns, sum(task.file.file_size_in_bytes for task in tasks))
    con = duckdb.connect(":memory:")
    con.execute("SET threads TO 2")  # as the package's workspace
    tables: dict[str, dict[str, Any]] = {}
    kept: list[pa.Table] = []  # held to the end, as the package holds its inputs
    clock = Stopwatch()
    for name, (paths, columns, size) in plans.items():
        started = time.perf_counter()
        selected = ", ".join(f'"{c}"' for c in columns)
        data = con.sql(f"SELECT {selected} FROM read_parquet(?)", params=[paths]).to_arrow_table()
        seconds = time.perf_counter() - started
        kept.append(data)
        tables[name] = {
            "rows": data.num_rows,
            "columns": len(columns),
            "files": len(paths),
            "mb": round(size / 1e6, 1),
            "seconds": round(seconds, 3),
        }
    out = clock.stop(sum(t.num_rows for t in kept))
    con.close()
    return out | {"tables": tables}


# -- the package: build, compute only, publish ----------------------------------------------


def _time_each(
    phases: Phases,
    owner: Any,
    name: str,
    label: Callable[..., str],
    rows: dict[str, int],
    count: Callable[[Any], int],
) -> None:
    """Time every call of ``owner.name`` as a phase named by ``label(*args)``, keeping
    ``count(result)`` under that label."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        labelled = label(*args)
        with phases.phase(labelled):
            result = original(*args, **kwargs)
        rows[labelled] = count(result)
        return result

    setattr(owner, name, timed)


def _per_definition(phases: Phases, rows: dict[str, int]) -> None:
    _time_each(
        phases,
        compute_module,
        "compute_one",
        lambda definition, *_: f"indicator {definition.id}",
        rows,
        lambda observations: int(observations.num_rows),
    )


def _build(root: str) -> dict[str, Any]:
    settings = settings_of(Path(root))
    phases = Phases()
    rows: dict[str, int] = {}
    _time_each(
        phases,
        lake_input,
        "read_source",
        lambda _lake, name, *_: f"read {name}",
        rows,
        lambda result: int(result[0].num_rows),
    )
    _per_definition(phases, rows)
    for name, label in (
        ("read_package_input", "sources: the rest of reading"),
        ("compute", "compute (workspace, concatenate, sort)"),
        ("agreement_versions", "agreement lineage"),
        ("append_release", "gold write"),
    ):
        phases.wrap(release_module, name, label)
    clock = Stopwatch()
    # As `lmis-hub indicators build` runs it: the services wired, the build, the commit.
    with (
        phases,
        phases.phase("wiring, database, the rest"),
        governance_in_steps(settings, actor=ACTOR) as gov,
    ):
        row = indicator_releases(gov).build(actor=ACTOR)
        built = {
            "release": row.id,
            "observations": row.observations,
            "indicators": len(row.indicators),
            "withheld": dict(row.withheld),
            "snapshots": dict(row.snapshots),
        }
    read = sum(n for label, n in rows.items() if label.startswith("read "))
    return clock.stop(read) | built | {"phases": phases.rows(), "rows": rows}


def _compute(root: str, snapshots: dict[str, int]) -> dict[str, Any]:
    settings = settings_of(Path(root))
    definitions = [d for d in _definitions(settings) if set(d.sources) <= snapshots.keys()]
    started = time.perf_counter()
    inputs = read_sources(
        lake_catalog(settings),
        snapshots,
        schemas=schema_catalog(settings),
        snapshots=snapshots,
    )
    read = time.perf_counter() - started
    phases = Phases()
    rows: dict[str, int] = {}
    _per_definition(phases, rows)
    with phases, phases.phase("workspace, concatenate, sort"):
        clock = Stopwatch()
        observations = compute(definitions, inputs.tables)
        out = clock.stop(sum(t.num_rows for t in inputs.tables.values()))
    sources = {d.id: list(d.sources) for d in definitions}
    input_rows = {d.id: sum(inputs.tables[s].num_rows for s in d.sources) for d in definitions}
    return out | {
        "read_seconds": round(read, 2),
        "observations": observations.num_rows,
        "phases": phases.rows(),
        "rows": rows,
        "sources": sources,
        "input_rows": input_rows,
    }


def _publish(root: str, release_id: str) -> dict[str, Any]:
    settings = settings_of(Path(root))
    phases = Phases()
    for name, label in (
        ("withheld_indicators", "agreements in force"),
        ("read_release", "read gold"),
        ("sdmx_files", "SDMX files"),
        ("signed", "manifest signature"),
        ("write_folder", "write the folder"),
    ):
        phases.wrap(release_module, name, label)
    clock = Stopwatch()
    # As `lmis-hub indicators publish` runs it: one transaction, committed at the end.
    with (
        phases,
        phases.phase("wiring, database, the rest"),
        governance_session(settings, actor=ACTOR) as gov,
    ):
        row = indicator_releases(gov).publish(release_id, actor=ACTOR)
        observations, withheld = row.observations, dict(row.withheld)
        folder = settings.publication_dir / str(row.folder)
    out = clock.stop(observations)
    files = [p for p in folder.rglob("*") if p.is_file()]
    return out | {
        "files": len(files),
        "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "withheld": withheld,
        "phases": phases.rows(),
    }


def measure(hub: Path, *, limit_mib: int = MEMORY_LIMIT_MIB) -> dict[str, Any]:
    """The plain scan, the build, compute only and publish, on a copy of ``hub``."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="indicators-run-") as scratch:
        root = Path(scratch)
        run_copy(hub, root)
        snapshots = package_sources(root)
        out["snapshots"] = snapshots
        steps: tuple[tuple[str, Callable[..., dict[str, Any]], tuple[Any, ...]], ...] = (
            ("plain_scan", _plain_scan, (str(root), snapshots)),
            ("build", _build, (str(root),)),
            ("compute", _compute, (str(root), snapshots)),
        )
        for name, function, args in steps:
            out[name] = in_process(function, *args, limit_mib=limit_mib)
            if "error" in out[name]:
                return out
        release = out["build"]["release"]
        out["publish"] = in_process(_publish, str(root), release, limit_mib=limit_mib)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where made hubs are kept")
    parser.add_argument("--memory-limit", type=int, default=MEMORY_LIMIT_MIB, help="MiB")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    hub = ensure_hub(args.persons, args.seed, cache=args.cache, limit_mib=args.memory_limit)
    out = {"persons": args.persons, "seed": args.seed, "hub": hub.meta, "cached": hub.cached}
    out |= measure(hub.folder, limit_mib=args.memory_limit)
    print("\n".join(report(out)), flush=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
