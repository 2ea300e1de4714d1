"""The package computed from a real lake against the synthetic nation's truth.

Administrative counts must equal, exactly, what the agencies' own source files hold
(counted here independently, with SQL over the source databases and the CSV exports);
survey estimates must lie within three standard errors of the nation's true rates,
with errors of a plausible size; the linked TVET rate may differ from the truth only
by what the linkage's measured errors can move.
"""

from __future__ import annotations

import csv
import math
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy.orm import Session

from governance.db import make_engine
from integration.indicators.compute import observations_schema
from integration.indicators.definition import Definition
from integration.indicators.dimensions import TOTAL
from integration.linkage import silver
from integration.linkage.job import last_committed
from lmis_hub.settings import Settings
from tests.integration.indicators.nation import Nation
from tests.integration.indicators.tables import total

T = TOTAL


def totals(nation: Nation, package: dict[str, Definition], indicator: str) -> pa.Table:
    """The indicator's grand-total cells before disclosure control, by period."""
    return total(nation.cells[indicator], package[indicator].dimension_names)


def by_period(table: pa.Table, column: str = "obs_value") -> dict[str, float]:
    return dict(zip(table["time_period"].to_pylist(), table[column].to_pylist(), strict=True))


def source_counts(database: Path, sql: str) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        return {str(period): int(n) for period, n in conn.execute(sql)}


def quarter(column: str) -> str:
    return (
        f"substr({column}, 1, 4) || '-Q' || "
        f"CAST((CAST(substr({column}, 6, 2) AS INTEGER) + 2) / 3 AS TEXT)"
    )


