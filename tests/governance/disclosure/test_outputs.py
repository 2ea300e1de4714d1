"""The airlock's automatic checks: hand-checked examples, CSV reading, and a cross-check
against ACRO, which decides on the same data which cells fail (frequency, sum and mean
tables) while the evidence the hub's rules read is computed here with DuckDB."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.disclosure.errors import OutputInvalid, OutputRulesInvalid
from governance.disclosure.outputs import (
    Cell,
    FrequencyLayout,
    MagnitudeLayout,
    OutputRules,
    check_differencing,
    check_output,
    layout_from_dict,
    parse_output_csv,
)

CROSSTAB = FrequencyLayout(count_columns=("female", "male"), label_columns=("region",))
MEANS = MagnitudeLayout(value_column="mean_wage", statistic="mean", label_columns=("region",))


def _crosstab(female: list[int], male: list[int]) -> pa.Table:
    regions = [f"R{i}" for i in range(len(female))]
    return pa.table({"region": regions, "female": female, "male": male})


def _flagged(check: Any, rule: str) -> set[tuple[int, str]]:
    return {(cell.row, cell.column) for cell in check.rule(rule).cells}


# --------------------------------------------------------------------------------------
# Frequency tables
# --------------------------------------------------------------------------------------


def test_a_cell_of_three_fails_the_threshold_and_zeros_are_reported() -> None:
    check = check_output(_crosstab([25, 3, 0], [40, 12, 15]), layout=CROSSTAB)

    assert check.outcome == "fail"
    assert check.rule("threshold").status == "fail"
    assert _flagged(check, "threshold") == {(1, "female")}
    assert check.rule("zero_cells").status == "pass"
    assert _flagged(check, "zero_cells") == {(2, "female")}
    assert check.rule("record_level").status == "pass"


def test_threshold_boundaries() -> None:
    table = _crosstab([9, 10, 1], [0, 11, 100])
    check = check_output(table, layout=CROSSTAB)
    assert _flagged(check, "threshold") == {(0, "female"), (2, "female")}
    stricter = check_output(table, layout=CROSSTAB, rules=OutputRules(threshold=11))
    assert _flagged(stricter, "threshold") == {(0, "female"), (1, "female"), (2, "female")}


def test_a_safe_table_passes_and_zero_cells_can_be_made_to_fail() -> None:
    table = _crosstab([25, 30], [0, 12])
    assert check_output(table, layout=CROSSTAB).outcome == "pass"
    strict = check_output(table, layout=CROSSTAB, rules=OutputRules(zero_cells="fail"))
    assert strict.outcome == "fail"
    assert _flagged(strict, "zero_cells") == {(0, "male")}
    assert check_output(table, layout=CROSSTAB, rules=OutputRules(zero_cells="review")).outcome == (
        "review"
    )


def test_null_cells_are_already_suppressed_and_not_checked() -> None:
    table = pa.table({"region": ["A", "B"], "female": pa.array([None, 20]), "male": [30, 40]})
    assert check_output(table, layout=CROSSTAB).outcome == "pass"


def test_a_table_of_individual_records_is_refused() -> None:
    ones = pa.table({"region": ["A", "B", "C"], "female": [1, 0, 1], "male": [0, 1, 1]})
    check = check_output(ones, layout=CROSSTAB)
    assert check.outcome == "fail"
    assert check.rule("record_level").status == "fail"
    assert len(check.rule("record_level").cells) == 4

    named = _crosstab([20, 30], [40, 50]).append_column("person_key", pa.array(["a", "b"]))
    check = check_output(named, layout=CROSSTAB)
    assert check.rule("record_level").columns == ("person_key",)
    assert check.outcome == "fail"

    hexed = _crosstab([20, 30], [40, 50]).append_column(
        "who", pa.array(["9f86d081884c7d659a2feaa0c55ad015", "a3f5c2d4e6b7a8c9d0e1f2a3b4c5d6e7"])
    )
    assert check_output(hexed, layout=CROSSTAB).rule("record_level").columns == ("who",)


def test_short_codes_are_not_mistaken_for_identifiers() -> None:
    table = pa.table({"isco": ["2512", "2513"], "female": [20, 30], "male": [15, 11]})
    layout = FrequencyLayout(count_columns=("female", "male"), label_columns=("isco",))
    assert check_output(table, layout=layout).outcome == "pass"


# --------------------------------------------------------------------------------------
# Magnitude tables
# --------------------------------------------------------------------------------------


def _means(rows: list[tuple[str, float | None, int, float | None, float | None]]) -> pa.Table:
    region, mean, contributors, largest, second = zip(*rows, strict=True)
    return pa.table(
        {
            "region": list(region),
            "mean_wage": pa.array(mean, pa.float64()),
            "contributors": pa.array(contributors, pa.int64()),
            "largest": pa.array(largest, pa.float64()),
            "second_largest": pa.array(second, pa.float64()),
        }
    )


def test_magnitude_rules_by_hand() -> None:
    table = _means(
        [
            ("spread", 100.0, 20, 150.0, 140.0),  # total 2000: 290/2000 < 0.9; 1710 ≥ 15
            ("few", 100.0, 3, 150.0, 100.0),  # 3 contributors
            ("dominant", 100.0, 20, 1750.0, 20.0),  # total 2000: 1770 ≥ 1800? no
            ("very dominant", 100.0, 20, 1800.0, 10.0),  # 1810 ≥ 1800; 190 ≥ 180
            ("exposed", 100.0, 12, 1000.0, 150.0),  # total 1200: 50 < 100
            ("empty", None, 0, None, None),
        ]
    )
    check = check_output(table, layout=MEANS)

    assert _flagged(check, "threshold") == {(1, "mean_wage")}
    assert _flagged(check, "zero_cells") == {(5, "mean_wage")}
    # n=2, k=0.9: (1750 + 20) / 2000 = 0.885 passes, (1800 + 10) / 2000 = 0.905 fails
    assert _flagged(check, "nk_dominance") == {(3, "mean_wage"), (4, "mean_wage")}
    # p=10%: (total − largest − second) < 0.1 × largest
    assert _flagged(check, "p_percent") == {(4, "mean_wage")}
    assert check.outcome == "fail"


def test_nk_rule_with_other_parameters() -> None:
    layout = MagnitudeLayout(value_column="total", top_n_sum_column="top3")
    table = pa.table(
        {
            "total": [1000.0, 1000.0],
            "contributors": [50, 50],
            "largest": [500.0, 300.0],
            "second_largest": [100.0, 300.0],
            "top3": [650.0, 850.0],
        }
    )
    one = check_output(table, layout=layout, rules=OutputRules(nk_n=1, nk_k=0.5))
    assert _flagged(one, "nk_dominance") == {(0, "total")}
    three = check_output(table, layout=layout, rules=OutputRules(nk_n=3, nk_k=0.75))
    assert _flagged(three, "nk_dominance") == {(1, "total")}
    with pytest.raises(OutputInvalid, match="top_n_sum_column"):
        check_output(table, layout=MagnitudeLayout(value_column="total"), rules=OutputRules(nk_n=3))


def test_negative_contributions_make_dominance_a_review() -> None:
    table = _means([("A", 100.0, 20, 900.0, -50.0), ("B", 100.0, 20, 150.0, 140.0)])
    check = check_output(table, layout=MEANS)
    assert check.rule("nk_dominance").status == "review"
    assert _flagged(check, "nk_dominance") == {(0, "mean_wage")}
    assert check.outcome == "review"


def test_all_zero_contributions_fail_the_p_percent_rule_as_in_acro() -> None:
    table = _means([("A", 0.0, 15, 0.0, 0.0)])
    check = check_output(table, layout=MEANS)
    assert _flagged(check, "p_percent") == {(0, "mean_wage")}
    assert check.rule("nk_dominance").status == "pass"


def test_inconsistent_evidence_is_refused() -> None:
    with pytest.raises(OutputInvalid, match="row 0: a second-largest contribution above"):
        check_output(_means([("A", 10.0, 20, 5.0, 9.0)]), layout=MEANS)
    with pytest.raises(OutputInvalid, match="without its contributors"):
        table = _means([("A", 10.0, 20, 5.0, 1.0)])
        contributors = pa.array([None], pa.int64())
        check_output(table.set_column(2, "contributors", contributors), layout=MEANS)
    with pytest.raises(OutputInvalid, match="'contributors' must hold whole numbers"):
        table = _means([("A", 10.0, 20, 5.0, 1.0)])
        check_output(table.set_column(2, "contributors", pa.array([20.0])), layout=MEANS)


# --------------------------------------------------------------------------------------
# Differencing
# --------------------------------------------------------------------------------------


def test_an_output_one_record_away_from_an_earlier_one_is_flagged() -> None:
    earlier = _crosstab([25, 31, 40], [40, 12, 15])
    now = _crosstab([25, 30, 40], [40, 12, 15])  # one woman in R1 left the population
    check = check_output(now, layout=CROSSTAB, earlier={"rel-1": earlier})
    assert check.outcome == "fail"
    assert check.rule("differencing").cells == (Cell(1, "female", "rel-1"),)


def test_differencing_pairs_rows_on_labels_whatever_their_order() -> None:
    earlier = _crosstab([25, 31, 40], [40, 12, 15]).take([2, 0, 1])
    now = _crosstab([25, 31, 43], [40, 12, 15])
    result = check_differencing(now, {"r": earlier}, CROSSTAB, OutputRules())
    assert result.cells == (Cell(2, "female", "r"),)


def test_identical_or_far_apart_outputs_pass_differencing() -> None:
    earlier = _crosstab([25, 31, 40], [40, 12, 15])
    assert check_output(earlier, layout=CROSSTAB, earlier={"r": earlier}).outcome == "pass"
    far = _crosstab([35, 41, 40], [40, 12, 35])
    assert check_output(far, layout=CROSSTAB, earlier={"r": earlier}).outcome == "pass"


def test_a_small_difference_in_totals_alone_asks_for_review() -> None:
    earlier = _crosstab([25, 31, 40], [40, 12, 15])
    now = _crosstab([35, 19, 40], [40, 12, 15])  # +10 and −12: the total differs by 2
    result = check_differencing(now, {"r": earlier}, CROSSTAB, OutputRules())
    assert result.status == "review"
    assert "'female'" in result.summary


def test_unpairable_earlier_releases_ask_for_review() -> None:
    now = _crosstab([25, 31, 40], [40, 12, 15])
    other_columns = pa.table({"region": ["R0"], "total": [65]})
    duplicated = _crosstab([25, 31], [40, 12]).set_column(0, "region", pa.array(["R0", "R0"]))
    for earlier in (other_columns, duplicated):
        assert check_differencing(now, {"r": earlier}, CROSSTAB, OutputRules()).status == "review"
    unlabelled = FrequencyLayout(count_columns=("female", "male"))
    shorter = check_differencing(now, {"r": now.slice(0, 2)}, unlabelled, OutputRules())
    assert shorter.status == "review"
    positional = check_differencing(
        now, {"r": _crosstab([25, 31, 41], [40, 12, 15])}, unlabelled, OutputRules()
    )
    assert positional.cells == (Cell(2, "female", "r"),)


def test_magnitude_differencing_compares_contributors() -> None:
    earlier = _means([("A", 100.0, 20, 150.0, 140.0), ("B", 90.0, 30, 150.0, 140.0)])
    now = _means([("A", 101.0, 21, 150.0, 140.0), ("B", 95.0, 30, 150.0, 140.0)])
    result = check_differencing(now, {"r": earlier}, MEANS, OutputRules())
    assert result.cells == (Cell(0, "mean_wage", "r"),)


# --------------------------------------------------------------------------------------
# Results, parameters and layouts as data
# --------------------------------------------------------------------------------------


def test_the_result_is_json() -> None:
    check = check_output(
        _crosstab([25, 3], [40, 12]), layout=CROSSTAB, earlier={"r": _crosstab([25, 4], [40, 12])}
    )
    stored = json.loads(json.dumps(check.as_dict()))
    assert stored["outcome"] == "fail"
    assert {"rule": "threshold", "status": "fail"}.items() <= stored["rules"][1].items()
    assert stored["rules"][1]["cells"] == [{"row": 1, "column": "female"}]
    differencing = next(rule for rule in stored["rules"] if rule["rule"] == "differencing")
    assert differencing["cells"] == [{"row": 1, "column": "female", "release": "r"}]
    assert stored["parameters"]["threshold"] == 10


def test_layouts_round_trip_through_dicts() -> None:
    for layout in (CROSSTAB, MEANS, MagnitudeLayout(value_column="x", top_n_sum_column="t")):
        assert layout_from_dict(json.loads(json.dumps(layout.as_dict()))) == layout
    with pytest.raises(OutputInvalid):
        layout_from_dict({"kind": "frequency", "counts": ["a"]})
    with pytest.raises(OutputInvalid):
        layout_from_dict({"kind": "pie"})


@pytest.mark.parametrize(
    "parameters",
    [{"threshold": 1}, {"nk_n": 0}, {"nk_k": 0.0}, {"nk_k": 1.5}, {"p": 1.0}, {"zero_cells": "x"}],
)
def test_rule_parameters_out_of_range_are_refused(parameters: dict[str, Any]) -> None:
    with pytest.raises(OutputRulesInvalid):
        OutputRules(**parameters)


# --------------------------------------------------------------------------------------
# Reading a submitted CSV file
# --------------------------------------------------------------------------------------


def test_csv_is_read_with_counts_as_numbers() -> None:
    table = parse_output_csv(
        b'\xef\xbb\xbfregion,female,male\r\n"R0, north",25, 40\r\nR1,3,\r\n', layout=CROSSTAB
    )
    assert table.to_pydict() == {
        "region": ["R0, north", "R1"],
        "female": [25, 3],
        "male": [40, None],
    }
    assert _flagged(check_output(table, layout=CROSSTAB), "threshold") == {(1, "female")}


def test_magnitude_csv_is_read() -> None:
    text = "region,mean_wage,contributors,largest,second_largest\nA,1.5e3,20,2500,2400.5\nB,,0,,\n"
    table = parse_output_csv(text, layout=MEANS)
    assert table.column("mean_wage").to_pylist() == [1500.0, None]
    assert table.column("contributors").type == pa.int64()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\n\r\n", "the file is empty"),
        (b"region,female,male\n", "a header but no rows"),
        (
            b"region,female,male\nR0,25,40\n\nR1,many,3\n",
            "line 4, column 'female': the value is not a whole",
        ),
        (b"region,female,male\nR0,25,-1\n", "line 2, column 'male'"),
        (b"region,female,male\nR0,2.5,1\n", "line 2, column 'female'"),
        (b"region,female,male\nR0,25\n", "line 2: 2 fields where the header has 3"),
        (b"region,female,male\nR0,25,1\nR1,1,2,3\n", "line 3: 4 fields"),
        (b"region,female\nR0,25\n", "no column 'male'"),
        (b"region,female,female\nR0,25,1\n", "empty or repeated"),
        (b"\nregion,female,male\nR0,25,1\n", "must start with its header"),
        (b"region,female,male\nR0,\xff,1\n", "not UTF-8"),
    ],
)
def test_unreadable_csv_is_refused_naming_where(data: bytes, message: str) -> None:
    with pytest.raises(OutputInvalid, match=message) as raised:
        parse_output_csv(data, layout=CROSSTAB)
    assert raised.value.code == "disclosure.output_invalid"


def test_a_bad_value_is_named_by_place_never_repeated() -> None:
    with pytest.raises(OutputInvalid) as raised:
        parse_output_csv(b"region,female,male\nR0,secret-value,1\n", layout=CROSSTAB)
    assert "secret-value" not in str(raised.value)


# --------------------------------------------------------------------------------------
# ACRO decides, the hub's rules must agree
# --------------------------------------------------------------------------------------

# ACRO takes about half a second a table: few examples, each a whole table
SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
acro_warnings = pytest.mark.filterwarnings("ignore::FutureWarning")
ACRO_DIR = Path(__file__).resolve().parents[3] / ".venv/lib/python3.11/site-packages/acro"
ROWS = ("x", "y", "z")
COLUMNS = ("p", "q")


@pytest.fixture(scope="module")
def acro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An ACRO session working in a temporary folder, its logging kept out of the root
    logger."""
    root = logging.getLogger()
    handlers, level, cwd = list(root.handlers), root.level, Path.cwd()
    os.chdir(tmp_path_factory.mktemp("acro"))
    try:
        from acro import ACRO

        session = ACRO(suppress=False)
    finally:
        os.chdir(cwd)
        root.handlers[:] = handlers
        root.setLevel(level)
    logging.getLogger("acro").setLevel(logging.WARNING)
    yield session


