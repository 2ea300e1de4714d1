"""Disclosure control of published aggregate tables: cell suppression with SDMX flags.

:func:`protect` takes a table of cells — one row per cell of a cube with its margins,
as :mod:`governance.disclosure.cube` describes — and returns it with every confidential
cell suppressed, and enough other cells that none of them can be recomputed from the
published cells and the margins:

- **Primary suppression** (``conf_status`` ``C``): a cell with 1 to
  ``min_contributors - 1`` contributors; for magnitude tables (sums or means of a
  variable) also a cell dominated by its largest contributions — the ``dominance_n``
  largest above ``dominance_k`` of the cell — or, with ``p_percent``, one where the
  second-largest contributor could estimate the largest within p %: the rest of the
  cell, ``value - largest - second_largest``, is below ``p`` % of ``largest``. A cell
  without contributors is an empty cell, a structural zero that reveals no one: it is
  published as 0 and never suppressed, by either stage.
- **Secondary suppression** (``conf_status`` ``D``): :mod:`governance.disclosure.secondary`,
  checked by the linear-programming audit of :mod:`governance.disclosure.audit`; every
  suppressed cell ends with a recompute interval wider than ``min_protection`` of its
  value for a confidential cell, and wider than 0 for every other.

A suppressed cell gets ``obs_status`` ``Q`` ("Missing value; suppressed", SDMX
CL_OBS_STATUS 2.2 — ``M`` there means "data cannot exist", an empty cell's meaning)
and its measures set to null; a published cell ``A`` ("Normal value") and ``F``.

**Rates and means.** A rate's cells do not add up to its margins, so a rate table is
not protected itself: protect the count (or sum) tables it is computed from, then carry
their pattern onto it with :func:`carry_pattern`, once per table (numerator and
denominator): a rate is suppressed wherever one of its counts is.

**Limits.** Each table is protected on its own: a flat code list per dimension (one
margin, no sub-totals), and no table linked to another by shared cells (two tables with
a common margin should be protected as one cube). Values must be additive as given:
protect before rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from governance.disclosure.audit import EXACT, unit
from governance.disclosure.cube import (
    MEASURES,
    STATUSES,
    Additivity,
    Cube,
    additivity,
    read_cube,
)
from governance.disclosure.errors import CellRuleInvalid, CellTableInvalid
from governance.disclosure.secondary import Cells, suppress

Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

#: SDMX CL_CONF_STATUS: free for publication.
FREE = "F"
#: SDMX CL_CONF_STATUS: confidential statistical information (primary suppression).
CONFIDENTIAL = "C"
#: SDMX CL_CONF_STATUS: secondary confidentiality set by the sender.
SECONDARY = "D"
#: SDMX CL_OBS_STATUS: normal value.
NORMAL = "A"
#: SDMX CL_OBS_STATUS 2.2: missing value; suppressed.
SUPPRESSED = "Q"
#: Relative error below which a margin counts as the sum of its line.
ADDITIVE = 1e-9


@dataclass(frozen=True)
class CellRule:
    """When a cell is confidential, and how wide a suppressed cell's interval must be."""

    #: A cell with 1 to ``min_contributors - 1`` contributors is confidential.
    min_contributors: int = 5
    #: (n, k) dominance for magnitude cells: the n (1 or 2) largest contributions
    dominance_n: int = 1
    #: exceed k of the cell's value -> confidential.
    dominance_k: float = 0.85
    #: Optional p% rule on magnitudes, p in percent (largest and second largest).
    p_percent: float | None = None
    #: True for sums or means of a variable, False for counts.
    magnitude: bool = False
    #: A confidential cell's recompute interval must be wider than this fraction of its
    #: value (0: any width).
    min_protection: float = 0.0

    def __post_init__(self) -> None:
        if self.min_contributors < 1:
            raise CellRuleInvalid("min_contributors must be at least 1")
        if self.dominance_n not in (1, 2):
            raise CellRuleInvalid("dominance_n must be 1 or 2 (largest, second largest)")
        if not 0.0 < self.dominance_k <= 1.0:
            raise CellRuleInvalid("dominance_k must be above 0 and at most 1")
        if self.p_percent is not None and not 0.0 < self.p_percent <= 100.0:
            raise CellRuleInvalid("p_percent must be above 0 and at most 100")
        if not 0.0 <= self.min_protection <= 1.0:
            raise CellRuleInvalid("min_protection must be between 0 and 1")


