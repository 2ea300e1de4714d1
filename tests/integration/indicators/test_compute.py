"""The gold observations: their shape, disclosure control through the count tables
(primary and secondary suppression, rates suppressed where a count is, aggregate age
groups only with their line), and the refusals of bad input."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from integration.indicators.compute import cells, compute, observations_schema
from integration.indicators.definition import Definition
from integration.indicators.dimensions import TOTAL, UNCODED
from integration.indicators.errors import CodeUnknown, SourceEmpty
from integration.indicators.protection import protect_cells
from schemas.catalog import SchemaCatalog
from tests.integration.indicators.tables import cell_map, day, definition, only, rid, source

T = TOTAL
VACANCY = "bronze.jobboard__vacancy"
COMPLAINT = "bronze.dol__complaint"
LFS = "bronze.nso__lfs_person"
BANDS = ("Y15-24", "Y25-34", "Y35-44", "Y45-54", "Y55-64", "YGE65")


def vacancies(schemas: SchemaCatalog, rows: Sequence[tuple[str, str, str | None]]) -> pa.Table:
    return source(
        schemas,
        VACANCY,
        [
            {
                "record_id": rid(i),
                "posted_date": day(posted),
                "closing_date": day(posted) + timedelta(days=30),
                "occupation": occ,
                "region": region,
            }
            for i, (posted, occ, region) in enumerate(rows)
        ],
    )


#: January: occupations 2 (five in POS, one in SJL), 7 (four in SJL), 5 (one, no region).
JANUARY = (
    [("2024-01-10", "2320", "TT-POS")] * 5
    + [("2024-01-11", "2355", "TT-SJL")]
    + [("2024-01-12", "7211", "TT-SJL")] * 4
    + [("2024-01-13", "5120", None)]
)


def test_the_observations_have_the_gold_shape(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    wanted = [package["jobboard_vacancies"], package["jobboard_vacancy_days_open"]]
    raw: dict[str, pa.Table] = {}
    out = compute(wanted, {VACANCY: vacancies(schemas, JANUARY)}, cells_out=raw)
    assert out.schema == observations_schema()
    assert set(raw) == {"jobboard_vacancies", "jobboard_vacancy_days_open"}
    assert set(out["indicator"].to_pylist()) == set(raw)
    # Dimensions an indicator lacks are NULL; no cell of unclassified units is published.
    counts = only(out, indicator="jobboard_vacancies")
    assert counts["sex"].null_count == counts.num_rows
    assert UNCODED not in counts["region"].to_pylist()
    assert raw["jobboard_vacancies"].num_rows == counts.num_rows + 2  # the _U cells
    grand = only(counts, isco_major=T, region=T)
    assert grand.to_pylist()[0] | {"indicator": None} == {
        "indicator": None,
        "time_period": "2024-01",
        "sex": None,
        "age_group": None,
        "region": T,
        "isic_section": None,
        "isco_major": T,
        "field": None,
        "obs_value": 11.0,
        "standard_error": None,
        "contributors": 11,
        "obs_status": "A",
        "conf_status": "F",
    }
    keys = list(
        zip(
            *(out[c].to_pylist() for c in ("indicator", "time_period", "region", "isco_major")),
            strict=True,
        )
    )
    assert keys == sorted(keys, key=lambda k: tuple("" if v is None else v for v in k))
    assert len(set(keys)) == len(keys)


def test_small_counts_are_suppressed_with_complements_enough(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    d = package["jobboard_vacancies"]
    protected = protect_cells(d, cells(d, {VACANCY: vacancies(schemas, JANUARY)}))
    status = cell_map(protected, ["isco_major", "region"], "conf_status")
    value = cell_map(protected, ["isco_major", "region"])
    # Primary: fewer than three vacancies.
    for cell in [("2024-01", "2", "TT-SJL"), ("2024-01", "5", UNCODED), ("2024-01", "5", T)]:
        assert status[cell] == "C" and value[cell] is None
    assert status[("2024-01", "2", "TT-POS")] in "FD"
    # Every line holding a suppressed cell holds another (or its margin is suppressed):
    # no suppressed cell is its published margin minus the published rest.
    for axis in ("isco_major", "region"):
        other = "region" if axis == "isco_major" else "isco_major"
        lines: Counter[str] = Counter()
        for code, by, s in zip(
            protected[axis].to_pylist(),
            protected[other].to_pylist(),
            protected["conf_status"].to_pylist(),
            strict=True,
        ):
            if code != T and s != "F":
                lines[by] += 1
        for by, hidden in lines.items():
            margin = status[("2024-01", T, by) if axis == "isco_major" else ("2024-01", by, T)]
            assert hidden >= 2 or margin != "F", (axis, by)
    suppressed = pc.not_equal(protected["conf_status"], "F")
    assert pc.all(pc.equal(pc.filter(protected["obs_status"], suppressed), "Q")).as_py()
    assert pc.filter(protected["contributors"], suppressed).null_count == pc.sum(suppressed).as_py()


def test_a_rate_is_suppressed_wherever_one_of_its_counts_is(schemas: SchemaCatalog) -> None:
    share = definition(
        schemas,
        """
        id: complaints_resolved_share
        name: Share of complaints resolved
        description: Complaints resolved as a percentage of complaints received.
        unit: PT
        frequency: A
        sources: [bronze.dol__complaint]
        agreements: [{provider: dol, dataset: complaint}]
        dimensions: [region]
        measure: {kind: ratio, scale: 100}
        disclosure: {min_contributors: 3, counts: [numerator, denominator]}
        query: |
          SELECT received_date AS ref_date, record_id AS contributor, region,
                 CAST(case_status = 'RESOLVED' AS DOUBLE) AS numerator, 1.0 AS denominator
          FROM bronze.dol__complaint
        """,
    )
    # POS: 5 complaints, 1 resolved; SJL: 6, 3 resolved; TUP: 7, 4 resolved.
    rows = []
    for region, received, resolved in (("TT-POS", 5, 1), ("TT-SJL", 6, 3), ("TT-TUP", 7, 4)):
        rows += [(region, "RESOLVED")] * resolved + [(region, "OPEN")] * (received - resolved)
    table = source(
        schemas,
        COMPLAINT,
        [
            {"record_id": rid(i), "received_date": day("2024-05-01"), "region": r, "case_status": s}
            for i, (r, s) in enumerate(rows)
        ],
    )
    out = compute([share], {COMPLAINT: table})
    status = cell_map(out, ["region"], "conf_status")
    value = cell_map(out, ["region"])
    # The numerator of POS is one complaint: confidential, so its rate is too, though
    # its denominator (5) could be published; one more region's numerator must go.
    assert status[("2024", "TT-POS")] == "C" and value[("2024", "TT-POS")] is None
    assert sorted([status[("2024", "TT-SJL")], status[("2024", "TT-TUP")]]) == ["D", "F"]
    assert status[("2024", T)] == "F" and value[("2024", T)] == pytest.approx(800 / 18)
    published = [r for r in ("TT-SJL", "TT-TUP") if status[("2024", r)] == "F"]
    expected = {"TT-SJL": 50.0, "TT-TUP": 400 / 7}
    assert value[("2024", published[0])] == pytest.approx(expected[published[0]])


def lfs_sample(schemas: SchemaCatalog, n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    regions = np.array(["TT-POS", "TT-SJL"])[rng.integers(0, 2, n)]
    statuses = np.array(["EMPLOYED", "UNEMPLOYED", "OUTSIDE_LABOUR_FORCE"])[
        rng.choice(3, n, p=[0.6, 0.1, 0.3])
    ]
    ages = np.tile(np.array([20, 30, 40, 50, 60, 70]), n // 6 + 1)[:n]
    return source(
        schemas,
        LFS,
        [
            {
                "record_id": rid(i),
                "interview_date": day("2024-08-01"),
                "region": str(regions[i]),
                "survey_weight": 10.0 if regions[i] == "TT-POS" else 25.0,
                "sex": "1" if i % 2 else "2",
                "age": int(ages[i]),
                "labour_force_status": str(statuses[i]),
            }
            for i in range(n)
        ],
    )


def test_a_survey_estimate_on_too_few_respondents_is_suppressed(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    d = package["lfs_participation_rate"]
    table = lfs_sample(schemas, 240, seed=3)  # 40 per age band, 20 per band and sex
    out = compute([d], {LFS: table})
    raw = cells(d, {LFS: table})
    respondents = cell_map(raw, ["sex", "age_group", "region"], "contributors")
    status = cell_map(out, ["sex", "age_group", "region"], "conf_status")
    error = cell_map(out, ["sex", "age_group", "region"], "standard_error")
    for key, s in status.items():
        if 1 <= respondents[key] < 25:
            assert s == "C" and error[key] is None
        if s == "F":
            assert error[key] is not None and error[key] > 0
    assert status[("2024-Q3", T, T, T)] == "F"
    # Ages 15-64 at the national level: every age band there has 40 respondents and is
    # published, so the aggregate is; by sex and region the bands are too small, so the
    # aggregate (itself large enough) is withheld with its line.
    national = [status[("2024-Q3", T, band, T)] for band in BANDS]
    expected = "F" if set(national) == {"F"} else "D"
    assert status[("2024-Q3", T, "Y15-64", T)] == expected
    small = ("2024-Q3", "1", "Y15-64", "TT-POS")
    assert respondents[small] >= 25 and status[small] == "D"


def test_an_empty_or_unread_source_is_refused(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    d = package["jobboard_vacancies"]
    empty = vacancies(schemas, [])
    with pytest.raises(SourceEmpty, match=f"{VACANCY} is empty") as caught:
        compute([d], {VACANCY: empty})
    assert caught.value.code == "indicators.source_empty"
    with pytest.raises(SourceEmpty, match="was not read"):
        compute([d], {})


def test_a_code_outside_the_codelist_is_refused_without_repeating_data(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    d = package["jobboard_vacancies"]
    with pytest.raises(CodeUnknown, match="'TT-XYZ'") as caught:
        compute([d], {VACANCY: vacancies(schemas, [("2024-01-01", "2320", "TT-XYZ")])})
    assert caught.value.code == "indicators.code_unknown"
    secret = "Jane Doe, 12 Main Street"
    with pytest.raises(CodeUnknown) as caught:
        compute([d], {VACANCY: vacancies(schemas, [("2024-01-01", "2320", secret)])})
    assert secret not in caught.value.message and "1 value(s)" in caught.value.message


def test_a_unit_may_not_carry_a_total_code(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    with pytest.raises(CodeUnknown, match="total or aggregate"):
        compute(
            [package["jobboard_vacancies"]],
            {VACANCY: vacancies(schemas, [("2024-01-01", "2320", T)])},
        )


def test_a_distinct_count_is_protected_though_its_margins_do_not_add_up(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    # Eight persons at six employers, three in section C and three in G; persons 0 and 1
    # work in both, so the sections hold 6 + 4 persons and the total 8: a table cell
    # suppression could only refuse, had its margins not been made additive for it.
    jobs = [(p, e) for p, e in enumerate(["E1", "E2", "E3", "E1", "E2", "E3", "E5", "E6"])]
    jobs += [(0, "E4"), (1, "E5")]
    industry = {"E1": "1010", "E2": "1020", "E3": "1030", "E4": "4711", "E5": "4719", "E6": "4721"}
    links = [("nis", "insured_person", rid(100 + p), p) for p in range(8)]
    links += [("nis", "contribution", rid(200 + i), p) for i, (p, _) in enumerate(jobs)]
    tables = {
        "bronze.nis__employer": source(
            schemas,
            "bronze.nis__employer",
            [
                {"record_id": rid(i), "employer_number": e, "industry": isic}
                for i, (e, isic) in enumerate(industry.items())
            ],
        ),
        "bronze.nis__insured_person": source(
            schemas,
            "bronze.nis__insured_person",
            [{"record_id": rid(100 + p), "sex": "1" if p % 2 else "2"} for p in range(8)],
        ),
        "bronze.nis__contribution": source(
            schemas,
            "bronze.nis__contribution",
            [
                {
                    "record_id": rid(200 + i),
                    "contribution_month": day("2024-04-01"),
                    "employer_number": e,
                }
                for i, (_, e) in enumerate(jobs)
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
    d = package["nis_insured_employment"]
    out = compute([d], tables)
    value = cell_map(out, ["isic_section", "sex"])
    status = cell_map(out, ["isic_section", "sex"], "conf_status")
    assert (status[("2024-04", T, T)], value[("2024-04", T, T)]) == ("F", 8.0)
    assert (status[("2024-04", "C", T)], value[("2024-04", "C", T)]) == ("F", 6.0)
    assert (status[("2024-04", "G", T)], value[("2024-04", "G", T)]) == ("F", 4.0)


def test_withheld_definitions_are_listed_not_computed(
    schemas: SchemaCatalog, package: dict[str, Definition]
) -> None:
    withheld = package["lfs_informal_employment_share"]
    assert not withheld.computable
    out = compute(
        [withheld, package["jobboard_placements"]],
        {
            "bronze.jobboard__placement": source(
                schemas,
                "bronze.jobboard__placement",
                [
                    {"record_id": rid(i), "placement_date": day("2024-02-02"), "occupation": "7126"}
                    for i in range(4)
                ],
            )
        },
    )
    assert set(out["indicator"].to_pylist()) == {"jobboard_placements"}
    assert cell_map(out, ["isco_major"])[("2024-02", T)] == 4.0
