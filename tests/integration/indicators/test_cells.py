"""Cells before disclosure control, on small hand-made tables with hand-checked figures:
every margin computed from the units (a distinct count is distinct over its margin),
weights applied, the survey's linearised standard error, medians, means and the
largest contributions, aggregate age groups and units no code classifies."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyarrow as pa
import pytest

from integration.indicators.compute import cells
from integration.indicators.definition import Definition
from integration.indicators.dimensions import TOTAL, UNCODED
from schemas.catalog import SchemaCatalog
from tests.integration.indicators.tables import cell_map, day, only, rid, source

T = TOTAL
LFS = "bronze.nso__lfs_person"
VACANCY = "bronze.jobboard__vacancy"


def vacancies(schemas: SchemaCatalog) -> pa.Table:
    rows = [
        ("2024-01-05", "2320", "TT-POS", "2024-02-04"),
        ("2024-01-09", "2355", "TT-POS", "2024-01-19"),
        ("2024-01-20", "7211", "TT-SJL", "2024-02-29"),
        ("2024-01-31", "5120", None, None),
        ("2024-02-02", "2320", "TT-SJL", "2024-02-12"),
    ]
    return source(
        schemas,
        VACANCY,
        [
            {
                "record_id": rid(i),
                "posted_date": day(posted),
                "occupation": occupation,
                "region": region,
                "closing_date": day(closing) if closing else None,
                "positions": 1,
            }
            for i, (posted, occupation, region, closing) in enumerate(rows)
        ],
    )


def test_a_count_has_every_cell_and_margin_of_the_cube(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    got = cells(package["jobboard_vacancies"], {VACANCY: vacancies(schemas)})
    assert cell_map(got, ["isco_major", "region"]) == {
        ("2024-01", "2", "TT-POS"): 2,
        ("2024-01", "7", "TT-SJL"): 1,
        ("2024-01", "5", UNCODED): 1,  # no region: its own cell, in the totals
        ("2024-01", "2", T): 2,
        ("2024-01", "7", T): 1,
        ("2024-01", "5", T): 1,
        ("2024-01", T, "TT-POS"): 2,
        ("2024-01", T, "TT-SJL"): 1,
        ("2024-01", T, UNCODED): 1,
        ("2024-01", T, T): 4,
        ("2024-02", "2", "TT-SJL"): 1,
        ("2024-02", "2", T): 1,
        ("2024-02", T, "TT-SJL"): 1,
        ("2024-02", T, T): 1,
    }
    assert cell_map(got, ["isco_major", "region"], "contributors")[("2024-01", T, T)] == 4
    assert got["standard_error"].null_count == got.num_rows


def test_a_median_is_each_cell_s_own(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    got = cells(package["jobboard_vacancy_days_open"], {VACANCY: vacancies(schemas)})
    # January: 30, 10 and 40 days open (the fourth vacancy has no closing date).
    assert cell_map(got, ["isco_major"]) == {
        (
            "2024-01",
            "2",
        ): 20.0,
        ("2024-01", "7"): 40.0,
        ("2024-01", T): 30.0,
        ("2024-02", "2"): 10.0,
        ("2024-02", T): 10.0,
    }
    assert cell_map(got, ["isco_major"], "value")[("2024-01", T)] == 3


def nis_tables(schemas: SchemaCatalog) -> dict[str, pa.Table]:
    """Employers E1 (section C), E2 (G), E3 (C); persons A (female), B (male)."""
    employers = [("E1", "1010"), ("E2", "4711"), ("E3", "2599")]
    persons = [("A", "2"), ("B", "1")]
    # (person, employer, earnings in dollars)
    jobs = [("A", "E1", 1000), ("A", "E2", 3000), ("B", "E1", 5000), ("B", "E3", 2000)]
    links = [("nis", "insured_person", rid(100 + i), p) for i, (p, _) in enumerate(persons)] + [
        ("nis", "contribution", rid(200 + i), p) for i, (p, _, _) in enumerate(jobs)
    ]
    return {
        "bronze.nis__employer": source(
            schemas,
            "bronze.nis__employer",
            [
                {"record_id": rid(i), "employer_number": e, "industry": isic}
                for i, (e, isic) in enumerate(employers)
            ],
        ),
        "bronze.nis__insured_person": source(
            schemas,
            "bronze.nis__insured_person",
            [
                {"record_id": rid(100 + i), "sex": sex, "registration_date": day("2020-01-01")}
                for i, (_, sex) in enumerate(persons)
            ],
        ),
        "bronze.nis__contribution": source(
            schemas,
            "bronze.nis__contribution",
            [
                {
                    "record_id": rid(200 + i),
                    "contribution_month": day("2024-03-01"),
                    "employer_number": e,
                    "insurable_earnings_cents": dollars * 100,
                }
                for i, (_, e, dollars) in enumerate(jobs)
            ],
        ),
        "silver.person_links": pa.table(
            {
                "agency": [a for a, *_ in links],
                "dataset": [d for _, d, *_ in links],
                "record_id": [r for _, _, r, _ in links],
                "person_key": [f"key-{p}" for *_, p in links],
            }
        ),
    }


def test_a_distinct_count_s_margin_counts_a_person_once(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    got = cells(package["nis_insured_employment"], nis_tables(schemas))
    values = cell_map(got, ["isic_section", "sex"])
    # A works in C and G, B twice in C: the sections hold 2 and 1, the total 2 persons.
    assert values[("2024-03", "C", T)] == 2
    assert values[("2024-03", "G", T)] == 1
    assert values[("2024-03", T, T)] == 2
    assert values[("2024-03", T, "2")] == 1
    assert values[("2024-03", "C", "1")] == 1
    # Contributors are the employers: E1 and E3 in C, all three in the total.
    counts = cell_map(got, ["isic_section", "sex"], "contributors")
    assert counts[("2024-03", "C", T)] == 2 and counts[("2024-03", T, T)] == 3


def test_a_mean_and_its_largest_contributions(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    got = cells(package["nis_average_insurable_earnings"], nis_tables(schemas))
    mean = cell_map(got, ["isic_section", "sex"])
    assert mean[("2024-03", "C", T)] == pytest.approx(8000 / 3)
    assert mean[("2024-03", T, T)] == pytest.approx(11000 / 4)
    assert mean[("2024-03", T, "2")] == pytest.approx(2000)
    total = cell_map(got, ["isic_section", "sex"], "value")
    largest = cell_map(got, ["isic_section", "sex"], "largest")
    second = cell_map(got, ["isic_section", "sex"], "second_largest")
    # Section C: E1 paid 1000 + 5000, E3 2000.
    assert (total[("2024-03", "C", T)], largest[("2024-03", "C", T)]) == (8000, 6000)
    assert second[("2024-03", "C", T)] == 2000
    # A cell of one employer has no second largest.
    assert (largest[("2024-03", "G", T)], second[("2024-03", "G", T)]) == (3000, 0)


LFS_ROWS = [
    # (region, weight, sex, age, status)
    ("TT-POS", 10.0, "1", 30, "EMPLOYED"),
    ("TT-POS", 10.0, "2", 20, "UNEMPLOYED"),
    ("TT-POS", 10.0, "2", 70, "OUTSIDE_LABOUR_FORCE"),
    ("TT-POS", 10.0, "1", 50, "EMPLOYED"),
    ("TT-SJL", 20.0, "2", 40, "EMPLOYED"),
    ("TT-SJL", 20.0, "1", 22, "UNEMPLOYED"),
]


def lfs(
    schemas: SchemaCatalog, rows: Sequence[tuple[str | None, float, str, int, str]]
) -> pa.Table:
    return source(
        schemas,
        LFS,
        [
            {
                "record_id": rid(i),
                "interview_date": day("2024-02-10"),
                "region": region,
                "survey_weight": weight,
                "sex": sex,
                "age": age,
                "labour_force_status": status,
                "usual_hours": 40,
            }
            for i, (region, weight, sex, age, status) in enumerate(rows)
        ],
    )


def test_a_survey_ratio_is_weighted_with_its_linearised_error(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    got = cells(package["lfs_unemployment_rate"], {LFS: lfs(schemas, LFS_ROWS)})
    grand = only(got, sex=T, age_group=T, region=T)
    # Labour force: POS 30 (two employed, one unemployed, weight 10), SJL 40; unemployed
    # 10 + 20: 30/70, not the unweighted 2/5.
    assert grand["obs_value"][0].as_py() == pytest.approx(100 * 3 / 7)
    assert grand["time_period"][0].as_py() == "2024-Q1"
    assert grand["contributors"][0].as_py() == 5  # the denominator's respondents
    assert (grand["numerator"][0].as_py(), grand["denominator"][0].as_py()) == (30, 70)
    # By hand, e = w (y - R x) with R = 3/7: POS (n=4): -30/7, 40/7, 0, -30/7, sum -20/7,
    # squares 3400/49, centred 3300/49, times 4/3 = 4400/49; SJL (n=2): -60/7, 80/7,
    # centred 9800/49, times 2 = 19600/49. V = (24000/49) / 70^2.
    assert grand["standard_error"][0].as_py() == pytest.approx(100 * math.sqrt(24000 / 49) / 70)
    # Region POS alone: 10/30; the other stratum's units add nothing but count in n_h.
    pos = only(got, sex=T, age_group=T, region="TT-POS")
    assert pos["obs_value"][0].as_py() == pytest.approx(100 / 3)
    # e = 10 (y - x/3): -10/3, 20/3, 0, -10/3; sum 0; squares 600/9; times 4/3; over 30^2.
    assert pos["standard_error"][0].as_py() == pytest.approx(100 * math.sqrt(600 / 9 * 4 / 3) / 30)


def test_an_aggregate_age_group_is_computed_from_its_members(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    rows = [*LFS_ROWS, ("TT-SJL", 20.0, "2", 67, "UNEMPLOYED")]
    got = cells(package["lfs_unemployment_rate"], {LFS: lfs(schemas, rows)})
    working_age = only(got, sex=T, age_group="Y15-64", region=T)
    # Ages 15-64: the same five in the labour force as before, the 67-year-old not.
    assert working_age["obs_value"][0].as_py() == pytest.approx(100 * 3 / 7)
    everyone = only(got, sex=T, age_group=T, region=T)
    assert everyone["obs_value"][0].as_py() == pytest.approx(100 * 5 / 9)
    old = only(got, sex=T, age_group="YGE65", region=T)
    assert old["obs_value"][0].as_py() == pytest.approx(100.0)
    # The aggregate is a slice of its own: with every other dimension's margins.
    assert only(got, sex="2", age_group="Y15-64", region="TT-POS").num_rows == 1


def test_units_without_a_code_count_in_the_totals_only(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    rows = [*LFS_ROWS, (None, 15.0, "1", 33, "UNEMPLOYED")]
    got = cells(package["lfs_unemployment_rate"], {LFS: lfs(schemas, rows)})
    grand = only(got, sex=T, age_group=T, region=T)
    assert (grand["numerator"][0].as_py(), grand["denominator"][0].as_py()) == (45, 85)
    uncoded = only(got, sex=T, age_group=T, region=UNCODED)
    assert uncoded["obs_value"][0].as_py() == pytest.approx(100.0)


def test_a_linked_rate_follows_person_keys_to_contributions(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    # Three certificates in March 2024: P1's holder is insured in June (within 6 months),
    # P2's only in the award month itself (not after it), P3's in October (after 6
    # months). Contributions run to December, so the three awards count.
    certificates = [("P1", "ELC2", "2"), ("P2", "ELC2", "1"), ("P3", "ICT3", "1")]
    insured = [
        ("P1", "2024-06-01"),
        ("P2", "2024-03-01"),
        ("P3", "2024-10-01"),
        ("P9", "2024-12-01"),
    ]
    links = (
        [("tvet", "certification", rid(i), p) for i, (p, _, _) in enumerate(certificates)]
        + [("tvet", "trainee", rid(10 + i), p) for i, (p, _, _) in enumerate(certificates)]
        + [("nis", "contribution", rid(20 + i), p) for i, (p, _) in enumerate(insured)]
    )
    tables = {
        "bronze.tvet__certification": source(
            schemas,
            "bronze.tvet__certification",
            [
                {"record_id": rid(i), "award_date": day("2024-03-15"), "programme_code": code}
                for i, (_, code, _) in enumerate(certificates)
            ],
        ),
        "bronze.tvet__trainee": source(
            schemas,
            "bronze.tvet__trainee",
            [
                {"record_id": rid(10 + i), "sex": sex, "registration_date": day("2023-01-01")}
                for i, (_, _, sex) in enumerate(certificates)
            ],
        ),
        "bronze.nis__contribution": source(
            schemas,
            "bronze.nis__contribution",
            [
                {"record_id": rid(20 + i), "contribution_month": day(month), "employer_number": "E"}
                for i, (_, month) in enumerate(insured)
            ],
        ),
        "silver.person_links": pa.table(
            {
                "agency": [a for a, *_ in links],
                "dataset": [d for _, d, *_ in links],
                "record_id": [r for _, _, r, _ in links],
                "person_key": [p for *_, p in links],
            }
        ),
    }
    six = cell_map(cells(package["tvet_certified_insured_6m"], tables), ["field", "sex"])
    assert six[("2024", T, T)] == pytest.approx(100 / 3)
    assert six[("2024", "ELC", T)] == pytest.approx(50.0)
    assert six[("2024", "ELC", "2")] == pytest.approx(100.0)
    assert six[("2024", "ICT", T)] == 0.0
    # Twelve months after March 2024 runs past December: no award counts yet.
    assert cells(package["tvet_certified_insured_12m"], tables).num_rows == 0