def _acro_cells(session: Any, check: str) -> set[tuple[int, int]]:
    output = list(session.results.results.values())[-1]
    return {(row, column) for row, column in output.sdc["cells"].get(check, [])}


def _as_acro(
    cells: set[tuple[int, str]], positions: dict[tuple[int, str], tuple[int, int]]
) -> set[tuple[int, int]]:
    return {positions[cell] for cell in cells}


def _records(rows: list[tuple[str, str, float]]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "a": pd.Categorical([r[0] for r in rows], categories=ROWS),
            "b": pd.Categorical([r[1] for r in rows], categories=COLUMNS),
            "v": [r[2] for r in rows],
        }
    )


def _evidence(frame: Any) -> pa.Table:
    """Per (a, b) cell: records, sum, mean, largest and second-largest value (all cells,
    empty ones with no records), in ACRO's row-major order."""
    data = pa.table({"a": frame["a"].astype(str), "b": frame["b"].astype(str), "v": frame["v"]})
    cells = pa.table({"a": [a for a in ROWS for _ in COLUMNS], "b": list(COLUMNS) * len(ROWS)})
    connection = duckdb.connect()
    connection.register("data", data)
    connection.register("cells", cells)
    return connection.sql(
        """
        WITH ranked AS (
            SELECT a, b, v, row_number() OVER (PARTITION BY a, b ORDER BY v DESC) AS rank
            FROM data
        ), per_cell AS (
            SELECT a, b, count(*) AS records, sum(v)::DOUBLE AS total, avg(v) AS mean,
                   max(v) FILTER (WHERE rank = 1)::DOUBLE AS largest,
                   max(v) FILTER (WHERE rank = 2)::DOUBLE AS second_largest
            FROM ranked GROUP BY a, b
        )
        SELECT cells.a, cells.b, coalesce(records, 0)::BIGINT AS contributors, total, mean,
               largest, second_largest
        FROM cells LEFT JOIN per_cell USING (a, b)
        ORDER BY cells.a, cells.b
        """
    ).to_arrow_table()


