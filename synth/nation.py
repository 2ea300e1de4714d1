"""Making and extending a nation on disk, with its manifest.

Layout of a nation folder::

    manifest.json          seed, configuration, months generated
    sources/nso/           lfs/lfs_<YYYY>Q<q>.csv, business_register.csv
    sources/nis/nis.db     (or schema <prefix>nis in PostgreSQL)
    sources/dol/dol.db     (or schema <prefix>dol)
    sources/tvet/exports/<YYYY-MM>/{trainees,enrolments,certifications}.csv
    sources/jobboard/jobboard.db   (served by `lmis-hub synth serve-jobboard`)
    truth/                 links of records to true persons/employers, indicators.json
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from synth.agencies import files, sql
from synth.config import SynthConfig
from synth.errors import NationExists, NationNotFound, SynthConfigError
from synth.records import sql_batches
from synth.simulation import Nation, simulate
from synth.truth import write_truth

MANIFEST = "manifest.json"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Targets:
    """Where the SQL agencies live: SQLite files in the folder, or PostgreSQL schemas."""

    folder: Path
    database_url: str | None = None
    schema_prefix: str = "synth_"

    def schema(self, agency: str) -> str | None:
        return (
            f"{self.schema_prefix}{agency}" if self.database_url and agency != "jobboard" else None
        )

    def agency_url(self, agency: str) -> str:
        if agency == "jobboard" or not self.database_url:
            (self.folder / "sources" / agency).mkdir(parents=True, exist_ok=True)
            return sql.sqlite_url(self.folder / "sources", agency)
        return self.database_url


def _noop(_stage: str, _done: int, _total: int) -> None:
    return None


def read_manifest(folder: Path) -> dict[str, object]:
    path = folder / MANIFEST
    if not path.is_file():
        raise NationNotFound(f"{path}: no nation manifest here")
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


def manifest_config(manifest: dict[str, object]) -> SynthConfig:
    """The configuration a nation was made with. A manifest written before there were
    name pools gets the compact pools it drew from, so extending it keeps its persons."""
    config = manifest["config"]
    if not isinstance(config, dict):
        raise SynthConfigError("manifest.json: no configuration mapping")
    return SynthConfig.model_validate({"names": "compact", **config})


def _write_manifest(targets: Targets, config: SynthConfig, months: int) -> None:
    manifest = {
        "seed": config.seed,
        "months_generated": months,
        "periods": [f"{config.first_month:%Y-%m}", months],
        "config": config.model_dump(mode="json"),
        "database": "postgresql" if targets.database_url else "sqlite",
        "schema_prefix": targets.schema_prefix if targets.database_url else None,
    }
    (targets.folder / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


Counts = dict[str, int]


@dataclass(frozen=True)
class Stage:
    """One writer of :func:`make`: an agency's source (``nis``, ``dol``, ``jobboard``,
    ``tvet``, ``nso``) or the ``truth``; ``run`` returns the records it wrote per
    ``agency.table`` (or ``truth.<file>``)."""

    name: str
    run: Callable[[], Counts]


def stages(nation: Nation, targets: Targets) -> list[Stage]:
    """What :func:`make` writes once the nation is simulated, in order."""
    last = nation.months - 1
    sources = targets.folder / "sources"

    def database(agency: str) -> Stage:
        def run() -> Counts:
            tables = {t: sql_batches(nation, agency, t, last) for t in sql.TABLES[agency]}
            url, schema = targets.agency_url(agency), targets.schema(agency)
            written = sql.write_tables(url, agency, tables, schema=schema)
            return {f"{agency}.{t}": n for t, n in written.items()}

        return Stage(agency, run)

    def tvet() -> Counts:
        columns = files.tvet_columns(nation)
        out: Counts = {}
        for m in range(nation.months):
            for table, n in files.tvet_month(nation, sources / "tvet", m, columns).items():
                out[f"tvet.{table}"] = out.get(f"tvet.{table}", 0) + n
        return out

    def nso() -> Counts:
        out = {"nso.business_register": files.business_register(nation, sources / "nso")}
        out["nso.lfs"] = sum(
            files.lfs_quarter(nation, sources / "nso", q) for q in range(nation.months // 3)
        )
        return out

    return [
        *(database(agency) for agency in sql.TABLES),
        Stage("tvet", tvet),
        Stage("nso", nso),
        Stage("truth", lambda: write_truth(nation, targets.folder / "truth")),
    ]


def make(
    config: SynthConfig, targets: Targets, *, overwrite: bool = False, progress: Progress = _noop
) -> Nation:
    """Generate ``config.months`` months and write every agency's source and the truth."""
    folder = targets.folder
    if (folder / MANIFEST).exists():
        if not overwrite:
            raise NationExists(f"{folder}: already holds a nation")
        shutil.rmtree(folder / "sources", ignore_errors=True)
        shutil.rmtree(folder / "truth", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    nation = simulate(
        config, config.months, on_month=lambda m: progress("simulate", m + 1, config.months)
    )
    writers = stages(nation, targets)
    for i, stage in enumerate(writers):
        stage.run()
        progress("write sources and truth", i + 1, len(writers))
    _write_manifest(targets, config, nation.months)
    return nation


def extend(folder: Path, *, database_url: str | None = None, progress: Progress = _noop) -> Nation:
    """Add the next month: new rows, status updates and late corrections, as the
    agencies would have written them during that month."""
    manifest = read_manifest(folder)
    config = manifest_config(manifest)
    months = int(manifest["months_generated"]) + 1  # type: ignore[call-overload]
    prefix = manifest.get("schema_prefix") or "synth_"
    if manifest.get("database") == "postgresql" and not database_url:
        raise SynthConfigError(
            f"{folder / MANIFEST}: this nation keeps NIS and DoL in PostgreSQL; "
            "give the same --database-url as to make"
        )
    targets = Targets(folder, database_url, str(prefix))
    nation = simulate(config, months, on_month=lambda m: progress("simulate", m + 1, months))
    m = months - 1
    for agency in sql.TABLES:
        tables = {t: sql_batches(nation, agency, t, m, only_month=m) for t in sql.TABLES[agency]}
        sql.write_tables(targets.agency_url(agency), agency, tables, schema=targets.schema(agency))
    files.tvet_month(nation, folder / "sources" / "tvet", m, files.tvet_columns(nation))
    if months % 3 == 0:
        files.lfs_quarter(nation, folder / "sources" / "nso", months // 3 - 1)
    write_truth(nation, folder / "truth")
    _write_manifest(targets, config.model_copy(update={"months": months}), months)
    return nation
