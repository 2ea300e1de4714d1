"""Secondary suppression's two stages: the line rule, then audit and complement."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.disclosure.audit import EXACT, cell_bounds, intruder_system, unit
from governance.disclosure.cube import additivity
from governance.disclosure.secondary import Cells, complement, line_rule, settle


def cells_of(inner: np.ndarray) -> Cells:
    full = inner
    for axis in range(inner.ndim):
        full = np.concatenate([full, full.sum(axis=axis, keepdims=True)], axis=axis)
    grid = np.indices(full.shape).reshape(full.ndim, -1)
    margins = (grid == np.array(full.shape)[:, None] - 1).sum(axis=0)
    flat = full.ravel().astype(np.float64)
    return Cells(full.shape, flat / unit(flat), flat, margins.astype(np.int64))


def hide(cells: Cells, *coordinates: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(len(cells.values), dtype=np.bool_)
    for c in coordinates:
        mask[np.ravel_multi_index(c, cells.shape)] = True
    return mask


def lone_lines(shape: tuple[int, ...], hidden: np.ndarray) -> int:
    cube = hidden.reshape(shape)
    return sum(int((cube.sum(axis=a) == 1).sum()) for a, n in enumerate(shape) if n > 1)


def widths(cells: Cells, hidden: np.ndarray) -> np.ndarray:
    low, high = cell_bounds(intruder_system(additivity(cells.shape), cells.values, hidden))
    return high - low


def test_the_line_rule_closes_a_rectangle_of_inner_cells() -> None:
    # a = (0, 0) is confidential; the cheapest cell of its row is (0, 2), of its column
    # (2, 0); then (2, 2) closes both remaining lines
    cells = cells_of(np.array([[3, 50, 20], [40, 50, 60], [10, 50, 30]]))
    out = line_rule(cells, hidden=hide(cells, (0, 0)))
    assert out.tolist() == hide(cells, (0, 0), (0, 2), (2, 0), (2, 2)).tolist()


def test_the_line_rule_hides_a_margin_only_when_the_line_has_nothing_else() -> None:
    # the only other cell of a's row is empty: its row margin goes
    cells = cells_of(np.array([[3, 0], [40, 50]]))
    out = line_rule(cells, hidden=hide(cells, (0, 0)))
    assert out.tolist() == hide(cells, (0, 0), (0, 2), (1, 0), (1, 2)).tolist()


@settings(max_examples=50, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    data=st.data(),
)
def test_the_line_rule_leaves_no_line_with_one_hidden_cell(shape, data) -> None:
    size = int(np.prod(shape))
    inner = np.array(data.draw(st.lists(st.integers(0, 20), min_size=size, max_size=size))).reshape(
        shape
    )
    cells = cells_of(inner)
    chosen = np.array(data.draw(st.lists(st.booleans(), min_size=cells.values.size,
                                         max_size=cells.values.size)))  # fmt: skip
    first = chosen & cells.candidate
    out = line_rule(cells, hidden=first)
    assert lone_lines(cells.shape, out) == 0
    assert np.all(out[first])
    assert np.all(cells.candidate[out])


def test_settle_breaks_a_chain_the_line_rule_accepts() -> None:
    inner = np.full((4, 4), 20)
    small = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)]
    for c in small:
        inner[c] = 3
    cells = cells_of(inner)
    first = hide(cells, *small)
    assert line_rule(cells, hidden=first).tolist() == first.tolist()
    bridge = int(np.ravel_multi_index((1, 2), cells.shape))
    assert widths(cells, first)[np.flatnonzero(first).tolist().index(bridge)] <= EXACT
    required = np.full(len(cells.values), EXACT)
    out = settle(cells, hidden=first, required=required, equations=additivity(cells.shape),
                 where=str)  # fmt: skip
    assert np.all(out[first]) and out.sum() > first.sum()
    assert widths(cells, out).min() > EXACT


def test_the_complement_of_a_cell_is_the_support_of_a_perturbation_moving_it() -> None:
    cells = cells_of(np.array([[3, 50, 20], [40, 50, 60], [10, 50, 30]]))
    first = hide(cells, (0, 0))
    equations = additivity(cells.shape)
    cost = (cells.values + 1.0) * (1.0 + cells.margins)
    cell = int(np.ravel_multi_index((0, 0), cells.shape))
    more = complement(cells, hidden=first, cost=cost, cell=cell, delta=0.01,
                      equations=equations)  # fmt: skip
    # the cheapest rectangle through a: the smallest other row and column
    assert sorted(np.unravel_index(m, cells.shape) for m in more) == [(0, 2), (2, 0), (2, 2)]
    hidden = first.copy()
    hidden[more] = True
    assert widths(cells, hidden).min() >= 0.01
