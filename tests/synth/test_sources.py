"""The columns each agency's source carries agree with the simulation and with each
other: contributions with the schedule, the business register with the jobs held,
claims, cases, registrations and vacancies with their own dates."""

import csv
import sqlite3
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synth import contribution_schedule as schedule
from synth import nation, reference
from synth.config import SynthConfig
from synth.employers import SIZE_EDGES
from synth.population import EMPLOYED
from synth.simulation import DISPUTE_RATE, Nation, simulate

SMALL = SynthConfig(persons=3000, months=6, seed=23)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Nation]:
    folder = tmp_path_factory.mktemp("nation")
    return folder, nation.make(SMALL, nation.Targets(folder))


def _rows(db: Path, sql: str) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute(sql))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


@given(st.floats(0, 60_000), st.integers(0, 5))
def test_the_contribution_is_the_class_rate_times_the_weeks(monthly: float, weeks: int) -> None:
    cls = int(schedule.earnings_class(np.array([monthly]))[0])
    weekly = monthly * 12 / 52
    assert schedule.WEEKLY_FLOOR[cls] <= weekly or cls == 0
    assert cls == len(schedule.CLASSES) - 1 or weekly < schedule.WEEKLY_FLOOR[cls + 1]
    amount = float(schedule.contribution(np.array([monthly]), np.array([weeks]))[0])
    assert round(amount * 100) == schedule.WEEKLY_CENTS[cls] * weeks
    assert f"{amount}".partition(".")[2][2:] == ""  # whole cents, as the NIS writes them


def test_contributions_follow_the_schedule_after_late_corrections(made) -> None:
    folder, _ = made
    rows = _rows(
        folder / "sources/nis/nis.db",
        "SELECT insurable_earnings, weeks, earnings_class, contribution FROM contributions",
    )
    earnings = np.array([r["insurable_earnings"] for r in rows])
    weeks = np.array([r["weeks"] for r in rows])
    classes = [schedule.CLASSES[c] for c in schedule.earnings_class(earnings).tolist()]
    assert [r["earnings_class"] for r in rows] == classes
    np.testing.assert_allclose(
        [r["contribution"] for r in rows], schedule.contribution(earnings, weeks)
    )
    assert len(set(classes)) >= 8 and all(r["contribution"] > 0 for r in rows)


def test_the_business_register_counts_the_jobs_held_at_its_reference_date(made) -> None:
    folder, made_nation = made
    rows = _csv(folder / "sources/nso/business_register.csv")
    assert {r["reference_date"] for r in rows} == {"2024-06-30"}
    employed = int((made_nation.truth.status[-1] == EMPLOYED).sum())
    assert sum(int(r["employment"]) for r in rows) == employed
    for r in rows:
        band = int(np.searchsorted(SIZE_EDGES, int(r["employment"]), side="right"))
        assert r["size_band"] == ("1-4", "5-19", "20-99", "100+")[band]
        assert r["status"] == ("active" if int(r["employment"]) else "inactive")
        assert date.fromisoformat(r["registered_on"]) < date(2024, 1, 1)
    forms = Counter(r["legal_form"] for r in rows)
    assert {"company", "sole trader", "partnership"} <= set(forms)
    small = [r["legal_form"] for r in rows if int(r["employment"]) < 5]
    large = [r["legal_form"] for r in rows if int(r["employment"]) >= 20]
    assert small.count("sole trader") / len(small) > 0.2
    assert large.count("sole trader") / len(large) < small.count("sole trader") / len(small) / 3


def test_nis_employers_register_before_the_period_and_go_dormant(made) -> None:
    folder, _ = made
    rows = _rows(folder / "sources/nis/nis.db", "SELECT registered_on, status FROM employers")
    assert all(date.fromisoformat(r["registered_on"]) < date(2024, 1, 1) for r in rows)
    assert {r["status"] for r in rows} <= {"active", "dormant"}


def test_benefit_claims_carry_their_type_and_decision_date(made) -> None:
    folder, _ = made
    rows = _rows(folder / "sources/nis/nis.db", "SELECT * FROM benefit_claims")
    kinds = Counter(r["benefit_type"] for r in rows)
    assert {"unemployment", "sickness", "maternity"} <= set(kinds)
    assert set(kinds) <= {"unemployment", "sickness", "maternity", "employment injury"}
    for r in rows:
        assert (r["decided_on"] is None) == (r["status"] == "pending")
        if r["decided_on"] is not None:
            assert r["claim_date"] < r["decided_on"] <= r["updated_at"][:10]
        assert (
            r["claim_no"][:2]
            == {
                "unemployment": "UB",
                "sickness": "SB",
                "maternity": "MB",
                "employment injury": "EI",
            }[r["benefit_type"]]
        )


