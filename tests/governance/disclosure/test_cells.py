"""Cell suppression of published tables: hand-checked patterns, and random cubes whose
suppressed cells are recomputed independently (a rank argument and a linear program
built here, not the audit's)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import null_space
from scipy.optimize import linprog

from governance.disclosure.cells import CellRule, carry_pattern, protect
from governance.disclosure.errors import CellRuleInvalid, CellTableInvalid

T = "_T"
Row = dict[str, Any]
Key = tuple[str, ...]


def cube_rows(inner: np.ndarray, *, names: Sequence[str] | None = None) -> list[Row]:
    """Rows of the full cube of ``inner`` (interior counts) with every margin: codes
    ``c0, c1, …`` and ``_T``; ``contributors`` and ``value`` both the count."""
    dims = list(names or [f"d{i}" for i in range(inner.ndim)])
    rows = []
    for index in itertools.product(*(range(n + 1) for n in inner.shape)):
        part = tuple(slice(None) if i == n else i for i, n in zip(index, inner.shape, strict=True))
        count = int(inner[part].sum())
        codes = {
            d: (T if i == n else f"c{i}") for d, i, n in zip(dims, index, inner.shape, strict=True)
        }
        rows.append({**codes, "contributors": count, "value": float(count)})
    return rows


def equations(rows: list[Row], dims: Sequence[str]) -> list[tuple[Key, list[Key]]]:
    """(margin key, part keys) of every line of the cube the rows hold."""
    codes = [sorted({str(r[d]) for r in rows} - {T}) for d in dims]
    out = []
    for axis in range(len(dims)):
        others = [codes[i] + [T] for i in range(len(dims)) if i != axis]
        for rest in itertools.product(*others):

            def key(code: str, rest: Key = rest, axis: int = axis) -> Key:
                return (*rest[:axis], code, *rest[axis:])

            out.append((key(T), [key(c) for c in codes[axis]]))
    return out


def intruder(rows: list[Row], dims: Sequence[str]) -> tuple[list[Key], np.ndarray, np.ndarray]:
    """The suppressed keys, and the system ``A x = b`` an intruder solves for them."""
    known = {tuple(str(r[d]) for d in dims): r["value"] for r in rows}
    unknown = [k for k, v in known.items() if v is None]
    position = {k: j for j, k in enumerate(unknown)}
    matrix, rhs = [], []
    for margin, parts in equations(rows, dims):
        line = np.zeros(len(unknown))
        published = 0.0
        for key, sign in [(margin, 1.0), *((p, -1.0) for p in parts)]:
            value = known.get(key, 0.0)  # a cell without a row is empty
            if value is None:
                line[position[key]] += sign
            else:
                published += sign * float(value)
        if line.any():
            matrix.append(line)
            rhs.append(-published)
    return unknown, np.array(matrix, dtype=float).reshape(len(matrix), len(unknown)), np.array(rhs)


def determined(rows: list[Row], dims: Sequence[str]) -> list[Key]:
    """Suppressed cells the margins pin down: those whose unit vector lies in the row
    space of the system (no direction of its null space moves them). With every
    suppressed value positive, non-negativity cannot pin a cell, so this is exactly
    the set of cells recomputable from the published table."""
    unknown, matrix, _ = intruder(rows, dims)
    if not unknown:
        return []
    basis = null_space(matrix) if matrix.size else np.eye(len(unknown))
    free = np.abs(basis).max(axis=1, initial=0.0) > 1e-9
    return [k for k, f in zip(unknown, free, strict=True) if not f]


def lp_widths(rows: list[Row], dims: Sequence[str]) -> dict[Key, float]:
    """Each suppressed cell's max minus min over the intruder's system, x >= 0."""
    unknown, matrix, rhs = intruder(rows, dims)
    out = {}
    for j, key in enumerate(unknown):
        ends = []
        for sign in (1.0, -1.0):
            c = np.zeros(len(unknown))
            c[j] = sign
            res = linprog(
                c,
                A_eq=matrix if matrix.size else None,
                b_eq=rhs if matrix.size else None,
                bounds=(0, None),
                method="highs",
            )
            ends.append(np.inf if res.status == 3 else float(res.x[j]))
        out[key] = ends[1] - ends[0]
    return out


def protected(rows: list[Row], dims: Sequence[str], rule: CellRule | None = None):
    out = protect(pa.Table.from_pylist(rows), dimensions=dims, rule=rule or CellRule())
    return out.to_pylist()


def status(rows: list[Row], dims: Sequence[str]) -> dict[Key, str]:
    return {tuple(r[d] for d in dims): r["conf_status"] for r in rows}


# --- hand-checked patterns ---------------------------------------------------------


def test_one_small_cell_of_a_2x2_table_hides_the_other_three_inner_cells() -> None:
    rows = cube_rows(np.array([[3, 10], [12, 20]]), names=["sex", "region"])
    out = protected(rows, ["sex", "region"])
    assert status(out, ["sex", "region"]) == {
        ("c0", "c0"): "C", ("c0", "c1"): "D", ("c0", T): "F",
        ("c1", "c0"): "D", ("c1", "c1"): "D", ("c1", T): "F",
        (T, "c0"): "F", (T, "c1"): "F", (T, T): "F",
    }  # fmt: skip
    # a = t, b = 13 - t, c = 15 - t, d = 17 + t for t in [0, 13]
    assert lp_widths(out, ["sex", "region"]) == pytest.approx(
        {("c0", "c0"): 13, ("c0", "c1"): 13, ("c1", "c0"): 13, ("c1", "c1"): 13}
    )
    hidden = [r for r in out if r["conf_status"] != "F"]
    assert all(r["obs_status"] == "Q" and r["value"] is None for r in hidden)
    assert all(r["contributors"] is None for r in hidden)
    assert {r["obs_status"] for r in out if r["conf_status"] == "F"} == {"A"}


def test_a_one_dimensional_table_hides_the_smallest_other_cell_not_the_total() -> None:
    rows = cube_rows(np.array([3, 40, 9, 0, 25]), names=["age"])
    out = protected(rows, ["age"])
    assert status(out, ["age"]) == {
        ("c0",): "C",
        ("c1",): "F",
        ("c2",): "D",
        ("c3",): "F",
        ("c4",): "F",
        (T,): "F",
    }
    assert lp_widths(out, ["age"]) == pytest.approx({("c0",): 12, ("c2",): 12})


def test_a_one_dimensional_table_whose_total_is_small_hides_the_total_too() -> None:
    out = protected(cube_rows(np.array([2, 0, 0]), names=["age"]), ["age"])
    assert status(out, ["age"]) == {("c0",): "C", ("c1",): "F", ("c2",): "F", (T,): "C"}
    assert lp_widths(out, ["age"]) == {("c0",): np.inf, (T,): np.inf}


def test_a_chain_of_suppressed_lines_the_line_rule_leaves_exact_is_broken_up() -> None:
    # two 2x2 blocks of small cells joined by one small cell: every line holds two
    # suppressed cells or none, yet the joining cell is the difference of margins
    inner = np.full((4, 4), 20)
    small = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)]
    for cell in small:
        inner[cell] = 3
    rows = cube_rows(inner)
    dims = ["d0", "d1"]
    line_rule_only = [
        {**r, "value": None}
        if tuple(int(str(r[d])[1:]) if r[d] != T else -1 for d in dims) in small
        else r
        for r in rows
    ]
    assert determined(line_rule_only, dims) == [("c1", "c2")]
    out = protected(rows, dims)
    assert sum(r["conf_status"] == "C" for r in out) == 9
    assert sum(r["conf_status"] == "D" for r in out) >= 1
    assert determined(out, dims) == []
    assert min(lp_widths(out, dims).values()) > 0


def test_dominance_one_employer_with_ninety_percent_of_earnings() -> None:
    rows = [
        {"industry": "A", "contributors": 12, "value": 1000.0, "largest": 900.0},
        {"industry": "B", "contributors": 9, "value": 800.0, "largest": 300.0},
        {"industry": "C", "contributors": 7, "value": 600.0, "largest": 120.0},
        {"industry": T, "contributors": 28, "value": 2400.0, "largest": 900.0},
    ]
    rule = CellRule(magnitude=True)
    out = protected(rows, ["industry"], rule)
    assert [r["conf_status"] for r in out] == ["C", "F", "D", "F"]
    assert [r["largest"] for r in out] == [None, 300.0, None, 900.0]
    # 85 % is the line: 850 of 1000 is not above it
    rows[0]["largest"] = 850.0
    assert [r["conf_status"] for r in protected(rows, ["industry"], rule)] == ["F"] * 4


def test_dominance_of_two_employers() -> None:
    rows = [
        {"industry": "A", "contributors": 10, "value": 1000.0, "largest": 500.0,
         "second_largest": 400.0},
        {"industry": "B", "contributors": 10, "value": 1000.0, "largest": 500.0,
         "second_largest": 300.0},
        {"industry": T, "contributors": 20, "value": 2000.0, "largest": 500.0,
         "second_largest": 500.0},
    ]  # fmt: skip
    rule = CellRule(magnitude=True, dominance_n=2, dominance_k=0.85)
    # 900 > 850 in A; 800 is not in B, but B is A's only complement in the line
    assert [r["conf_status"] for r in protected(rows, ["industry"], rule)] == ["C", "D", "F"]
    # with n = 1, 500 of 1000 dominates neither
    assert {r["conf_status"] for r in protected(rows, ["industry"], CellRule(magnitude=True))} == {
        "F"
    }


def test_p_percent_rule_protects_the_largest_from_the_second_largest() -> None:
    # A: 1000 - 700 - 250 = 50 < 10 % of 700; B: 200 >= 50; C: 200 >= 40, and cheaper
    rows = [
        {"industry": "A", "contributors": 6, "value": 1000.0, "largest": 700.0,
         "second_largest": 250.0},
        {"industry": "B", "contributors": 6, "value": 1000.0, "largest": 500.0,
         "second_largest": 300.0},
        {"industry": "C", "contributors": 6, "value": 900.0, "largest": 400.0,
         "second_largest": 300.0},
        {"industry": T, "contributors": 18, "value": 2900.0, "largest": 700.0,
         "second_largest": 500.0},
    ]  # fmt: skip
    rule = CellRule(magnitude=True, dominance_k=1.0, p_percent=10.0)
    assert [r["conf_status"] for r in protected(rows, ["industry"], rule)] == ["C", "F", "D", "F"]
    # at p = 5 %, A's remainder of 50 is not below 35
    five = CellRule(magnitude=True, dominance_k=1.0, p_percent=5.0)
    assert {r["conf_status"] for r in protected(rows, ["industry"], five)} == {"F"}


def test_a_one_contributor_cell_without_a_second_largest_is_confidential() -> None:
    rows = [
        {"industry": "A", "contributors": 1, "value": 50.0, "largest": 50.0,
         "second_largest": None},
        {"industry": "B", "contributors": 0, "value": 0.0, "largest": None,
         "second_largest": None},
        {"industry": T, "contributors": 1, "value": 50.0, "largest": 50.0,
         "second_largest": None},
    ]  # fmt: skip
    rule = CellRule(magnitude=True, p_percent=10.0)
    assert [r["conf_status"] for r in protected(rows, ["industry"], rule)] == ["C", "F", "C"]


def test_the_minimum_protection_widens_the_intervals() -> None:
    # a (1000) is dominated by one unit (950); its rectangle with b, c and d (10, 400,
    # 10) lets it move by 10 either way only: 20 wide, not the half of 1000 asked for
    dims = ["d0", "d1"]
    rows = cube_rows(np.array([[1000, 10, 800], [400, 10, 800]]))
    for r in rows:
        r["contributors"] = 5 * (2 if r["d0"] == T else 1) * (3 if r["d1"] == T else 1)
        holds_a = r["d0"] in ("c0", T) and r["d1"] in ("c0", T)
        r["largest"] = 950.0 if holds_a else 0.1 * r["value"]
    loose = protected(rows, dims, CellRule(magnitude=True))
    assert [k for k, v in status(loose, dims).items() if v == "C"] == [("c0", "c0")]
    assert lp_widths(loose, dims)[("c0", "c0")] == pytest.approx(20.0)
    tight = protected(rows, dims, CellRule(magnitude=True, min_protection=0.5))
    assert lp_widths(tight, dims)[("c0", "c0")] > 500.0
    assert sum(r["conf_status"] == "D" for r in tight) > sum(r["conf_status"] == "D" for r in loose)
    assert determined(tight, dims) == []


def test_each_period_is_protected_on_its_own_and_other_columns_pass_through() -> None:
    first = cube_rows(np.array([3, 40, 9]), names=["age"])
    second = cube_rows(np.array([30, 40, 2]), names=["age"])
    rows = [
        {**r, "time_period": period, "indicator": "EMP", "standard_error": 0.5}
        for period, table in (("2023", first), ("2024", second))
        for r in table
    ]
    out = protect(pa.Table.from_pylist(rows), dimensions=["age"], rule=CellRule())
    assert out.column_names == [
        "age", "contributors", "value", "time_period", "indicator", "standard_error",
        "conf_status", "obs_status",
    ]  # fmt: skip
    got = out.to_pylist()
    assert [r["conf_status"] for r in got] == ["C", "F", "D", "F", "D", "F", "C", "F"]
    assert [r["standard_error"] for r in got] == [None, 0.5, None, 0.5, None, 0.5, None, 0.5]
    assert [r["time_period"] for r in got] == [r["time_period"] for r in rows]


def test_rows_keep_their_order_and_missing_cells_are_empty() -> None:
    rows = cube_rows(np.array([[3, 10], [12, 20], [0, 0]]))
    rows = [r for r in rows if r["contributors"] or r["d1"] == T]  # drop two empty cells
    reordered = rows[::-1]
    out = protected(reordered, ["d0", "d1"])
    assert [(r["d0"], r["d1"]) for r in out] == [(r["d0"], r["d1"]) for r in reordered]
    assert sum(r["conf_status"] != "F" for r in out) == 4


def test_a_rate_table_takes_the_pattern_of_its_counts() -> None:
    employed = cube_rows(np.array([[3, 10], [12, 20]]), names=["sex", "region"])
    labour = cube_rows(np.array([[30, 2], [40, 25]]), names=["sex", "region"])
    employed_out = protect(
        pa.Table.from_pylist(employed), dimensions=["sex", "region"], rule=CellRule()
    )
    labour_out = protect(
        pa.Table.from_pylist(labour), dimensions=["sex", "region"], rule=CellRule()
    )
    rate = pa.Table.from_pylist(
        [
            {"sex": e["sex"], "region": e["region"], "value": e["value"] / f["value"]}
            for e, f in zip(employed, labour, strict=True)
        ]
    )
    once = carry_pattern(rate, pattern=employed_out, keys=["sex", "region"])
    assert once.column("conf_status").to_pylist() == employed_out.column("conf_status").to_pylist()
    twice = carry_pattern(once, pattern=labour_out, keys=["sex", "region"])
    first = employed_out.column("conf_status").to_pylist()
    second = labour_out.column("conf_status").to_pylist()
    strength = {"F": 0, "D": 1, "C": 2}
    expected = [a if strength[a] >= strength[b] else b for a, b in zip(first, second, strict=True)]
    assert twice.column("conf_status").to_pylist() == expected
    values = twice.column("value").to_pylist()
    assert [v is None for v in values] == [s != "F" for s in expected]
    with pytest.raises(CellTableInvalid, match="no row"):
        carry_pattern(rate, pattern=employed_out.slice(1), keys=["sex", "region"])


def test_an_empty_table_gets_its_status_columns() -> None:
    empty = pa.table({"age": pa.array([], pa.string()), "contributors": pa.array([], pa.int64()),
                      "value": pa.array([], pa.float64())})  # fmt: skip
    out = protect(empty, dimensions=["age"], rule=CellRule())
    assert out.num_rows == 0 and out.column_names[-2:] == ["conf_status", "obs_status"]


# --- refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda rows: [r for r in rows if r["d0"] != T], "no margin code"),
        (lambda rows: [*rows, rows[0]], "two rows"),
        (lambda rows: [{**r, "value": r["value"] + (r["d0"] == T)} for r in rows], "not the sum"),
        (lambda rows: [{**r, "contributors": -1} if i == 0 else r for i, r in enumerate(rows)],
         "negative"),
        (lambda rows: [{**r, "value": None} if i == 0 else r for i, r in enumerate(rows)], "null"),
        (lambda rows: [{**r, "conf_status": "F"} for r in rows], "already"),
    ],
)  # fmt: skip
def test_a_table_that_is_not_a_cube_with_margins_is_refused(change, message) -> None:
    rows = cube_rows(np.array([[3, 10], [12, 20]]))
    with pytest.raises(CellTableInvalid, match=message):
        protect(pa.Table.from_pylist(change(rows)), dimensions=["d0", "d1"], rule=CellRule())


def test_a_magnitude_rule_needs_the_largest_contributions() -> None:
    rows = cube_rows(np.array([3, 10]))
    with pytest.raises(CellTableInvalid, match="largest"):
        protect(pa.Table.from_pylist(rows), dimensions=["d0"], rule=CellRule(magnitude=True))
    above = [{**r, "largest": r["value"] + 1.0} for r in rows]
    with pytest.raises(CellTableInvalid, match="above the value in the cell d0=c0"):
        protect(pa.Table.from_pylist(above), dimensions=["d0"], rule=CellRule(magnitude=True))
    one = CellRule(magnitude=True, dominance_n=2)
    missing = [{**r, "largest": r["value"], "second_largest": None} for r in rows]
    with pytest.raises(CellTableInvalid, match="second_largest is null"):
        protect(pa.Table.from_pylist(missing), dimensions=["d0"], rule=one)


def test_a_pattern_with_a_key_twice_is_refused() -> None:
    rows = cube_rows(np.array([3, 10]))
    out = protect(pa.Table.from_pylist(rows), dimensions=["d0"], rule=CellRule())
    with pytest.raises(CellTableInvalid, match="twice"):
        carry_pattern(out, pattern=pa.concat_tables([out, out]), keys=["d0"])
    with pytest.raises(CellTableInvalid, match="'d1' is missing"):
        carry_pattern(out, pattern=out, keys=["d1"])


@pytest.mark.parametrize(
    "fields",
    [{"min_contributors": 0}, {"dominance_n": 3}, {"dominance_k": 0.0}, {"p_percent": -1.0},
     {"min_protection": 2.0}],
)  # fmt: skip
def test_rules_out_of_range_are_refused(fields) -> None:
    with pytest.raises(CellRuleInvalid):
        CellRule(**fields)


# --- random cubes -----------------------------------------------------------------


def counts(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    cell = st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 40))
    size = int(np.prod(shape))
    return st.lists(cell, min_size=size, max_size=size).map(
        lambda xs: np.array(xs, dtype=np.int64).reshape(shape)
    )


shapes = st.one_of(
    st.tuples(st.integers(1, 6)),
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
)
cubes = shapes.flatmap(counts)


@settings(max_examples=60, deadline=None)
@given(inner=cubes, seed=st.integers(0, 2**32 - 1))
def test_random_count_tables_are_protected(inner: np.ndarray, seed: int) -> None:
    rows = cube_rows(inner)
    np.random.default_rng(seed).shuffle(rows)
    dims = [f"d{i}" for i in range(inner.ndim)]
    out = protected(rows, dims)
    assert len(out) == len(rows)
    for before, after in zip(rows, out, strict=True):
        assert [after[d] for d in dims] == [before[d] for d in dims]
        small = 1 <= before["contributors"] <= 4
        assert (after["conf_status"] == "C") == small
        if before["contributors"] == 0:
            assert after["conf_status"] == "F"
        if after["conf_status"] == "F":
            assert after["value"] == before["value"] and after["obs_status"] == "A"
        else:
            assert after["value"] is None and after["obs_status"] == "Q"
    assert determined(out, dims) == []
    hidden = sum(r["conf_status"] != "F" for r in out)
    primaries = sum(r["conf_status"] == "C" for r in out)
    if primaries == 0:
        assert hidden == 0
    if inner.ndim == 1:  # one line: a lone confidential cell needs exactly one partner
        assert hidden == (0 if primaries == 0 else max(primaries, 2))


@settings(max_examples=25, deadline=None)
@given(
    shape=st.one_of(
        st.tuples(st.integers(2, 5), st.integers(2, 5)),
        st.tuples(st.integers(2, 3), st.integers(2, 3), st.integers(2, 4)),
    ),
    data=st.data(),
)
def test_one_small_inner_cell_costs_a_rectangle_or_a_box(shape, data) -> None:
    inner = data.draw(counts(shape).map(lambda a: np.where(a < 5, a + 5, a)))
    where = tuple(data.draw(st.integers(0, n - 1)) for n in shape)
    inner[where] = data.draw(st.integers(1, 4))
    out = protected(cube_rows(inner), [f"d{i}" for i in range(len(shape))])
    hidden = [r for r in out if r["conf_status"] != "F"]
    # the cheapest pattern: the corners of a rectangle (2-D) or a box (3-D), no margin
    assert len(hidden) == 2 ** len(shape)
    assert all(T not in (r[f"d{i}"] for i in range(len(shape))) for r in hidden)