def _frequency_from(evidence: pa.Table) -> pa.Table:
    counts = np.asarray(evidence.column("contributors").to_numpy()).reshape(len(ROWS), len(COLUMNS))
    return pa.table({"a": list(ROWS), **{b: counts[:, j] for j, b in enumerate(COLUMNS)}})


def _cross_check_frequency(session: Any, rows: list[tuple[str, str, float]]) -> None:
    frame = _records(rows)
    session.crosstab(frame["a"], frame["b"])
    table = _frequency_from(_evidence(frame))
    layout = FrequencyLayout(count_columns=COLUMNS, label_columns=("a",))
    check = check_output(table, layout=layout)
    positions = {(i, b): (i, j) for i in range(len(ROWS)) for j, b in enumerate(COLUMNS)}
    ours = _as_acro(_flagged(check, "threshold") | _flagged(check, "zero_cells"), positions)
    assert ours == _acro_cells(session, "MinimumThresholdCheck")
    assert _as_acro(_flagged(check, "zero_cells"), positions) == _acro_cells(
        session, "PresenceOfZeroCheck"
    )


def _cross_check_magnitude(
    session: Any, rows: list[tuple[str, str, float]], statistic: Literal["sum", "mean"]
) -> None:
    frame = _records(rows)
    session.crosstab(frame["a"], frame["b"], values=frame["v"], aggfunc=statistic)
    evidence = _evidence(frame)
    value = "total" if statistic == "sum" else "mean"
    layout = MagnitudeLayout(value_column=value, statistic=statistic, label_columns=("a", "b"))
    check = check_output(evidence, layout=layout)
    positions = {
        (i * len(COLUMNS) + j, value): (i, j) for i in range(len(ROWS)) for j in range(len(COLUMNS))
    }
    threshold = _flagged(check, "threshold") | _flagged(check, "zero_cells")
    assert _as_acro(threshold, positions) == _acro_cells(session, "MinimumThresholdCheck")
    assert _as_acro(_flagged(check, "nk_dominance"), positions) == _acro_cells(session, "NKCheck")
    assert _as_acro(_flagged(check, "p_percent"), positions) == _acro_cells(
        session, "PPercentCheck"
    )


