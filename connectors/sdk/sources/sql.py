"""A SQL database through SQLAlchemy: a table, or a query, read by keyset pagination.

Each page is ``WHERE (wm, key) > (last wm, last key) ORDER BY wm, key LIMIT n``,
written as ``wm > :v OR (wm = :v AND key > :k)`` so every backend can use an index
on (wm, key). Rows that share a timestamp are ordered by key: none is skipped and
none repeated, and memory holds one page at a time. With a table, the comparison
binds through the reflected column types (a timestamp binds as a timestamp).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from sqlalchemy import (
    ColumnElement,
    MetaData,
    Select,
    Table,
    and_,
    column,
    create_engine,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchTableError, SQLAlchemyError

from connectors.sdk.errors import SourceDataInvalid, SqlSourceUnavailable
from connectors.sdk.sources.base import Source, SourceRow
from connectors.sdk.watermark import Watermark


class SqlSourceConfig(BaseModel):
    """`source:` of a connector reading a SQL database."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["sql"]
    url: SecretStr = Field(description="SQLAlchemy URL; may hold a password, so secret.")
    table: str | None = None
    db_schema: str | None = Field(None, alias="schema")
    query: str | None = None
    watermark_column: str
    key_column: str
    chunk_size: int = Field(5000, ge=1)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlSourceConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        return self


class SqlSource(Source):
    """Incremental reads of one table or query."""

    type = "sql"

    def __init__(self, config: SqlSourceConfig, *, engine: Engine | None = None) -> None:
        super().__init__(chunk_size=config.chunk_size)
        self.config = config
        self._owns_engine = engine is None
        try:
            self._engine = engine or create_engine(config.url.get_secret_value())
        except (ArgumentError, ImportError) as exc:
            raise SqlSourceUnavailable(f"{self.describe()}: the URL is not usable") from exc
        self._table: Table | None = None

    @classmethod
    def from_config(cls, config: SqlSourceConfig, *, engine: Engine | None = None) -> SqlSource:
        return cls(config, engine=engine)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    def describe(self) -> str:
        try:
            where = make_url(self.config.url.get_secret_value()).render_as_string(
                hide_password=True
            )
        except ArgumentError:
            where = "(unparseable URL)"
        what = f"table {self.config.table}" if self.config.table else "query"
        return f"sql source {what} at {where}"

    def _base(self) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any]]:
        cfg = self.config
        if cfg.table is not None:
            if self._table is None:
                self._table = Table(
                    cfg.table, MetaData(), schema=cfg.db_schema, autoload_with=self._engine
                )
            table = self._table
            for name in (cfg.watermark_column, cfg.key_column):
                if name not in table.c:
                    raise SqlSourceUnavailable(f"{self.describe()}: column {name!r} does not exist")
            return select(table), table.c[cfg.watermark_column], table.c[cfg.key_column]
        assert cfg.query is not None
        sub: Select[Any] = select(literal_column("*")).select_from(text(f"({cfg.query}) AS src"))
        return sub, column(cfg.watermark_column), column(cfg.key_column)

    def read(self, after: Watermark | None = None) -> Iterator[list[SourceRow]]:
        cfg = self.config
        last = after
        while True:
            try:
                base, wm, key = self._base()
                stmt = base
                if last is not None:
                    stmt = stmt.where(or_(wm > last.value, and_(wm == last.value, key > last.key)))
                stmt = stmt.order_by(wm, key).limit(self.chunk_size)
                with self._engine.connect() as conn:
                    page = _dicts(conn.execute(stmt))
            except NoSuchTableError as exc:
                raise SqlSourceUnavailable(
                    f"{self.describe()}: table {cfg.table!r} does not exist", source=cfg.table
                ) from exc
            except SQLAlchemyError as exc:
                cause = getattr(exc, "orig", None) or exc
                first_line = (str(cause).splitlines() or [""])[0]
                raise SqlSourceUnavailable(
                    f"{self.describe()}: {type(cause).__name__}: {first_line}"
                ) from exc
            if not page:
                return
            chunk = []
            for row in page:
                mark = Watermark(row.get(cfg.watermark_column), row.get(cfg.key_column))
                if mark.value is None or mark.key is None:
                    raise SourceDataInvalid(
                        f"{self.describe()}: row with key {mark.key!r} has no "
                        f"{cfg.watermark_column!r} or {cfg.key_column!r} value"
                    )
                chunk.append(SourceRow(row, mark))
            yield chunk
            last = chunk[-1].watermark
            if len(page) < self.chunk_size:
                return


def _dicts(result: CursorResult[Any]) -> list[dict[str, Any]]:
    """Every row of ``result`` as column -> value, fetched at once.

    The column names are looked up once rather than per row; a result that names a
    column twice takes the per-row mapping, which refuses the ambiguous name.
    """
    keys = tuple(result.keys())
    rows = result.all()
    if len(set(keys)) != len(keys):
        return [dict(row._mapping) for row in rows]
    return [dict(zip(keys, row, strict=True)) for row in rows]
