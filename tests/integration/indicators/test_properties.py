"""Properties of the cells on random tables, each cell checked against a direct numpy
computation over the units it covers: weighted ratios and their linearised standard
errors (every margin and the aggregate age group included), and counts whose margins
are the totals of their lines."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.indicators.compute import cells
from integration.indicators.definition import Definition
from integration.indicators.dimensions import TOTAL, UNCODED
from schemas.catalog import SchemaCatalog
from tests.integration.indicators.tables import day, rid, source

LFS = "bronze.nso__lfs_person"
VACANCY = "bronze.jobboard__vacancy"
STATUSES = ("EMPLOYED", "UNEMPLOYED", "POTENTIAL_LABOUR_FORCE", "OUTSIDE_LABOUR_FORCE")
BANDS = {
    "Y15-24": (15, 24),
    "Y25-34": (25, 34),
    "Y35-44": (35, 44),
    "Y45-54": (45, 54),
    "Y55-64": (55, 64),
    "YGE65": (65, 200),
    "Y15-64": (15, 64),
}


@pytest.fixture(scope="module")
def unemployment(package: dict[str, Definition]) -> Definition:
    return package["lfs_unemployment_rate"]


@pytest.fixture(scope="module")
def vacancies(package: dict[str, Definition]) -> Definition:
    return package["jobboard_vacancies"]


respondent = st.tuples(
    st.sampled_from(["TT-POS", "TT-SJL", "TT-TOB", None]),
    st.sampled_from(["1", "2"]),
    st.integers(15, 80),
    st.sampled_from(STATUSES),
    st.floats(1.0, 60.0),
)


def _codes(column: list[str | None]) -> npt.NDArray[np.object_]:
    return np.array([UNCODED if v is None else v for v in column], dtype=object)


def _in_cell(values: npt.NDArray[np.object_], code: str) -> npt.NDArray[np.bool_]:
    if code == TOTAL:
        return np.ones(values.shape, np.bool_)
    return np.asarray(values == code, np.bool_)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(respondent, min_size=1, max_size=40))
def test_every_survey_cell_is_its_units_weighted_ratio_with_its_error(
    schemas: SchemaCatalog,
    unemployment: Definition,
    rows: list[tuple[str | None, str, int, str, float]],
) -> None:
    table = source(
        schemas,
        LFS,
        [
            {
                "record_id": rid(i),
                "interview_date": day("2025-05-05"),
                "region": region,
                "sex": sex,
                "age": age,
                "labour_force_status": status,
                "survey_weight": weight,
            }
            for i, (region, sex, age, status, weight) in enumerate(rows)
        ],
    )
    got = cells(unemployment, {LFS: table})
    region = _codes([r[0] for r in rows])
    sex = _codes([r[1] for r in rows])
    age = np.array([r[2] for r in rows])
    status = np.array([r[3] for r in rows])
    w = np.array([r[4] for r in rows])
    y = (status == "UNEMPLOYED").astype(float)
    x = np.isin(status, ["EMPLOYED", "UNEMPLOYED"]).astype(float)
    strata = region  # the definition's strata are the regions (NULL its own)
    # Every combination with a unit in it is a cell, and no other.
    expected_cells = set()
    for r in {*region, TOTAL}:
        for s in {*sex, TOTAL}:
            for a in [*BANDS, TOTAL]:
                low, high = BANDS.get(a, (0, 999))
                if (_in_cell(region, r) & _in_cell(sex, s) & (age >= low) & (age <= high)).any():
                    expected_cells.add(("2025-Q2", s, a, r))
    found = list(
        zip(
            *(got[c].to_pylist() for c in ("time_period", "sex", "age_group", "region")),
            strict=True,
        )
    )
    assert set(found) == expected_cells and len(found) == len(expected_cells)
    for (_, s, a, r), value, error, contributors in zip(
        found,
        got["obs_value"].to_pylist(),
        got["standard_error"].to_pylist(),
        got["contributors"].to_pylist(),
        strict=True,
    ):
        low, high = BANDS.get(a, (0, 999))
        m = _in_cell(region, r) & _in_cell(sex, s) & (age >= low) & (age <= high)
        big_x = float(np.sum(w * x * m))
        assert contributors == int(np.sum(m & (x > 0)))
        if big_x == 0:
            assert value is None
            continue
        ratio = float(np.sum(w * y * m)) / big_x
        assert np.isclose(value, 100 * ratio)
        e = w * (y - ratio * x) * m
        variance = 0.0
        for h in set(strata):
            in_h = strata == h
            n_h = int(in_h.sum())
            if n_h > 1:
                variance += n_h / (n_h - 1) * float(np.sum((e[in_h] - e[in_h].mean()) ** 2))
        assert np.isclose(error, 100 * np.sqrt(variance) / big_x, rtol=1e-7, atol=1e-9)


vacancy = st.tuples(
    st.sampled_from(["2024-01-03", "2024-01-28", "2024-02-14"]),
    st.sampled_from(["1120", "2320", "5120", "9112"]),
    st.sampled_from(["TT-POS", "TT-SJL", None]),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(vacancy, min_size=1, max_size=30))
def test_a_count_s_margins_are_the_totals_of_their_lines(
    schemas: SchemaCatalog, vacancies: Definition, rows: list[tuple[str, str, str | None]]
) -> None:
    table = source(
        schemas,
        VACANCY,
        [
            {"record_id": rid(i), "posted_date": day(d), "occupation": o, "region": r}
            for i, (d, o, r) in enumerate(rows)
        ],
    )
    got = cells(vacancies, {VACANCY: table})
    by_cell = {
        (p, o, r): value
        for p, o, r, value in zip(
            *(got[c].to_pylist() for c in ("time_period", "isco_major", "region", "obs_value")),
            strict=True,
        )
    }
    period = np.array([d[:7] for d, _, _ in rows], dtype=object)
    major = np.array([o[0] for _, o, _ in rows], dtype=object)
    region = _codes([r for _, _, r in rows])
    for (p, o, r), value in by_cell.items():
        m = (period == p) & _in_cell(major, o) & _in_cell(region, r)
        assert value == float(m.sum())
    # Along each dimension, the margin is the sum of its line.
    for (p, o, r), value in by_cell.items():
        if o == TOTAL:
            line = [v for (pp, oo, rr), v in by_cell.items() if pp == p and rr == r and oo != TOTAL]
            assert value == sum(line)
        if r == TOTAL:
            line = [v for (pp, oo, rr), v in by_cell.items() if pp == p and oo == o and rr != TOTAL]
            assert value == sum(line)
    assert sum(v for (_, o, r), v in by_cell.items() if o == r == TOTAL) == len(rows)
    assert pa.types.is_float64(got.schema.field("obs_value").type)