def test_the_default_parameters_are_acros() -> None:
    config = yaml.safe_load((ACRO_DIR / "default.yaml").read_text())
    rules = OutputRules()
    assert (rules.threshold, rules.nk_n, rules.nk_k, rules.p) == (
        config["safe_threshold"],
        config["safe_nk_n"],
        config["safe_nk_k"],
        config["safe_pratio_p"],
    )


@acro_warnings
def test_acro_agrees_on_a_hand_made_table(acro: Any) -> None:
    rows = [("x", "p", 5.0)] * 12 + [("y", "p", 7.0)] * 3 + [("x", "q", 1.0), ("x", "q", 2.0)]
    rows += [("z", "q", float(v)) for v in range(1, 12)] + [("z", "q", 1000.0)]
    rows += (
        [("z", "p", 10.0)] * 9 + [("z", "p", 700.0)] + [("y", "q", 3.0)] * 10 + [("y", "q", 40.0)]
    )
    _cross_check_frequency(acro, rows)
    _cross_check_magnitude(acro, rows, "sum")
    _cross_check_magnitude(acro, rows, "mean")
    # the example is not trivial: each rule flags something
    assert _acro_cells(acro, "NKCheck") and _acro_cells(acro, "PPercentCheck")
    assert _acro_cells(acro, "MinimumThresholdCheck")