def protect(
    table: pa.Table, *, dimensions: Sequence[str], rule: CellRule, total_code: str = "_T"
) -> pa.Table:
    """The table with its confidential cells and their complements suppressed.

    ``table`` has one row per cell: a string column of codes per name in ``dimensions``
    (``total_code`` marks the margin along that dimension), ``contributors`` (integer,
    the distinct persons or units in the cell), ``value`` (float, additive along every
    dimension) and, for a magnitude rule, ``largest`` (and ``second_largest`` for a
    dominance of two or the p% rule). Every other column passes through, and each
    distinct combination of the non-measure ones (time period, indicator…) is a separate
    table, protected on its own; pass in ``dimensions`` only the cross-classifying
    columns. Floating-point columns count as measures.

    Returns the same rows in the same order with ``conf_status`` (``F``, ``C`` primary,
    ``D`` secondary) and ``obs_status`` (``A``, or ``Q`` where suppressed); in a
    suppressed row every measure — ``contributors``, ``value``, ``largest``,
    ``second_largest``, ``standard_error`` and any other floating-point column — is null.

    Raises :class:`CellTableInvalid` when the table is not a cube with margins, a
    measure is missing, null or negative, or a margin is not the sum of its line, and
    :class:`CellProtectionFailed` when no suppression pattern could be settled.
    """
    for name in STATUSES:
        if name in table.column_names:
            raise CellTableInvalid(f"the table already has a column {name!r}; protect it once")
    if table.num_rows == 0:
        return _flagged(table, suppressed=np.zeros(0, np.bool_), conf_status=np.zeros(0, str))
    cube = read_cube(table, dimensions=dimensions, total_code=total_code)
    contributors, value = _counts(table, cube)
    confidential = _primary(table, contributors=contributors, value=value, rule=rule, cube=cube)
    equations = additivity(cube.shape)
    values = cube.scatter(value)
    people = cube.scatter(contributors)
    _refuse_non_additive(cube, equations, values, people)
    first = cube.scatter(confidential.astype(np.float64)) > 0
    margins = cube.margins()
    hidden = np.zeros_like(first)
    for t in range(cube.tables):
        if not first[t].any():
            continue
        cells = Cells(cube.shape, values[t] / unit(values[t]), people[t], margins)
        required = np.where(first[t], rule.min_protection * cells.values, 0.0) + EXACT
        hidden[t] = suppress(
            cells,
            confidential=first[t],
            required=required,
            equations=equations,
            where=partial(cube.where, t),
        )
    rows = hidden[cube.table, cube.cell]
    status = np.where(confidential, CONFIDENTIAL, np.where(rows, SECONDARY, FREE))
    return _flagged(table, suppressed=rows, conf_status=status)


def _primary(
    table: pa.Table, *, contributors: Floats, value: Floats, rule: CellRule, cube: Cube
) -> Mask:
    """Per row, whether the cell is confidential by the rule (before secondary)."""
    confidential = (contributors >= 1) & (contributors < rule.min_contributors)
    if not rule.magnitude:
        return np.asarray(confidential)
    largest = _contribution(table, "largest", contributors, value, cube, below=1)
    wanted = rule.dominance_n == 2 or rule.p_percent is not None
    second = (
        _contribution(table, "second_largest", contributors, value, cube, below=2)
        if wanted
        else np.zeros_like(largest)
    )
    if np.any(second > largest):
        raise CellTableInvalid(
            f"second_largest exceeds largest in the {_row(cube, second > largest)}"
        )
    top = largest + (second if rule.dominance_n == 2 else 0.0)
    confidential |= (value > 0) & (top > rule.dominance_k * value)
    if rule.p_percent is not None:
        rest = value - largest - second
        confidential |= (value > 0) & (rest < rule.p_percent / 100.0 * largest)
    return np.asarray(confidential)


def carry_pattern(table: pa.Table, *, pattern: pa.Table, keys: Sequence[str]) -> pa.Table:
    """``table`` suppressed where ``pattern`` (an output of :func:`protect`) is.

    For a table that cannot be protected itself — rates, means, shares — computed from
    protected counts: each row is matched to the pattern's row with the same ``keys``
    (the dimensions and the period, say) and takes its ``conf_status``; where the table
    already has one (an earlier pattern: the numerator's, then the denominator's), the
    stricter stays (``C`` over ``D`` over ``F``). Suppressed rows get ``obs_status`` ``Q``
    and null measures, as in :func:`protect`.

    Raises :class:`CellTableInvalid` when a key is missing, the pattern holds a key twice
    or lacks a row of the table.
    """
    names = list(keys)
    for source, label in ((table, "table"), (pattern, "pattern")):
        for name in [*names, *(("conf_status",) if source is pattern else ())]:
            if name not in source.column_names:
                raise CellTableInvalid(f"the column {name!r} is missing from the {label}")
    if not names:
        raise CellTableInvalid("no key given to match the table to the pattern")
    carried = pattern.select([*names, "conf_status"]).rename_columns([*names, "__pattern_status"])
    if carried.group_by(names).aggregate([]).num_rows != carried.num_rows:
        raise CellTableInvalid(f"the pattern holds a combination of {names} twice")
    indexed = table.select(names).append_column("__row", pa.array(np.arange(table.num_rows)))
    joined = indexed.join(carried, keys=names, join_type="left outer").sort_by("__row")
    found = joined.column("__pattern_status")
    if found.null_count:
        raise CellTableInvalid(f"the pattern has no row for {found.null_count} rows of the table")
    status = np.asarray(found.to_numpy(zero_copy_only=False), dtype=object)
    if "conf_status" in table.column_names:
        earlier = np.asarray(table.column("conf_status").to_numpy(zero_copy_only=False), object)
        status = np.where(_strictness(earlier) >= _strictness(status), earlier, status)
        table = table.drop_columns([c for c in STATUSES if c in table.column_names])
    return _flagged(table, suppressed=status != FREE, conf_status=status)


