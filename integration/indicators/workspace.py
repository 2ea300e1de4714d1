"""The DuckDB connection an indicator query runs on: its source tables under their lake
names (``bronze.<agency>__<dataset>``, ``silver.person_links``) and the macros of
:mod:`integration.indicators.macros`, nothing else.

The tables are Arrow tables registered without a copy; a query sees only the sources
given, so a definition that reads a table it does not declare fails to bind. One
connection serves a whole package (opening one costs more than a small query).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from integration.indicators import macros
from integration.indicators.errors import (
    ColumnUnknown,
    DefinitionInvalid,
    IndicatorError,
    TableUnknown,
)

_COLUMN_PATTERNS = (
    re.compile(r'Referenced column "([^"]+)" not found'),
    re.compile(r'does not have a column named "([^"]+)"'),
    re.compile(r'Column "([^"]+)" does not exist'),
    re.compile(r'column "([^"]+)" (?:does not exist|not found)', re.IGNORECASE),
)
_VALUE = re.compile(r"'[^']*'")
_TABLE_PATTERN = re.compile(r'Table with name "?([^" ]+)"? does not exist')


def _quoted(name: str) -> str:
    namespace, _, table = name.partition(".")
    return f'"{namespace}"."{table}"'


class Workspace:
    """One DuckDB connection, reused: :meth:`use` puts a definition's sources on it and
    takes the previous definition's away."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._registered: list[str] = []
        self._schemas: set[str] = set()

    def use(self, tables: Mapping[str, pa.Table]) -> duckdb.DuckDBPyConnection:
        """The connection with exactly ``tables`` (lake name -> Arrow table) as views."""
        for schema in sorted(self._schemas):
            self.con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        for name in self._registered:
            self.con.unregister(name)
        self._registered, self._schemas = [], set()
        for i, (name, table) in enumerate(sorted(tables.items())):
            namespace = name.partition(".")[0]
            if namespace not in self._schemas:
                self.con.execute(f'CREATE SCHEMA "{namespace}"')
                self._schemas.add(namespace)
            view = f"_source_{i}"
            self.con.register(view, table)
            self._registered.append(view)
            self.con.execute(f"CREATE VIEW {_quoted(name)} AS SELECT * FROM {view}")
        return self.con


@contextmanager
def open_workspace() -> Iterator[Workspace]:
    """A :class:`Workspace` on a fresh in-memory connection with the macros."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads TO 2")
        macros.install(con)
        yield Workspace(con)
    finally:
        con.close()


def query_error(exc: duckdb.Error, *, where: str, sources: tuple[str, ...]) -> IndicatorError:
    """The indicator error for a DuckDB error raised by a definition's query."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for pattern in _COLUMN_PATTERNS:
        found = pattern.search(message)
        if found:
            column = found.group(1)
            hint = (
                " (token columns are for linkage only: join silver.person_links for a person key)"
                if column.endswith("_token")
                else ""
            )
            return ColumnUnknown(
                f"{where}: the query uses column {column!r}, which its sources "
                f"({', '.join(sources)}) do not have{hint}"
            )
    found = _TABLE_PATTERN.search(message)
    if found:
        return TableUnknown(
            f"{where}: the query reads table {found.group(1)!r}, which is not among its "
            f"sources ({', '.join(sources)})"
        )
    # A value in single quotes may come from the data (a conversion error): never repeat it.
    shown = _VALUE.sub("'…'", message)
    return DefinitionInvalid(f"{where}: the query fails: {shown}")
