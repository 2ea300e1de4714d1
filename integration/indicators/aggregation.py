"""From a definition's unit rows to its cells: every combination of codes and every
margin, computed in one DuckDB statement with ``GROUP BY CUBE``.

A margin (``_T``) is computed from the units, like every other cell, so a distinct
count is distinct over the margin (a person working in two industries counts once in
the total) and a median is the margin's own median; nothing is summed from cells. An
aggregate code (``Y15-64``) gets its cells the same way, from the units whose code it
groups.

The cells table has, per ``time_period`` and dimension codes:

* ``obs_value`` — the figure, before disclosure control;
* ``standard_error`` — of a survey ratio (NULL otherwise);
* ``contributors`` — distinct contributors (of a ratio: in its denominator);
* ``value`` — the additive quantity behind the figure that disclosure control weighs:
  the count of a count, the total of a sum or mean, the rows of a median, the
  (weighted) denominator of a ratio;
* ``largest``, ``second_largest`` — the two largest contributors' shares of ``value``
  (sum and mean only);
* ``numerator``, ``denominator``, ``numerator_contributors`` — of a ratio.

Survey standard errors
----------------------
A survey ratio R = Σ w·y / Σ w·x (y the numerator, x the denominator, w the weight) gets
the Taylor-linearisation variance of a stratified design whose units are drawn with
replacement within each stratum::

    V(R) = Σ_h n_h / (n_h − 1) · Σ_{i∈h} (e_i − ē_h)²  /  X²,   e_i = w_i (y_i − R x_i)

with n_h the units of stratum h in the period (all of them: a unit outside the cell
has e_i = 0, which is how a domain's variance is estimated), X = Σ w·x of the cell.
The sums are expanded into per-stratum totals (Σ w²y², Σ w²xy, Σ w²x², Σ wy, Σ wx) so
that the whole cube is one pass. A stratum with a single unit adds nothing. Limits:
without the survey's primary sampling units (households) the within-household
correlation is ignored, and without the stratum sizes there is no finite-population
correction; both make the error a little small for a clustered sample of a small
population, and the figures say so in their definitions.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.definition import Definition, DimensionUse
from integration.indicators.dimensions import TOTAL, UNCODED
from integration.indicators.errors import CodeUnknown
from integration.indicators.workspace import query_error

#: Columns of a cells table after the time period and the dimensions.
CELL_MEASURES: tuple[tuple[str, pa.DataType], ...] = (
    ("obs_value", pa.float64()),
    ("standard_error", pa.float64()),
    ("contributors", pa.int64()),
    ("value", pa.float64()),
    ("largest", pa.float64()),
    ("second_largest", pa.float64()),
    ("numerator", pa.float64()),
    ("denominator", pa.float64()),
    ("numerator_contributors", pa.int64()),
)


_CODE = re.compile(r"[A-Za-z0-9_\-]{1,10}")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class _View:
    """The units as one grouping sees them: the base units, or those whose code an
    aggregate groups, relabelled with the aggregate code (``fixed`` dimensions)."""

    sql: str
    fixed: tuple[str, ...]


def _views(dimensions: Sequence[DimensionUse]) -> list[_View]:
    choices: list[list[tuple[str, str, tuple[str, ...]] | None]] = []
    for d in dimensions:
        choices.append([None, *((d.name, code, members) for code, members in d.aggregates.items())])
    views = []
    for combo in itertools.product(*choices):
        chosen = [c for c in combo if c is not None]
        if not chosen:
            views.append(_View("u", ()))
            continue
        replace = ", ".join(
            f"CAST({_lit(code)} AS VARCHAR) AS {_q(name)}" for name, code, _ in chosen
        )
        where = " AND ".join(
            f"{_q(name)} IN ({', '.join(_lit(m) for m in members)})" for name, _, members in chosen
        )
        views.append(
            _View(
                f"(SELECT * REPLACE ({replace}) FROM u WHERE {where})",
                tuple(name for name, _, _ in chosen),
            )
        )
    return views


def _grouped(
    view: _View,
    dims: Sequence[str],
    aggregates: Sequence[str],
    *,
    extra: Sequence[str] = (),
) -> str:
    """One grouped SELECT: time period, ``extra`` group columns, every dimension (a
    margin as ``_T``), then ``aggregates``."""
    cubed = [d for d in dims if d not in view.fixed]
    select = ["time_period", *(_q(e) for e in extra)]
    for d in dims:
        if d in cubed:
            select.append(
                f"CASE WHEN GROUPING({_q(d)}) = 1 THEN '{TOTAL}' ELSE {_q(d)} END AS {_q(d)}"
            )
        else:
            select.append(_q(d))
    group = ["time_period", *(_q(e) for e in extra), *(_q(d) for d in view.fixed)]
    if cubed:
        group.append(f"CUBE({', '.join(_q(d) for d in cubed)})")
    return f"SELECT {', '.join([*select, *aggregates])} FROM {view.sql} GROUP BY {', '.join(group)}"


def _union(
    views: Sequence[_View],
    dims: Sequence[str],
    aggregates: Sequence[str],
    *,
    extra: Sequence[str] = (),
) -> str:
    return " UNION ALL ".join(_grouped(v, dims, aggregates, extra=extra) for v in views)


def units_sql(definition: Definition) -> str:
    """The statement that makes the temporary table ``u``: the query's rows with their
    time period, uncoded dimensions as ``_U`` and the measure columns typed (made
    once: every grouping of :func:`cells_sql` reads it)."""
    assert definition.measure is not None and definition.query is not None
    measure = definition.measure
    cols = [
        f"sdmx_period(CAST(ref_date AS DATE), {_lit(definition.frequency)}) AS time_period",
        "CAST(contributor AS VARCHAR) AS contributor",
        *(
            f"coalesce(CAST({_q(d)} AS VARCHAR), '{UNCODED}') AS {_q(d)}"
            for d in definition.dimension_names
        ),
    ]
    if measure.kind == "count":
        cols.append("CAST(unit AS VARCHAR) AS unit")
    elif measure.kind == "ratio":
        weight = "CAST(weight AS DOUBLE)" if measure.survey else "1.0"
        cols += [
            "CAST(numerator AS DOUBLE) AS numerator",
            "CAST(denominator AS DOUBLE) AS denominator",
            f"{weight} AS weight",
            "coalesce(CAST(stratum AS VARCHAR), '')" if measure.survey else "''",
        ]
        cols[-1] += " AS stratum"
    else:
        cols.append("CAST(value AS DOUBLE) AS value")
    return (
        f"CREATE OR REPLACE TEMPORARY TABLE u AS SELECT {', '.join(cols)} "
        f"FROM ({definition.query}) AS units WHERE ref_date IS NOT NULL"
    )


def _cell_aggregates(definition: Definition) -> list[str]:
    assert definition.measure is not None
    m = definition.measure
    if m.kind == "count":
        return [
            "CAST(count(DISTINCT unit) AS DOUBLE) AS obs_value",
            "count(DISTINCT contributor) AS contributors",
            "CAST(count(DISTINCT unit) AS DOUBLE) AS value",
        ]
    if m.kind == "sum":
        return [
            "sum(value) AS obs_value",
            "count(DISTINCT contributor) AS contributors",
            "sum(value) AS value",
        ]
    if m.kind == "mean":
        return [
            "sum(value) / count(value) AS obs_value",
            "count(DISTINCT contributor) AS contributors",
            "sum(value) AS value",
        ]
    if m.kind == "median":
        return [
            "quantile_cont(value, 0.5) AS obs_value",
            "count(DISTINCT contributor) AS contributors",
            "CAST(count(value) AS DOUBLE) AS value",
        ]
    return [
        f"{m.scale!r} * sum(weight * numerator) / NULLIF(sum(weight * denominator), 0) "
        "AS obs_value",
        "count(DISTINCT contributor) FILTER (WHERE denominator <> 0) AS contributors",
        "sum(weight * denominator) AS value",
        "sum(weight * numerator) AS numerator",
        "sum(weight * denominator) AS denominator",
        "count(DISTINCT contributor) FILTER (WHERE numerator <> 0) AS numerator_contributors",
    ]


def cells_sql(definition: Definition) -> str:
    """The statement that gives the definition's cells table from ``u`` (before code
    checks)."""
    assert definition.measure is not None
    m = definition.measure
    dims = list(definition.dimension_names)
    views = _views(definition.dimensions)
    keys = ["time_period", *dims]
    using = ", ".join(_q(k) for k in keys)
    ctes = [f"cells AS ({_union(views, dims, _cell_aggregates(definition))})"]
    joins = []
    select = ["cells.*"]
    if m.kind in ("sum", "mean"):
        per_contributor = _union(views, dims, ["sum(value) AS total"], extra=["contributor"])
        ctes.append(f"per_contributor AS ({per_contributor})")
        ctes.append(
            f"top AS (SELECT {using}, max(total, 2) AS top2 FROM per_contributor GROUP BY {using})"
        )
        joins.append(f"LEFT JOIN top USING ({using})")
        select += ["top.top2[1] AS largest", "coalesce(top.top2[2], 0.0) AS second_largest"]
    if m.survey:
        sums = [
            "sum(weight * numerator) AS sy",
            "sum(weight * denominator) AS sx",
            "sum(weight * weight * numerator * numerator) AS syy",
            "sum(weight * weight * numerator * denominator) AS sxy",
            "sum(weight * weight * denominator * denominator) AS sxx",
        ]
        ctes.append("strata AS (SELECT time_period, stratum, count(*) AS n_h FROM u GROUP BY ALL)")
        ctes.append(f"by_stratum AS ({_union(views, dims, sums, extra=['stratum'])})")
        ctes.append(
            f"ratios AS (SELECT {using}, sum(sy) / NULLIF(sum(sx), 0) AS r, sum(sx) AS x "
            f"FROM by_stratum GROUP BY {using})"
        )
        deviation = (
            "CASE WHEN n_h > 1 THEN n_h / (n_h - 1.0) * ((syy - 2 * r * sxy + r * r * sxx) "
            "- (sy - r * sx) * (sy - r * sx) / n_h) ELSE 0 END"
        )
        ctes.append(
            f"variance AS (SELECT {using}, greatest(sum({deviation}), 0) / NULLIF(any_value(x) * "
            f"any_value(x), 0) AS v FROM by_stratum JOIN ratios USING ({using}) "
            f"JOIN strata USING (time_period, stratum) GROUP BY {using})"
        )
        joins.append(f"LEFT JOIN variance USING ({using})")
        select.append(f"{m.scale!r} * sqrt(variance.v) AS standard_error")
    else:
        select.append("CAST(NULL AS DOUBLE) AS standard_error")
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(select)} FROM cells {' '.join(joins)} "
        f"ORDER BY {using}"
    )


def _conform(definition: Definition, data: pa.Table) -> pa.Table:
    columns: list[pa.Array | pa.ChunkedArray] = [data["time_period"].cast(pa.string())]
    names = ["time_period"]
    for d in definition.dimension_names:
        columns.append(data[d].cast(pa.string()))
        names.append(d)
    for name, kind in CELL_MEASURES:
        columns.append(
            data[name].cast(kind) if name in data.column_names else pa.nulls(data.num_rows, kind)
        )
        names.append(name)
    return pa.Table.from_arrays(columns, names=names)


def check_codes(definition: Definition, data: pa.Table) -> None:
    """Refuse a dimension value outside its codelist (:class:`CodeUnknown`)."""
    for d in definition.dimensions:
        values = data[d.name]
        known = pa.array([*d.local.codes, UNCODED], pa.string())
        unknown = pc.unique(pc.filter(values, pc.invert(pc.is_in(values, value_set=known))))
        if len(unknown):
            found = [str(v) for v in unknown.to_pylist()]
            # Name them only when they look like codes: a query that put some other
            # column on a dimension must not repeat its values.
            shown = (
                ", ".join(repr(v) for v in found[:5])
                if all(_CODE.fullmatch(v) for v in found)
                else f"{len(found)} value(s) that are not codes"
            )
            raise CodeUnknown(
                f"indicator {definition.id}: dimension {d.name!r} got {shown} outside its codelist"
            )


def _refuse_computed_codes(definition: Definition, con: duckdb.DuckDBPyConnection) -> None:
    """A unit may not carry a total or an aggregate code: those cells are computed."""
    if not definition.dimensions:
        return
    counts = ", ".join(
        f"count(*) FILTER (WHERE {_q(d.name)} IN "
        f"({', '.join(_lit(c) for c in [TOTAL, *d.local.aggregates])}))"
        for d in definition.dimensions
    )
    found = con.execute(f"SELECT {counts} FROM u").fetchall()[0]
    for d, n in zip(definition.dimensions, found, strict=True):
        if n:
            raise CodeUnknown(
                f"indicator {definition.id}: the query gives {n} unit(s) the code of a "
                f"total or aggregate ({', '.join([TOTAL, *d.local.aggregates])}) on "
                f"dimension {d.name!r}; the package computes those cells itself"
            )


def compute_cells(definition: Definition, con: duckdb.DuckDBPyConnection) -> pa.Table:
    """The definition's cells (before disclosure control) from the sources on ``con``."""
    where = f"{definition.path} ({definition.id})"
    try:
        con.execute(units_sql(definition))
        _refuse_computed_codes(definition, con)
        data = con.sql(cells_sql(definition)).to_arrow_table()
        con.execute("DROP TABLE u")
    except duckdb.Error as exc:
        raise query_error(exc, where=where, sources=definition.sources) from exc
    cells = _conform(definition, data)
    check_codes(definition, cells)
    return cells