def _strictness(status: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """0 for free, 1 for secondary, 2 for confidential (and any other code)."""
    return np.where(status == FREE, 0, np.where(status == SECONDARY, 1, 2)).astype(np.int64)


def _counts(table: pa.Table, cube: Cube) -> tuple[Floats, Floats]:
    """``contributors`` and ``value`` per row, checked."""
    for name in ("contributors", "value"):
        if name not in table.column_names:
            raise CellTableInvalid(f"the column {name!r} is missing")
    if not pa.types.is_integer(table.schema.field("contributors").type):
        raise CellTableInvalid("the column 'contributors' must hold whole numbers")
    if not _numeric(table.schema.field("value").type):
        raise CellTableInvalid("the column 'value' must hold numbers")
    contributors = _column(table, "contributors")
    value = _column(table, "value")
    for name, column in (("contributors", contributors), ("value", value)):
        wrong = ~np.isfinite(column) | (column < 0)
        if wrong.any():
            raise CellTableInvalid(
                f"{name} is null, negative or not finite in the {_row(cube, wrong)}"
            )
    stray = (contributors == 0) & (value != 0)
    if stray.any():
        raise CellTableInvalid(f"a value without contributors in the {_row(cube, stray)}")
    return contributors, value


def _contribution(
    table: pa.Table, name: str, contributors: Floats, value: Floats, cube: Cube, *, below: int
) -> Floats:
    """A largest contribution per row: null means 0 in a cell with fewer than ``below``
    contributors (no second largest in a cell of one) and is refused elsewhere."""
    if name not in table.column_names:
        raise CellTableInvalid(f"the column {name!r} is missing; the rule needs it")
    if not _numeric(table.schema.field(name).type):
        raise CellTableInvalid(f"the column {name!r} must hold numbers")
    column = _column(table, name)
    column = np.where(np.isnan(column) & (contributors < below), 0.0, column)
    wrong = np.isnan(column) | (column < 0) | (column > value * (1 + ADDITIVE) + ADDITIVE)
    if wrong.any():
        raise CellTableInvalid(
            f"{name} is null, negative or above the value in the {_row(cube, wrong)}"
        )
    return column


def _refuse_non_additive(cube: Cube, equations: Additivity, values: Floats, people: Floats) -> None:
    """Every margin is the sum of its line, and has contributors exactly when a cell of
    its line has."""
    if equations.matrix.shape[0] == 0:
        return
    scale = np.maximum(values.max(axis=1), 1.0)
    residual = np.asarray(equations.matrix @ values.T)  # (lines, tables)
    off = np.abs(residual) > ADDITIVE * scale[None, :]
    positive = (people > 0).astype(np.float64).T
    margin_positive = np.asarray(equations.matrix.maximum(0) @ positive) > 0
    parts_positive = np.asarray((-equations.matrix.minimum(0)) @ positive) > 0
    for wrong, what in (
        (off, "is not the sum of its line"),
        (
            margin_positive != parts_positive,
            "has contributors while its line has none, or none while its line has some",
        ),
    ):
        if wrong.any():
            line, t = (int(i) for i in np.argwhere(wrong)[0])
            axis = cube.dimensions[int(equations.axis[line])]
            raise CellTableInvalid(
                f"along {axis!r}, the margin {cube.where(t, int(equations.margin[line]))} {what}"
            )


def _flagged(
    table: pa.Table,
    *,
    suppressed: Mask,
    conf_status: npt.NDArray[np.object_] | npt.NDArray[np.str_],
) -> pa.Table:
    """The table with its measures nulled where suppressed and the two status columns."""
    hide = pa.array(np.asarray(suppressed, dtype=np.bool_))
    out = table
    for i, field in enumerate(table.schema):
        if field.name in MEASURES or pa.types.is_floating(field.type):
            column = table.column(i).combine_chunks()
            out = out.set_column(i, field, pc.if_else(hide, pa.scalar(None, field.type), column))
    observed = np.where(suppressed, SUPPRESSED, NORMAL)
    return out.append_column(
        "conf_status", pa.array(conf_status.tolist(), pa.string())
    ).append_column("obs_status", pa.array(observed.tolist(), pa.string()))


def _numeric(kind: pa.DataType) -> bool:
    """Numbers, or a column of nulls only (whose type could not be told)."""
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind))


def _column(table: pa.Table, name: str) -> Floats:
    """A numeric column as float64, NaN where null."""
    column = pc.cast(table.column(name), pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def _row(cube: Cube, wrong: Mask) -> str:
    row = int(np.flatnonzero(wrong)[0])
    return cube.where(int(cube.table[row]), int(cube.cell[row]))
