"""The audit of a suppression pattern: how closely can each suppressed cell be recomputed.

An intruder who sees the published cells of a table knows the value of every published
cell, that every margin is the sum of its line, and that no cell is negative. The
suppressed cells are the unknowns of that linear system; the smallest and the largest
value each can take are two linear programs (HiGHS, through ``scipy.optimize.linprog``).
A cell whose interval has no width is recomputed exactly, and a suppression pattern
that leaves one is broken.

The values are divided by the table's largest value (rounded up to a power of two) before
solving, so the solver's tolerances (set to 1e-9) are relative to the table; an
interval narrower than ``EXACT`` of that unit counts as no interval at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import linprog
from scipy.sparse import csr_matrix

from governance.disclosure.cube import Additivity, additivity, read_cube
from governance.disclosure.errors import CellProtectionFailed, CellTableInvalid

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

#: Interval width, in units of the table's largest value, at or below which a suppressed
#: cell counts as recomputed exactly.
EXACT = 1e-6
#: While screening for exposed cells, every unknown is kept below this many times the
#: table's largest value: the box holds the true values, so a cell that cannot move
#: inside it cannot move at all.
BOX = 4.0
_SOLVER = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}
_OPTIMAL, _INFEASIBLE, _UNBOUNDED = 0, 2, 3


class Infeasible(Exception):
    """The published cells contradict the margins (no table fits them)."""


@dataclass(frozen=True)
class System:
    """What the intruder solves: ``matrix @ unknowns == rhs``, ``unknowns >= 0``."""

    #: Flat indices of the suppressed cells, one unknown each.
    cells: Ints
    #: The margins' equations that involve an unknown, restricted to the unknowns.
    matrix: csr_matrix
    #: Each equation's published part, moved to the right-hand side.
    rhs: Floats


def unit(values: Floats) -> float:
    """The power of two at or above the largest of ``values`` (1 when none is positive):
    the unit the programs are solved in, exact to divide and multiply by."""
    largest = float(values.max()) if values.size else 0.0
    return float(2.0 ** np.ceil(np.log2(largest))) if largest > 0 else 1.0


def intruder_system(equations: Additivity, values: Floats, suppressed: Mask) -> System:
    """The system of one table: ``values`` (its cells, flat; anything where suppressed)."""
    cells = np.flatnonzero(suppressed).astype(np.int64)
    unknown = equations.matrix[:, cells]
    rows = np.flatnonzero(np.diff(unknown.indptr) > 0)
    known = np.where(suppressed, 0.0, values)
    rhs = -(equations.matrix[rows] @ known)
    return System(cells=cells, matrix=unknown[rows], rhs=np.asarray(rhs, dtype=np.float64))


def cell_bounds(system: System) -> tuple[Floats, Floats]:
    """The smallest and largest value of every unknown (``inf`` when unbounded above).

    Raises :class:`Infeasible` when the published cells contradict the margins.
    """
    count = len(system.cells)
    lower = np.zeros(count)
    upper = np.zeros(count)
    for j in range(count):
        direction = np.zeros(count)
        direction[j] = 1.0
        low = _solve(direction, system, box=None)
        high = _solve(-direction, system, box=None)
        lower[j] = 0.0 if low is None else max(0.0, float(low[j]))
        upper[j] = np.inf if high is None else float(high[j])
    return lower, upper


def exposed_cells(
    system: System, values: Floats, required: Floats, *, among: Ints | None = None
) -> Ints:
    """The unknowns (flat cell indices) whose interval is not wider than ``required``.

    ``values`` are the true cells (flat), ``required`` the width each unknown's interval
    must exceed (one per unknown), both in units of the table's largest value; ``among``
    (positions in ``system.cells``) screens only those unknowns. Every solution of the
    system found on the way widens the known interval of every unknown, so most cells
    are cleared by a few programs: two with random objectives, then two per cell still
    in doubt (its minimum and maximum inside ``BOX``).
    """
    count = len(system.cells)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    low = values[system.cells].copy()
    high = low.copy()
    if among is None:
        weights = np.random.default_rng(0).standard_normal(count)
        for objective in (weights, -weights):
            _widen(system, objective, low, high)
    exposed = np.zeros(count, dtype=np.bool_)
    for j in range(count) if among is None else (int(a) for a in among):
        for sign in (-1.0, 1.0):
            if high[j] - low[j] > required[j]:
                break
            direction = np.zeros(count)
            direction[j] = sign
            _widen(system, direction, low, high)
        exposed[j] = high[j] - low[j] <= required[j]
    return system.cells[exposed]


def recompute_bounds(
    table: pa.Table, *, dimensions: Sequence[str], total_code: str = "_T"
) -> pa.Table:
    """How closely an intruder can recompute each suppressed cell of a published table.

    ``table`` is a table of cells as published (the output of
    :func:`governance.disclosure.cells.protect` or any table of that shape): a cell is
    suppressed where its ``value`` is null. Other columns than the dimensions and the
    measures split it into separate tables, as in ``protect``; a combination of codes
    without a row is an empty cell (0). Returns the suppressed rows, every column kept,
    with ``lower_bound`` and ``upper_bound`` (float64): the smallest and the largest
    value the cell can take given every published cell, the margins' additivity and
    non-negativity (``inf`` when nothing bounds it above). A cell with
    ``lower_bound == upper_bound`` is recomputed exactly.

    Raises :class:`CellTableInvalid` when the table is not a cube with margins or its
    published cells contradict its margins.
    """
    if "value" not in table.column_names:
        raise CellTableInvalid("the column 'value' is missing")
    cube = read_cube(table, dimensions=dimensions, total_code=total_code)
    value = pc.cast(table.column("value"), pa.float64())
    missing = np.asarray(pc.is_null(value, nan_is_null=True).to_numpy(zero_copy_only=False))
    known = np.asarray(pc.fill_null(value, 0.0).to_numpy(zero_copy_only=False), np.float64)
    values = cube.scatter(np.where(missing, np.nan, known))
    equations = additivity(cube.shape)
    lower = np.full(table.num_rows, np.nan)
    upper = np.full(table.num_rows, np.nan)
    for t in range(cube.tables):
        suppressed = np.isnan(values[t])
        if not suppressed.any():
            continue
        scale = unit(values[t][~suppressed])
        system = intruder_system(equations, values[t] / scale, suppressed)
        try:
            low, high = cell_bounds(system)
        except Infeasible as exc:
            where = f" of the table {cube.labels[t]}" if cube.labels[t] else ""
            raise CellTableInvalid(
                f"the published cells{where} do not add up to their margins"
            ) from exc
        at = np.full(cube.size, -1, dtype=np.int64)
        at[system.cells] = np.arange(len(system.cells))
        rows = np.flatnonzero((cube.table == t) & missing)
        lower[rows] = low[at[cube.cell[rows]]] * scale
        upper[rows] = high[at[cube.cell[rows]]] * scale
    keep = pa.array(missing)
    return (
        table.filter(keep)
        .append_column("lower_bound", pa.array(lower[missing], pa.float64()))
        .append_column("upper_bound", pa.array(upper[missing], pa.float64()))
    )


def _widen(system: System, objective: Floats, low: Floats, high: Floats) -> None:
    """Solve inside the box and widen the known intervals by the solution found."""
    point = _solve(objective, system, box=BOX)
    if point is None:  # every unknown is boxed
        raise CellProtectionFailed("the audit's linear program was unbounded inside its box")
    np.minimum(low, point, out=low)
    np.maximum(high, point, out=high)


def _solve(objective: Floats, system: System, *, box: float | None) -> Floats | None:
    """A minimiser of ``objective`` over the system, or None when it is unbounded."""
    has_rows = system.matrix.shape[0] > 0
    result = linprog(
        objective,
        A_eq=system.matrix if has_rows else None,
        b_eq=system.rhs if has_rows else None,
        bounds=(0.0, box),
        method="highs",
        options=_SOLVER,
    )
    if result.status == _OPTIMAL:
        return np.asarray(result.x, dtype=np.float64)
    if result.status == _UNBOUNDED:
        return None
    if result.status == _INFEASIBLE:
        raise Infeasible(str(result.message))
    raise CellProtectionFailed(f"the audit's linear program failed: {result.message}")
