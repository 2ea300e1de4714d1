"""Disclosure control of an indicator's cells, by its definition's rule.

The published figure of a cell is often not what disclosure control can weigh: a rate
or a mean does not add up along its lines, and a distinct count of persons who fall
under two codes (two industries in a month) does not either. So each indicator's cells
are protected through *count tables* built from them, and the suppression pattern is
carried onto the figures (:func:`governance.disclosure.cells.carry_pattern`):

* a count, sum, mean or median: one table, the cells' contributors with their ``value``
  (the count, the total, the number of units) — with the two largest contributions
  for a magnitude;
* a ratio: a table per count its rule names (``numerator``, ``denominator``); the rate
  is suppressed wherever one of them is.

A count table's ``value`` is made additive before protection: every margin is the sum
of the finest cells under it (the figures keep their own, computed margins). Units no
dimension code classifies sit in cells of their own (``_U``), so that every line is
complete; those cells are protected like others and never published.

An aggregate code's cells (``Y15-64``, survey estimates only) are not a flat code list's
and are not given to cell suppression: such a cell is published when it has enough
contributors and every base cell of its line (the same period and other codes) is
published — it then tells nothing the line does not; otherwise it is suppressed (``C``
when it has too few contributors itself, else ``D``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from governance.disclosure.cells import (
    CONFIDENTIAL,
    FREE,
    SECONDARY,
    CellRule,
    carry_pattern,
    protect,
)
from integration.indicators.definition import Definition, DisclosureRule
from integration.indicators.dimensions import TOTAL

#: Columns of the figures that disclosure control nulls where a cell is suppressed.
FIGURES = ("obs_value", "standard_error", "contributors")


def cell_rule(rule: DisclosureRule) -> CellRule:
    """The disclosure package's rule for a definition's rule."""
    if rule.dominance is None:
        return CellRule(min_contributors=rule.min_contributors)
    return CellRule(
        min_contributors=rule.min_contributors,
        magnitude=True,
        dominance_n=rule.dominance.n,
        dominance_k=rule.dominance.k / 100.0,
    )


def count_tables(definition: Definition) -> list[tuple[str, str]]:
    """(contributors column, value column) of each count table of the definition."""
    assert definition.measure is not None and definition.disclosure is not None
    if definition.measure.kind != "ratio":
        return [("contributors", "value")]
    columns = {"numerator": "numerator_contributors", "denominator": "contributors"}
    return [(columns[c], c) for c in definition.disclosure.counts]


def _is_aggregate(definition: Definition, cells: pa.Table) -> pa.ChunkedArray | pa.Array:
    mask: pa.ChunkedArray | pa.Array = pa.array(np.zeros(cells.num_rows, np.bool_))
    for d in definition.dimensions:
        if d.aggregates:
            values = pa.array(list(d.aggregates), pa.string())
            mask = pc.or_(mask, pc.is_in(cells[d.name], value_set=values))
    return mask


def _additive(cells: pa.Table, dims: Sequence[str], value: str) -> pa.Array:
    """``value`` per cell, every margin replaced by the sum of the finest cells under it
    (one Arrow group-by per combination of margins)."""
    values = pc.cast(pc.fill_null(cells[value], 0), pa.float64())
    if not dims:
        return values.combine_chunks()
    keyed = cells.select(["time_period", *dims]).append_column("__value", values)
    finest = keyed
    for d in dims:
        finest = finest.filter(pc.not_equal(finest[d], TOTAL))
    sums = []
    for margined in itertools.product((False, True), repeat=len(dims)):
        kept = [d for d, m in zip(dims, margined, strict=True) if not m]
        grouped = finest.group_by(["time_period", *kept]).aggregate([("__value", "sum")])
        for d, m in zip(dims, margined, strict=True):
            if m:
                grouped = grouped.append_column(
                    d, pa.array([TOTAL] * grouped.num_rows, pa.string())
                )
        sums.append(grouped.select(["time_period", *dims, "__value_sum"]))
    closure = pa.concat_tables(sums)
    rows = keyed.select(["time_period", *dims]).append_column(
        "__row", pa.array(np.arange(keyed.num_rows))
    )
    joined = rows.join(closure, keys=["time_period", *dims], join_type="left outer")
    joined = joined.sort_by("__row")
    return pc.fill_null(joined["__value_sum"], 0.0).cast(pa.float64()).combine_chunks()


def _protected_pattern(
    definition: Definition, base: pa.Table, contributors: str, value: str
) -> pa.Table:
    """The pattern of one count table of the base cells."""
    assert definition.disclosure is not None
    rule = cell_rule(definition.disclosure)
    dims = list(definition.dimension_names)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {"time_period": base["time_period"]}
    for d in dims:
        columns[d] = base[d]
    columns["contributors"] = pc.fill_null(base[contributors], 0)
    columns["value"] = _additive(base, dims, value)
    if rule.magnitude:
        columns["largest"] = base["largest"]
        columns["second_largest"] = base["second_largest"]
    table = pa.table(columns)
    if not dims:
        # A table without dimensions: every period is one cell; the primary rule alone.
        least = definition.disclosure.min_contributors
        count = table["contributors"].to_numpy(zero_copy_only=False)
        confidential = (count >= 1) & (count < least)
        if rule.magnitude:
            values = table["value"].to_numpy(zero_copy_only=False)
            largest = pc.fill_null(table["largest"], 0.0).to_numpy(zero_copy_only=False)
            second = pc.fill_null(table["second_largest"], 0.0).to_numpy(zero_copy_only=False)
            top = largest + (second if rule.dominance_n == 2 else 0.0)
            confidential |= (values > 0) & (top > rule.dominance_k * values)
        status = np.where(confidential, CONFIDENTIAL, FREE)
        return table.select(["time_period"]).append_column(
            "conf_status", pa.array(status.tolist(), pa.string())
        )
    protected = protect(table, dimensions=dims, rule=rule)
    return protected.select(["time_period", *dims, "conf_status"])


def _figures(cells: pa.Table, dims: Sequence[str]) -> pa.Table:
    return cells.select(["time_period", *dims, *FIGURES])


def _aggregate_status(
    definition: Definition, aggregate: pa.Table, base: pa.Table
) -> npt.NDArray[np.str_]:
    """``conf_status`` of the aggregate cells: C below the rule, D when a base cell of
    the line is suppressed, else F."""
    assert definition.disclosure is not None
    least = definition.disclosure.min_contributors
    confidential = np.zeros(aggregate.num_rows, np.bool_)
    for contributors, _ in count_tables(definition):
        count = pc.fill_null(aggregate[contributors], 0).to_numpy(zero_copy_only=False)
        confidential |= (count >= 1) & (count < least)
    blocked = np.zeros(aggregate.num_rows, np.bool_)
    dims = list(definition.dimension_names)
    suppressed_base = base.filter(pc.not_equal(base["conf_status"], FREE))
    for d in definition.dimensions:
        if not d.aggregates:
            continue
        is_here = pc.is_in(aggregate[d.name], value_set=pa.array(list(d.aggregates), pa.string()))
        others = [x for x in dims if x != d.name]
        hidden = suppressed_base.filter(pc.not_equal(suppressed_base[d.name], TOTAL))
        lines = (
            hidden.select(["time_period", *others]).group_by(["time_period", *others]).aggregate([])
        )
        lines = lines.append_column("__blocked", pa.array(np.ones(lines.num_rows, np.bool_)))
        keyed = aggregate.select(["time_period", *others]).append_column(
            "__row", pa.array(np.arange(aggregate.num_rows))
        )
        joined = keyed.join(lines, keys=["time_period", *others], join_type="left outer")
        joined = joined.sort_by("__row")
        found = pc.fill_null(joined["__blocked"], False).to_numpy(zero_copy_only=False)
        here = pc.fill_null(is_here, False).to_numpy(zero_copy_only=False)
        blocked |= found & here
    status: npt.NDArray[np.str_] = np.where(
        confidential, CONFIDENTIAL, np.where(blocked, SECONDARY, FREE)
    )
    return status


def protect_cells(definition: Definition, cells: pa.Table) -> pa.Table:
    """The definition's cells (time period, dimensions and :data:`FIGURES`) with their
    suppressed figures nulled, ``conf_status`` and ``obs_status``."""
    dims = list(definition.dimension_names)
    keys = ["time_period", *dims]
    aggregate_mask = _is_aggregate(definition, cells)
    base = cells.filter(pc.invert(aggregate_mask))
    aggregate = cells.filter(aggregate_mask)
    published = _figures(base, dims)
    for contributors, value in count_tables(definition):
        pattern = _protected_pattern(definition, base, contributors, value)
        published = carry_pattern(
            published, pattern=pattern, keys=keys if dims else ["time_period"]
        )
    if aggregate.num_rows == 0:
        return published
    status = _aggregate_status(definition, aggregate, published)
    pattern = aggregate.select(keys).append_column(
        "conf_status", pa.array(status.tolist(), pa.string())
    )
    extra = carry_pattern(_figures(aggregate, dims), pattern=pattern, keys=keys)
    return pa.concat_tables([published, extra.cast(published.schema)])
