"""Secondary suppression: more cells hidden so that no suppressed cell can be recomputed.

A table publishes its margins, so a line (the cells along one dimension with their
margin) holding a single suppressed cell gives it away by subtraction. Two stages:

1. **The line rule.** While some line holds exactly one suppressed cell, hide one more
   cell of that line: not a margin where the line has another candidate, then the cell
   that closes another line holding a single suppressed cell and opens none, then the
   smallest value and the fewest contributors. This is the classic hypercube heuristic;
   it leaves no line with a single suppressed cell, which is necessary but not
   sufficient (non-negativity and chains of lines can still pin a cell down).
2. **Audit and complement.** Every suppressed cell's recompute interval is screened by
   linear programming (:mod:`governance.disclosure.audit`). For each cell it finds too
   narrow, one more linear program chooses the cheapest cells whose suppression lets
   that cell move by more than its required width: a perturbation of the table that
   keeps every margin equation, moves the cell up, keeps every cell non-negative and
   touches only hidden cells and the cells it pays to hide. Every cell the perturbation
   moves is then hidden, so the cell and all its new companions have a real interval.
   Hiding a cell never narrows another's interval, so the audit is repeated until it
   finds nothing.

Cells without contributors (empty cells) are never hidden: an intruder can tell a
structural zero, so hiding one protects nothing; they stay published as 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog
from scipy.sparse import hstack

from governance.disclosure.audit import EXACT, exposed_cells, intruder_system
from governance.disclosure.cube import Additivity
from governance.disclosure.errors import CellProtectionFailed

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_SOLVER = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}


@dataclass(frozen=True)
class Cells:
    """One table's cells, flat in cube order, values in units of its largest value."""

    shape: tuple[int, ...]
    values: Floats
    contributors: Floats
    #: Per cell, how many coordinates are a margin code.
    margins: Ints

    @property
    def candidate(self) -> Mask:
        """Cells that may be hidden: those with contributors."""
        return self.contributors > 0


def suppress(
    cells: Cells,
    *,
    confidential: Mask,
    required: Floats,
    equations: Additivity,
    where: Callable[[int], str],
) -> Mask:
    """The cells to hide (flat mask): the confidential ones and enough more that each
    hidden cell's interval is wider than ``required`` (per cell, in units of the
    largest value). ``where`` names a cell (flat index) in messages."""
    if not confidential.any():
        return confidential.copy()
    hidden = line_rule(cells, hidden=confidential)
    return settle(cells, hidden=hidden, required=required, equations=equations, where=where)


def line_rule(cells: Cells, *, hidden: Mask) -> Mask:
    """Hide cells until no line holds exactly one hidden cell (stage 1)."""
    shape = cells.shape
    out = hidden.reshape(shape).copy()
    candidate = cells.candidate.reshape(shape)
    rank = np.empty(len(cells.values), dtype=np.int64)
    rank[np.lexsort((cells.contributors, cells.values))] = np.arange(len(cells.values))
    axes = [a for a, n in enumerate(shape) if n > 1]
    while True:
        counts = {a: out.sum(axis=a) for a in axes}
        lone = next(
            ((a, np.argwhere(c == 1)[0]) for a, c in counts.items() if (c == 1).any()), None
        )
        if lone is None:
            return out.reshape(-1)
        axis, rest = lone
        line = (*rest[:axis], slice(None), *rest[axis:])
        free = np.flatnonzero(candidate[line] & ~out[line])
        if free.size == 0:
            raise CellProtectionFailed(
                "a line holds one suppressed cell and no other cell with contributors"
            )
        coordinates = np.tile(np.insert(rest, axis, 0), (free.size, 1))
        coordinates[:, axis] = free
        # +1 for each other line the cell would leave with a single hidden cell, -1 for
        # each it would complete
        opens = np.zeros(free.size, dtype=np.int64)
        for other in axes:
            if other == axis:
                continue
            across = counts[other][tuple(np.delete(coordinates, other, axis=1).T)]
            opens += (across == 0).astype(np.int64) - (across == 1).astype(np.int64)
        flat = np.ravel_multi_index(tuple(coordinates.T), shape)
        best = free[np.lexsort((rank[flat], opens, cells.margins[flat]))[0]]
        out[(*rest[:axis], best, *rest[axis:])] = True


def settle(
    cells: Cells,
    *,
    hidden: Mask,
    required: Floats,
    equations: Additivity,
    where: Callable[[int], str],
) -> Mask:
    """Audit the hidden cells and hide more until none is recomputable (stage 2)."""
    hidden = hidden.copy()
    cost = _costs(cells)
    while True:
        system = intruder_system(equations, cells.values, hidden)
        exposed = exposed_cells(system, cells.values, required[system.cells])
        if exposed.size == 0:
            return hidden
        grown = False
        for cell in exposed:
            if grown:
                again = intruder_system(equations, cells.values, hidden)
                at = np.searchsorted(again.cells, cell, side="left").reshape(1)
                still = exposed_cells(again, cells.values, required[again.cells], among=at)
                if still.size == 0:
                    continue
            delta = float(required[cell]) + 10 * EXACT
            more = complement(
                cells, hidden=hidden, cost=cost, cell=int(cell), delta=delta, equations=equations
            )
            if more.size == 0:
                raise CellProtectionFailed(
                    f"no further suppression protects the {where(int(cell))}"
                )
            hidden[more] = True
            grown = True


def complement(
    cells: Cells, *, hidden: Mask, cost: Floats, cell: int, delta: float, equations: Additivity
) -> Ints:
    """The cells to hide so that ``cell`` can move up by ``delta`` (flat indices, none of
    them hidden yet): the support of the cheapest perturbation of the table that keeps
    every margin equation and every cell non-negative and moves ``cell`` by ``delta``.
    Moving a hidden cell costs nothing, moving a published one its cost per unit."""
    movable = np.flatnonzero(cells.candidate | hidden)
    matrix = equations.matrix[:, movable]
    rows = np.flatnonzero(np.diff(matrix.indptr) > 0)
    matrix = matrix[rows]
    count = movable.size
    price = np.where(hidden[movable], 0.0, cost[movable])
    target = int(np.searchsorted(movable, cell))
    # up[i] in [0, inf), down[i] in [0, value[i]] (no cell goes negative); the cell
    # itself goes up by delta exactly
    bounds = np.zeros((2 * count, 2))
    bounds[:count, 1] = np.inf
    bounds[count:, 1] = cells.values[movable]
    bounds[target] = (delta, delta)
    bounds[count + target] = (0.0, 0.0)
    result = linprog(
        np.concatenate([price, price]),
        A_eq=hstack([matrix, -matrix]).tocsr() if rows.size else None,
        b_eq=np.zeros(rows.size) if rows.size else None,
        bounds=bounds,
        method="highs",
        options=_SOLVER,
    )
    if result.status != 0:
        raise CellProtectionFailed(
            f"the linear program choosing complementary cells failed: {result.message}"
        )
    move = np.asarray(result.x[:count] - result.x[count:], dtype=np.float64)
    chosen = movable[np.abs(move) > 1e-3 * delta]
    return chosen[~hidden[chosen]].astype(np.int64)


def _costs(cells: Cells) -> Floats:
    """What hiding each cell costs per unit it moves: its value plus the mean value of an
    inner cell with contributors (so that many small cells do not come free), times one
    plus its number of margin coordinates (so that totals are hidden last)."""
    inner = cells.values[cells.candidate & (cells.margins == 0)]
    base = float(inner.mean()) if inner.size else 1.0
    return (cells.values + base) * (1.0 + cells.margins)