def test_cases_record_the_workplace_and_the_workers(made) -> None:
    folder, made_nation = made
    db = folder / "sources/dol/dol.db"
    register = {r["business_reg_no"]: r for r in _csv(folder / "sources/nso/business_register.csv")}
    for table in ("complaints", "disputes", "inspections", "osh_accidents"):
        for r in _rows(db, f"SELECT * FROM {table}"):
            entry = register[r["employer_brn"]]
            assert (r["workplace_region"], r["isic"]) == (entry["region"], entry["isic"])
    assert all(r["workers_involved"] >= 1 for r in _rows(db, "SELECT * FROM disputes"))
    inspections = _rows(db, "SELECT * FROM inspections")
    assert inspections and all(r["workers_covered"] >= 0 for r in inspections)
    accidents = _rows(db, "SELECT * FROM osh_accidents")
    with (folder / "truth/person_links.csv").open(encoding="utf-8") as f:
        owner = {r["record_id"]: int(r["person_id"]) for r in csv.DictReader(f)}
    isco = made_nation.persons.isco
    codes = [c for c, _ in reference.isco_unit_groups()]
    assert len(accidents) >= 5
    for r in accidents:
        p = owner[r["case_no"]]
        assert r["sex"] == made_nation.persons.sex[p]
        assert r["isco"] == codes[int(isco[p])]
        assert (r["days_lost"] is None) == (r["severity"] == "fatal")


def test_disputes_are_rarer_at_small_employers() -> None:
    sim = simulate(SynthConfig(persons=20_000, months=12, seed=3), 12)
    band = np.searchsorted(SIZE_EDGES, sim.truth.headcount, side="right")
    per_band = np.bincount(band, minlength=4)
    disputes = Counter(
        int(band[row.employer]) for row in sim.history.rows("dol", "disputes")
    )  # bands at the end of the year: close enough to those of the months
    small = disputes[0] / max(per_band[0], 1)
    large = (disputes[2] + disputes[3]) / max(per_band[2] + per_band[3], 1)
    assert large > 5 * small
    expected = float((DISPUTE_RATE[band] * 12).sum())
    assert abs(sum(disputes.values()) - expected) < 4 * expected**0.5


def test_registrations_lfs_interviews_and_vacancies_are_dated(made) -> None:
    folder, _ = made
    board = folder / "sources/jobboard/jobboard.db"
    for r in _rows(board, "SELECT registered_on, updated_at, education FROM jobseekers"):
        assert r["registered_on"] <= r["updated_at"][:10] and r["education"] in "012345678"
    for r in _rows(board, "SELECT * FROM vacancies"):
        assert r["posted_on"] < r["closing_on"] and int(r["positions"]) >= 1
        assert (r["wage_min"] is None) == (r["wage_max"] is None)
        if r["wage_min"] is not None:
            assert 0 < int(r["wage_min"]) < int(r["wage_max"])
    trainees = [
        row
        for month in sorted((folder / "sources/tvet/exports").iterdir())
        for row in _csv(month / "trainees.csv")
    ]
    assert trainees and all(t["registered_on"] <= t["updated_at"][:10] for t in trainees)
    for month in (folder / "sources/tvet/exports").iterdir():
        for e in _csv(month / "enrolments.csv"):
            assert e["expected_end_date"] > e["start_date"]
    days: dict[tuple[str, str], set[str]] = defaultdict(set)
    for q, first in ((1, date(2024, 1, 1)), (2, date(2024, 4, 1))):
        rows = _csv(folder / f"sources/nso/lfs/lfs_2024Q{q}.csv")
        employed = [line for line in rows if line["lf_status"] == "1"]
        assert employed and all(line["usual_hours"] and line["isco"] for line in employed)
        statuses = Counter(line["status_in_employment"] for line in employed)
        assert statuses.most_common(1)[0][0] == "41" and len(statuses) >= 4
        assert all(line["status_in_employment"] == "" for line in rows if line not in employed)
        for line in rows:
            assert int(line["birth_year"]) in {2024 - int(line["age"]) - d for d in (0, 1)}
            day = date.fromisoformat(line["interview_date"])
            assert first <= day < first + timedelta(days=91)
            days[(line["quarter"], line["household_no"])].add(line["interview_date"])
        assert len({d for (qq, _), ds in days.items() if qq == str(q) for d in ds}) > 30
    assert all(len(d) == 1 for d in days.values())  # a household on one day
