"""Reading a table of cells as cubes with margins, and the margins' equations."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.disclosure.cube import MAX_CELLS, additivity, read_cube
from governance.disclosure.errors import CellTableInvalid


def with_margins(inner: np.ndarray) -> np.ndarray:
    full = inner
    for axis in range(inner.ndim):
        full = np.concatenate([full, full.sum(axis=axis, keepdims=True)], axis=axis)
    return full


def test_codes_are_sorted_with_the_margin_last_and_rows_find_their_cells() -> None:
    table = pa.table(
        {
            "region": ["R2", "_T", "R1", "R2", "_T", "R1"],
            "sex": ["1", "1", "1", "_T", "_T", "_T"],
            "contributors": [1, 2, 3, 4, 5, 6],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    cube = read_cube(table, dimensions=["sex", "region"], total_code="_T")
    assert cube.codes == (("1", "_T"), ("R1", "R2", "_T"))
    assert cube.shape == (2, 3)
    assert cube.cell.tolist() == [1, 2, 0, 4, 5, 3]
    assert cube.keys == () and cube.tables == 1
    assert cube.margins().tolist() == [0, 0, 1, 1, 1, 2]
    assert cube.cell_name(4) == "sex=_T, region=R2"
    assert cube.scatter(np.array([1.0, 2, 3, 4, 5, 6])).tolist() == [[3, 1, 2, 6, 4, 5]]


def test_other_columns_split_tables_and_floating_columns_are_measures() -> None:
    table = pa.table(
        {
            "age": ["A", "_T", "A", "_T", "B"],
            "time_period": ["2023", "2023", "2024", "2024", "2024"],
            "year": pa.array([1, 1, 2, 2, 2], pa.int16()),
            "contributors": [1, 1, 2, 2, 0],
            "value": [1.0, 1.0, 2.0, 2.0, 0.0],
            "lower_ci": [0.5, 0.5, 1.0, 1.0, 0.0],
        }
    )
    cube = read_cube(table, dimensions=["age"], total_code="_T")
    assert cube.keys == ("time_period", "year")
    assert cube.labels == ("time_period=2023, year=1", "time_period=2024, year=2")
    assert cube.table.tolist() == [0, 0, 1, 1, 1]
    assert cube.codes == (("A", "B", "_T"),)
    # the 2023 table has no row for B: an empty cell
    assert cube.present().tolist() == [[True, False, True], [True, True, True]]
    assert cube.where(0, 1) == "cell age=B of the table time_period=2023, year=1"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pa.table({"age": ["A", "B"], "value": [1.0, 1.0]}), "no margin code"),
        (pa.table({"age": ["A", "_T", "A"], "value": [1.0, 1.0, 1.0]}), "two rows"),
        (pa.table({"age": ["A", None, "_T"], "value": [1.0, 1.0, 2.0]}), "without a code"),
        (pa.table({"age": [1, 2], "value": [1.0, 1.0]}), "string codes"),
        (pa.table({"sex": ["1", "_T"], "value": [1.0, 1.0]}), "'age' is missing"),
        (
            pa.table({"age": ["A", "_T"], "when": pa.array([[1], [2]]), "value": [1.0, 1.0]}),
            "cannot split",
        ),
    ],
)
def test_tables_that_are_not_cubes_are_refused(table: pa.Table, message: str) -> None:
    with pytest.raises(CellTableInvalid, match=message):
        read_cube(table, dimensions=["age"], total_code="_T")


def test_a_dimension_cannot_be_a_measure_nor_named_twice() -> None:
    table = pa.table({"age": ["A", "_T"], "value": [1.0, 1.0]})
    with pytest.raises(CellTableInvalid, match="is a measure"):
        read_cube(table, dimensions=["value"], total_code="_T")
    with pytest.raises(CellTableInvalid, match="twice"):
        read_cube(table, dimensions=["age", "age"], total_code="_T")
    with pytest.raises(CellTableInvalid, match="no dimension"):
        read_cube(table, dimensions=[], total_code="_T")


def test_a_cube_larger_than_the_limit_is_refused() -> None:
    n = round(MAX_CELLS ** (1 / 3)) + 1
    codes = [f"c{i}" for i in range(n)] + ["_T"]
    table = pa.table({"a": codes, "b": codes, "c": codes, "value": [0.0] * len(codes)})
    with pytest.raises(CellTableInvalid, match="more than"):
        read_cube(table, dimensions=["a", "b", "c"], total_code="_T")


def test_dictionary_encoded_codes_are_read() -> None:
    table = pa.table(
        {"age": pa.array(["B", "_T", "A"]).dictionary_encode(), "value": [1.0, 2.0, 1.0]}
    )
    cube = read_cube(table, dimensions=["age"], total_code="_T")
    assert cube.codes == (("A", "B", "_T"),) and cube.cell.tolist() == [1, 2, 0]


shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


@settings(max_examples=50, deadline=None)
@given(shape=shapes, data=st.data())
def test_an_additive_cube_solves_the_equations_and_a_changed_cell_breaks_one(shape, data) -> None:
    inner = np.array(
        data.draw(st.lists(st.integers(0, 50), min_size=int(np.prod(shape)),
                           max_size=int(np.prod(shape))))
    ).reshape(shape)  # fmt: skip
    full = with_margins(inner).astype(np.float64)
    equations = additivity(full.shape)
    lines = sum(full.size // n for n in full.shape if n > 1)
    assert equations.matrix.shape == (lines, full.size)
    assert np.allclose(equations.matrix @ full.ravel(), 0.0)
    if lines:
        cell = data.draw(st.integers(0, full.size - 1))
        changed = full.ravel().copy()
        changed[cell] += 1.0
        broken = np.abs(equations.matrix @ changed) > 0
        # one broken line per dimension along which the cell has a line
        assert broken.sum() == sum(1 for n in full.shape if n > 1)
        assert set(equations.margin[broken].tolist()) <= {
            int(np.ravel_multi_index(m, full.shape))
            for m in itertools.product(
                *(
                    (i, n - 1) if n > 1 else (i,)
                    for i, n in zip(np.unravel_index(cell, full.shape), full.shape, strict=True)
                )
            )
        }
