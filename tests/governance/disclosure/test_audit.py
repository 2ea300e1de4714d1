"""The audit: exact recompute intervals of published tables, and the screen protect uses."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.disclosure.audit import (
    EXACT,
    cell_bounds,
    exposed_cells,
    intruder_system,
    recompute_bounds,
    unit,
)
from governance.disclosure.cube import additivity
from governance.disclosure.errors import CellTableInvalid

T = "_T"


def published(values: dict[tuple[str, str], float | None], **extra: object) -> pa.Table:
    rows = [{"sex": s, "region": r, "value": v, **extra} for (s, r), v in values.items()]
    return pa.Table.from_pylist(rows)


def bounds(table: pa.Table) -> dict[tuple[str, str], tuple[float, float]]:
    out = recompute_bounds(table, dimensions=["sex", "region"])
    return {(r["sex"], r["region"]): (r["lower_bound"], r["upper_bound"]) for r in out.to_pylist()}


def test_the_four_cells_of_a_rectangle_move_together() -> None:
    # a + b = 13, c + d = 32, a + c = 15, b + d = 30: a = t, b = 13 - t, c = 15 - t,
    # d = 17 + t, t in [0, 13]
    table = published(
        {
            ("1", "A"): None, ("1", "B"): None, ("1", T): 13.0,
            ("2", "A"): None, ("2", "B"): None, ("2", T): 32.0,
            (T, "A"): 15.0, (T, "B"): 30.0, (T, T): 45.0,
        },
        time_period="2023",
    )  # fmt: skip
    out = recompute_bounds(table, dimensions=["sex", "region"])
    assert out.column_names == ["sex", "region", "value", "time_period", "lower_bound",
                                "upper_bound"]  # fmt: skip
    assert bounds(table) == {
        ("1", "A"): (0.0, 13.0),
        ("1", "B"): (0.0, 13.0),
        ("2", "A"): (2.0, 15.0),
        ("2", "B"): (17.0, 30.0),
    }


def test_a_margin_of_zero_pins_its_cells_though_the_equations_leave_them_free() -> None:
    # a + b = 0 forces a = b = 0, then c = 5 and d = 5: non-negativity does what the
    # equations alone (a rank argument) cannot
    table = published(
        {
            ("1", "A"): None, ("1", "B"): None, ("1", T): 0.0,
            ("2", "A"): None, ("2", "B"): None, ("2", T): 10.0,
            (T, "A"): 5.0, (T, "B"): 5.0, (T, T): 10.0,
        }
    )  # fmt: skip
    assert bounds(table) == {
        ("1", "A"): (0.0, 0.0),
        ("1", "B"): (0.0, 0.0),
        ("2", "A"): (5.0, 5.0),
        ("2", "B"): (5.0, 5.0),
    }


def test_a_cell_hidden_with_its_total_is_unbounded_above() -> None:
    table = pa.table({"age": ["A", "B", "_T"], "value": [None, 7.0, None]})
    out = recompute_bounds(table, dimensions=["age"]).to_pylist()
    assert [(r["age"], r["lower_bound"], r["upper_bound"]) for r in out] == [
        ("A", 0.0, np.inf),
        ("_T", 7.0, np.inf),
    ]


def test_tables_are_audited_separately_and_a_line_of_one_unknown_is_exact() -> None:
    table = pa.table(
        {
            "age": ["A", "B", "_T"] * 2,
            "time_period": ["2023"] * 3 + ["2024"] * 3,
            "value": [None, 7.0, 10.0, None, None, 10.0],
        }
    )
    out = recompute_bounds(table, dimensions=["age"]).to_pylist()
    assert [(r["time_period"], r["lower_bound"], r["upper_bound"]) for r in out] == [
        ("2023", 3.0, 3.0),
        ("2024", 0.0, 10.0),
        ("2024", 0.0, 10.0),
    ]


def test_published_cells_that_contradict_the_margins_are_refused() -> None:
    table = published(
        {
            ("1", "A"): None, ("1", "B"): 4.0, ("1", T): 13.0,
            ("2", "A"): None, ("2", "B"): 4.0, ("2", T): 32.0,
            (T, "A"): 15.0, (T, "B"): 30.0, (T, T): 45.0,
        }
    )  # fmt: skip
    with pytest.raises(CellTableInvalid, match="do not add up"):
        recompute_bounds(table, dimensions=["sex", "region"])


def test_the_unit_is_a_power_of_two_at_or_above_the_largest_value() -> None:
    assert unit(np.array([3.0, 1000.0])) == 1024.0
    assert unit(np.array([0.25])) == 0.25
    assert unit(np.array([0.0])) == 1.0
    assert unit(np.zeros(0)) == 1.0


@settings(max_examples=20, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    data=st.data(),
)
def test_the_screen_finds_exactly_the_cells_without_a_wide_enough_interval(shape, data) -> None:
    size = int(np.prod(shape))
    inner = np.array(
        data.draw(st.lists(st.integers(0, 9), min_size=size, max_size=size)), dtype=float
    ).reshape(shape)
    full = inner
    for axis in range(2):
        full = np.concatenate([full, full.sum(axis=axis, keepdims=True)], axis=axis)
    values = full.ravel() / unit(full.ravel())
    hidden = np.array(data.draw(st.lists(st.booleans(), min_size=values.size,
                                         max_size=values.size)))  # fmt: skip
    fraction = data.draw(st.sampled_from([0.0, 0.3]))
    system = intruder_system(additivity(full.shape), values, hidden)
    required = fraction * values[system.cells] + EXACT
    low, high = cell_bounds(system)
    expected = system.cells[high - low <= required]
    assert exposed_cells(system, values, required).tolist() == expected.tolist()
