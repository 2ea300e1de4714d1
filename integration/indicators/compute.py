"""The indicator package computed: the gold observations, disclosure-controlled.

:func:`compute` is pure: it takes the definitions and the source tables already read
(Arrow tables by lake name; :mod:`.lake_input` reads them from the lake) and returns
one table of observations, one row per indicator × time period × combination of its
dimensions' codes, every margin (``_T``) included:

``indicator``, ``time_period`` (SDMX period), ``sex``, ``age_group``, ``region``,
``isic_section``, ``isco_major``, ``field`` (the codes; NULL where the indicator has
no such dimension), ``obs_value``, ``standard_error`` (survey estimates), the cell's
``contributors``, ``obs_status`` and ``conf_status`` (SDMX; a suppressed cell has
``Q`` and ``C`` or ``D``, and NULL figures).

Each definition's query runs on a DuckDB connection that holds only its own sources;
its cells are aggregated in SQL (:mod:`.aggregation`) and protected by its rule
(:mod:`.protection`). Withheld definitions are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.aggregation import compute_cells
from integration.indicators.definition import Definition
from integration.indicators.dimensions import local_dimensions
from integration.indicators.errors import SourceEmpty
from integration.indicators.protection import protect_cells
from integration.indicators.workspace import Workspace, open_workspace


def dimension_columns() -> tuple[str, ...]:
    """The dimension columns of the observations, in order."""
    return tuple(local_dimensions())


def observations_schema() -> pa.Schema:
    """The schema of :func:`compute`'s table."""
    return pa.schema(
        [
            pa.field("indicator", pa.string(), nullable=False),
            pa.field("time_period", pa.string(), nullable=False),
            *(pa.field(d, pa.string()) for d in dimension_columns()),
            pa.field("obs_value", pa.float64()),
            pa.field("standard_error", pa.float64()),
            pa.field("contributors", pa.int64()),
            pa.field("obs_status", pa.string(), nullable=False),
            pa.field("conf_status", pa.string(), nullable=False),
        ]
    )


def source_tables(definition: Definition, tables: Mapping[str, pa.Table]) -> dict[str, pa.Table]:
    """The definition's sources from ``tables``; a missing or empty one raises
    :class:`SourceEmpty`."""
    out = {}
    for name in definition.sources:
        table = tables.get(name)
        if table is None:
            raise SourceEmpty(
                f"indicator {definition.id}: source table {name} was not read",
                table=name,
            )
        if table.num_rows == 0:
            raise SourceEmpty(
                f"indicator {definition.id}: source table {name} is empty", table=name
            )
        out[name] = table
    return out


def cells(
    definition: Definition, tables: Mapping[str, pa.Table], *, space: Workspace | None = None
) -> pa.Table:
    """One definition's cells before disclosure control (see :mod:`.aggregation`),
    including the cells of units no code classifies (``_U``) and every code;
    ``space`` is reused when given."""
    sources = source_tables(definition, tables)
    if space is None:
        with open_workspace() as fresh:
            return compute_cells(definition, fresh.use(sources))
    return compute_cells(definition, space.use(sources))


def _published(definition: Definition, protected: pa.Table) -> pa.Table:
    """The rows of the codes the definition publishes, in the observations' shape."""
    keep = pa.array([True] * protected.num_rows, pa.bool_())
    for d in definition.dimensions:
        keep = pc.and_(keep, pc.is_in(protected[d.name], value_set=pa.array(list(d.codes))))
    rows = protected.filter(keep)
    schema = observations_schema()
    columns = []
    for field in schema:
        if field.name == "indicator":
            columns.append(pa.array([definition.id] * rows.num_rows, pa.string()))
        elif field.name in rows.column_names:
            columns.append(rows[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(rows.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def compute_one(
    definition: Definition,
    tables: Mapping[str, pa.Table],
    *,
    space: Workspace | None = None,
    cells_out: dict[str, pa.Table] | None = None,
) -> pa.Table:
    """One computable definition's observations (its cells before disclosure control
    stored in ``cells_out`` under its id, when given)."""
    raw = cells(definition, tables, space=space)
    if cells_out is not None:
        cells_out[definition.id] = raw
    return _published(definition, protect_cells(definition, raw))


def compute(
    definitions: Iterable[Definition],
    tables: Mapping[str, pa.Table],
    *,
    cells_out: dict[str, pa.Table] | None = None,
) -> pa.Table:
    """The observations of every computable definition (see the module), sorted by
    indicator, time period and codes. With ``cells_out``, each indicator's cells before
    disclosure control are stored there by id (figures for checks and audits, never
    for publication)."""
    with open_workspace() as space:
        parts = [
            compute_one(d, tables, space=space, cells_out=cells_out)
            for d in definitions
            if d.computable
        ]
    if not parts:
        return observations_schema().empty_table()
    out = pa.concat_tables(parts)
    keys = ["indicator", "time_period", *dimension_columns()]
    return out.sort_by([(k, "ascending") for k in keys])