def exported(nation: Nation, table: str) -> Iterable[dict[str, str]]:
    """Every row of a TVET export, the last version of each record only."""
    latest: dict[str, dict[str, str]] = {}
    key = {
        "enrolments": "enrolment_no",
        "certifications": "certificate_no",
        "trainees": "trainee_id",
    }
    for path in sorted((nation.folder / "sources" / "tvet" / "exports").glob(f"*/{table}.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                latest[row[key[table]]] = row
    return latest.values()


def test_lfs_estimates_are_within_their_sampling_error_of_the_truth(
    nation: Nation, package: dict[str, Definition]
) -> None:
    truth = nation.truth["quarters"]
    pairs = {
        "lfs_unemployment_rate": "unemployment_rate",
        "lfs_employment_to_population": "employment_to_population",
        "lfs_lu3": "combined_unemployment_and_potential_lf",
    }
    checked = 0
    for indicator, key in pairs.items():
        cells = totals(nation, package, indicator)
        for row in cells.to_pylist():
            period = row["time_period"].replace("-", "")  # 2024-Q1 -> 2024Q1
            true = 100 * truth[period][key]
            estimate, error, n = row["obs_value"], row["standard_error"], row["contributors"]
            assert abs(estimate - true) <= 3 * error, (indicator, period, estimate, true, error)
            # Positive and of the size a simple random sample of n respondents gives
            # (weights vary between regions only: the design effect stays small).
            p = estimate / 100
            srs = 100 * math.sqrt(p * (1 - p) / n)
            assert 0.5 * srs <= error <= 2 * srs, (indicator, period, error, srs)
            checked += 1
    assert checked == 3 * len(truth) == 24


def test_lfs_national_figures_are_published(nation: Nation) -> None:
    out = nation.observations
    national = out.filter(
        pc.and_(
            pc.equal(out["indicator"], "lfs_unemployment_rate"),
            pc.and_(
                pc.equal(out["sex"], T),
                pc.and_(pc.equal(out["age_group"], T), pc.equal(out["region"], T)),
            ),
        )
    )
    assert national.num_rows == 8
    assert set(national["conf_status"].to_pylist()) == {"F"}
    assert national["standard_error"].null_count == 0


@pytest.mark.parametrize(
    ("indicator", "database", "sql"),
    [
        (
            "jobboard_vacancies",
            "jobboard/jobboard.db",
            "SELECT substr(posted_on, 1, 7), count(*) FROM vacancies GROUP BY 1",
        ),
        (
            "jobboard_jobseeker_registrations",
            "jobboard/jobboard.db",
            "SELECT substr(registered_on, 1, 7), count(*) FROM jobseekers GROUP BY 1",
        ),
        (
            "jobboard_placements",
            "jobboard/jobboard.db",
            "SELECT substr(start_date, 1, 7), count(*) FROM placements GROUP BY 1",
        ),
        (
            "dol_complaints_received",
            "dol/dol.db",
            f"SELECT {quarter('opened_on')}, count(*) FROM complaints GROUP BY 1",
        ),
        (
            "dol_complaints_resolved",
            "dol/dol.db",
            f"SELECT {quarter('opened_on')}, count(*) FROM complaints "
            "WHERE status = 'resolved' GROUP BY 1",
        ),
        (
            "dol_disputes_received",
            "dol/dol.db",
            f"SELECT {quarter('opened_on')}, count(*) FROM disputes GROUP BY 1",
        ),
        (
            "dol_disputes_resolved",
            "dol/dol.db",
            f"SELECT {quarter('opened_on')}, count(*) FROM disputes "
            "WHERE status IN ('settled', 'withdrawn') GROUP BY 1",
        ),
        (
            "dol_inspections",
            "dol/dol.db",
            f"SELECT {quarter('opened_on')}, count(*) FROM inspections GROUP BY 1",
        ),
        (
            "nis_new_registrations",
            "nis/nis.db",
            "SELECT substr(registered_on, 1, 7), count(*) FROM insured_persons "
            "WHERE registered_on >= (SELECT min(period) || '-01' FROM contributions) GROUP BY 1",
        ),
    ],
)
def test_administrative_counts_equal_the_agencies_records(
    nation: Nation, package: dict[str, Definition], indicator: str, database: str, sql: str
) -> None:
    expected = source_counts(nation.folder / "sources" / database, sql)
    got = by_period(totals(nation, package, indicator))
    assert got == {period: float(n) for period, n in expected.items()}
    assert sum(expected.values()) > 0 or indicator.startswith("dol_disputes")


def test_tvet_counts_equal_the_exports_by_field_and_sex(
    nation: Nation, package: dict[str, Definition]
) -> None:
    sexes = {row["trainee_id"]: row["sex"] for row in exported(nation, "trainees")}
    for indicator, table, dated in (
        ("tvet_enrolments", "enrolments", "start_date"),
        ("tvet_certifications", "certifications", "awarded_on"),
    ):
        rows = list(exported(nation, table))
        expected: Counter[tuple[str, str, str]] = Counter()
        for row in rows:
            year, field, sex = row[dated][:4], row["programme_code"][:3], sexes[row["trainee_id"]]
            for f in (field, T):
                for s in (sex, T):
                    expected[(year, f, s)] += 1
        cells = nation.cells[indicator]
        got = {
            (p, f, s): v
            for p, f, s, v in zip(
                *(cells[c].to_pylist() for c in ("time_period", "field", "sex", "obs_value")),
                strict=True,
            )
        }
        assert got == {k: float(v) for k, v in expected.items()}, indicator
        assert len(rows) > 20


def test_accidents_per_insured_count_every_accident_of_the_covered_years(
    nation: Nation, package: dict[str, Definition]
) -> None:
    sources = nation.folder / "sources"
    accidents = source_counts(
        sources / "dol/dol.db",
        "SELECT substr(opened_on, 1, 4), count(*) FROM osh_accidents GROUP BY 1",
    )
    insured = source_counts(
        sources / "nis/nis.db",
        "SELECT substr(period, 1, 4), count(*) FROM "
        "(SELECT DISTINCT nis_number, period FROM contributions) GROUP BY 1",
    )
    months = source_counts(
        sources / "nis/nis.db",
        "SELECT substr(period, 1, 4), count(DISTINCT period) FROM contributions GROUP BY 1",
    )
    cells = totals(nation, package, "dol_accidents_per_1000_insured")
    numerator, denominator = by_period(cells, "numerator"), by_period(cells, "denominator")
    assert set(denominator) == set(months)
    for year in months:
        assert numerator.get(year, 0.0) == accidents.get(year, 0)
        # Persons are person keys: without false merges, one per NIS number.
        assert denominator[year] == pytest.approx(insured[year] / months[year])
        if numerator.get(year):
            rate = by_period(cells)[year]
            assert rate == pytest.approx(1000 * numerator[year] / denominator[year])


def test_insured_employment_counts_persons_as_the_linkage_joins_them(
    nation: Nation, package: dict[str, Definition]
) -> None:
    expected = source_counts(
        nation.folder / "sources/nis/nis.db",
        "SELECT period, count(DISTINCT nis_number) FROM contributions GROUP BY 1",
    )
    got = by_period(totals(nation, package, "nis_insured_employment"))
    merged = nation.quality["persons_merged"]
    assert set(got) == set(expected) and len(got) == 24
    for period, persons in expected.items():
        # Contributions join persons by the NIS number's token: only a false merge of
        # two persons could count one for two.
        assert persons - merged <= got[period] <= persons, period
    earnings = totals(nation, package, "nis_average_insurable_earnings")
    assert min(earnings["obs_value"].to_pylist()) > 1000


def test_the_linked_tvet_rate_is_the_truth_within_the_linkage_s_errors(
    nation: Nation, package: dict[str, Definition]
) -> None:
    truth = nation.truth["tvet_graduates_insured_within_6_months"]
    cells = totals(nation, package, "tvet_certified_insured_6m")
    graduates = sum(cells["denominator"].to_pylist())
    insured = sum(cells["numerator"].to_pylist())
    # The cohort (awards with six covered months after) needs no linkage: exact.
    assert graduates == truth["graduates"] > 10
    # An award's outcome changes only if its holder's records are split from, or merged
    # with, another's: at most the misplaced person records, times the most
    # certificates one person holds.
    errors = nation.quality["errors_by_noise"]
    misplaced = sum(sum(kind.values()) for kind in errors.values())
    per_person: Counter[str] = Counter()
    with (nation.folder / "truth" / "person_links.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["table"] == "certifications":
                per_person[row["person_id"]] += 1
    bound = misplaced * max(per_person.values())
    assert abs(insured - truth["insured"]) <= bound
    assert 100 * insured / graduates == pytest.approx(
        100 * truth["rate"], abs=100 * bound / graduates + 1e-4
    )


def test_the_gold_table_is_whole_and_protected(
    nation: Nation, package: dict[str, Definition]
) -> None:
    out = nation.observations
    assert out.schema == observations_schema()
    computable = {d.id for d in package.values() if d.computable}
    assert set(out["indicator"].to_pylist()) == computable
    suppressed = pc.not_equal(out["conf_status"], "F")
    assert pc.all(pc.is_null(pc.filter(out["obs_value"], suppressed))).as_py()
    assert pc.all(pc.equal(pc.filter(out["obs_status"], suppressed), "Q")).as_py()
    assert pc.sum(suppressed).as_py() > 0 and pc.sum(pc.invert(suppressed)).as_py() > 0
    # No cell with one or two contributors is published for the administrative counts.
    admin = pc.is_in(
        out["indicator"], value_set=pa.array(["jobboard_vacancies", "dol_inspections"])
    )
    small = pc.and_(admin, pc.less(out["contributors"], 3))
    assert pc.sum(small).as_py() in (0, None)
    assert set(nation.inputs.snapshots) == {
        s for d in package.values() if d.computable for s in d.sources
    }


def test_silver_is_read_at_the_committed_linkage_run(nation: Nation) -> None:
    engine = make_engine(Settings(data_dir=nation.data_dir).database_url_value())
    try:
        with Session(engine) as session:
            run = last_committed(session)
            assert run is not None and run.id == nation.summary["spine"]["linkage"]["run_id"]
            links = silver.PERSON_LINKS
            assert nation.inputs.snapshots[links] == run.snapshots[links]
            # Bronze at its current snapshot: the one the linkage read, nothing landed since.
            for name, snapshot in nation.inputs.snapshots.items():
                if name.startswith("bronze.") and name in run.snapshots:
                    assert snapshot == run.snapshots[name], name
    finally:
        engine.dispose()