cell_values = st.integers(1, 2_000) | st.integers(50_000, 1_000_000)
records = st.lists(
    st.tuples(st.sampled_from(ROWS), st.sampled_from(COLUMNS), cell_values.map(float)),
    min_size=1,
    max_size=80,
)


@acro_warnings
@SETTINGS
@given(rows=records)
def test_acro_agrees_on_frequency_and_sum_tables(
    acro: Any, rows: list[tuple[str, str, float]]
) -> None:
    _cross_check_frequency(acro, rows)
    _cross_check_magnitude(acro, rows, "sum")


@acro_warnings
@settings(SETTINGS, max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 150))
def test_acro_agrees_on_mean_tables(acro: Any, seed: int, size: int) -> None:
    # continuous values: a mean times its count is the sum up to rounding, so values
    # at exact rule boundaries (integers) are left to the sum test
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.ones(len(ROWS) * len(COLUMNS)) * 0.5)
    chosen = rng.choice(len(ROWS) * len(COLUMNS), size=size, p=weights)
    values = rng.lognormal(6, rng.uniform(0.1, 3.0), size=size)
    rows = [
        (ROWS[int(c) // len(COLUMNS)], COLUMNS[int(c) % len(COLUMNS)], float(v))
        for c, v in zip(chosen, values, strict=True)
    ]
    _cross_check_magnitude(acro, rows, "mean")
