"""Every agency connector reads exactly the next month after `synth extend`: new rows,
status moves and late corrections, the month's TVET export and the quarter's LFS file,
and nothing it has already sent."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from synth import nation as nation_mod
from synth.config import load_config as load_synth_config
from synth.jobboard_api import JobBoardServer, serve
from tests.connectors.agencies.deployment import agency_config_files
from tests.connectors.agencies.test_agency_connectors import World, run_connector

NEW_MONTH = "2024-12-01"  # an 11-month nation from 2024-01, extended by one month

#: dataset -> (agency database, table) of the SQL and HTTP sources.
TABLES = {
    "nis/insured_person": ("nis", "insured_persons"),
    "nis/employer": ("nis", "employers"),
    "nis/contribution": ("nis", "contributions"),
    "nis/benefit_claim": ("nis", "benefit_claims"),
    "dol/complaint": ("dol", "complaints"),
    "dol/dispute": ("dol", "disputes"),
    "dol/inspection": ("dol", "inspections"),
    "dol/osh_accident": ("dol", "osh_accidents"),
    "jobboard/vacancy": ("jobboard", "vacancies"),
    "jobboard/jobseeker": ("jobboard", "jobseekers"),
    "jobboard/placement": ("jobboard", "placements"),
}
#: dataset -> the file the extension writes (relative to the nation's sources).
FILES = {
    "tvet/trainee": "tvet/exports/2024-12/trainees.csv",
    "tvet/enrolment": "tvet/exports/2024-12/enrolments.csv",
    "tvet/certification": "tvet/exports/2024-12/certifications.csv",
    "nso/lfs_person": "nso/lfs/lfs_2024Q4.csv",
    "nso/business_register": None,  # not re-issued by an extension
}


@dataclass
class Runs:
    first: dict[str, int]
    second: dict[str, int]
    nation: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    folder = tmp_path_factory.mktemp("nation")
    state = tmp_path_factory.mktemp("state")
    cfg = load_synth_config(None, persons=1500, seed=3, months=11)
    nation_mod.make(cfg, nation_mod.Targets(folder, None, "synth_"))
    db = folder / "sources" / "jobboard" / "jobboard.db"
    first: dict[str, int] = {}
    second: dict[str, int] = {}
    for runs in (first, second):
        if runs is second:
            nation_mod.extend(folder)
        server: JobBoardServer = serve(db, "127.0.0.1", 0)
        server.start_background()
        try:
            world = World(folder, server.url)
            for path in agency_config_files():
                name = f"{path.parent.name}/{path.stem}"
                run = run_connector(path, world, state / name.replace("/", "_"))
                assert run.report.refusals == [], (name, run.report.refusals[:3])
                runs[name] = run.report.rows_read
        finally:
            server.stop()
    yield Runs(first, second, folder)


def expected_new_rows(nation: Path, name: str) -> int:
    if name in TABLES:
        agency, table = TABLES[name]
        with sqlite3.connect(nation / "sources" / agency / f"{agency}.db") as conn:
            (count,) = conn.execute(
                f"SELECT count(*) FROM {table} WHERE updated_at >= ?", (NEW_MONTH,)
            ).fetchone()
        return int(count)
    relative = FILES[name]
    if relative is None:
        return 0
    with (nation / "sources" / relative).open(encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))


def test_the_first_run_reads_the_eleven_months(runs: Runs) -> None:
    assert set(runs.first) == set(TABLES) | set(FILES)
    assert runs.first["nis/contribution"] > 1000 and runs.first["nso/lfs_person"] > 100


@pytest.mark.parametrize("name", sorted(set(TABLES) | set(FILES)))
def test_the_second_run_reads_exactly_the_new_month(runs: Runs, name: str) -> None:
    assert runs.second[name] == expected_new_rows(runs.nation, name)


def test_the_new_month_brings_rows_of_every_busy_kind(runs: Runs) -> None:
    busy = ("nis/contribution", "nso/lfs_person", "jobboard/vacancy", "nis/insured_person")
    assert all(runs.second[name] > 0 for name in busy), runs.second
