"""A definition's query checked before anything runs: bound by DuckDB against empty
tables of its sources' schemas (an unknown table or column fails to bind), and the
columns it gives checked against what its measure and dimensions need."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import duckdb

from integration.indicators.errors import DefinitionInvalid
from integration.indicators.sources import source_schema
from integration.indicators.workspace import Workspace, open_workspace, query_error
from schemas.catalog import SchemaCatalog

if TYPE_CHECKING:
    from integration.indicators.definition import Definition

_STRING = ("VARCHAR", '"NULL"')
_NUMBER = re.compile(
    r"(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
    r"FLOAT|DOUBLE|DECIMAL\(\d+,\d+\)|BOOLEAN|\"NULL\")"
)
_DATE = re.compile(r"(DATE|TIMESTAMP.*)")


def output_columns(definition: Definition) -> dict[str, tuple[str, ...] | re.Pattern[str]]:
    """The columns a definition's query must give, with the DuckDB types allowed."""
    assert definition.measure is not None
    columns: dict[str, tuple[str, ...] | re.Pattern[str]] = {
        "ref_date": _DATE,
        "contributor": _STRING,
    }
    for name in definition.dimension_names:
        columns[name] = _STRING
    for name in definition.measure.columns:
        columns[name] = _STRING if name in ("unit", "stratum") else _NUMBER
    return columns


def _type_ok(kind: str, allowed: tuple[str, ...] | re.Pattern[str]) -> bool:
    if isinstance(allowed, tuple):
        return kind in allowed
    return allowed.fullmatch(kind) is not None


def check_query(
    definition: Definition, *, schemas: SchemaCatalog, space: Workspace | None = None
) -> None:
    """Bind the query in DuckDB against empty tables of its sources' schemas and check
    the columns it gives (names and types); ``space`` is reused when given."""
    if space is None:
        with open_workspace() as fresh:
            return check_query(definition, schemas=schemas, space=fresh)
    where = f"{definition.path} ({definition.id})"
    assert definition.query is not None
    empty = {s: source_schema(s, schemas=schemas).empty_table() for s in definition.sources}
    con = space.use(empty)
    try:
        described = con.execute(f"DESCRIBE ({definition.query})").fetchall()
    except duckdb.Error as exc:
        raise query_error(exc, where=where, sources=definition.sources) from exc
    given = {str(row[0]): str(row[1]) for row in described}
    wanted = output_columns(definition)
    missing = [c for c in wanted if c not in given]
    if missing:
        raise DefinitionInvalid(
            f"{where}: the query does not give column(s) {', '.join(missing)} "
            f"(a {definition.measure.kind if definition.measure else ''} with dimensions "
            f"{', '.join(definition.dimension_names) or 'none'} needs {', '.join(wanted)})"
        )
    extra = [c for c in given if c not in wanted]
    if extra:
        raise DefinitionInvalid(
            f"{where}: the query gives column(s) {', '.join(extra)} that the measure and "
            "dimensions do not use"
        )
    for name, allowed in wanted.items():
        if not _type_ok(given[name], allowed):
            raise DefinitionInvalid(
                f"{where}: column {name!r} of the query is {given[name]}, not of the type "
                "the package needs (ref_date a date, codes and ids text, measures numbers)"
            )
