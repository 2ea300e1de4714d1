"""Agencies that keep a SQL database: NIS, the DoL case system and the job board.

SQLite files by default; with a PostgreSQL URL the NIS and the DoL each get their own
schema (the job board always keeps a SQLite file, which its API server reads). Every
table has a declared layout (below) with an ``updated_at`` timestamp and an index on
it. Rows are upserted by primary key, so extending a nation updates the rows that
changed and adds the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from synth.errors import SynthError

_T, _D, _TS, _I = sa.Text, sa.Date, sa.DateTime, sa.SmallInteger
_MONEY = sa.Numeric(12, 2, asdecimal=False)
_PERSON = (("national_id", _T), ("given_name", _T), ("family_name", _T), ("date_of_birth", _D))
_CASE = (
    ("employer_brn", _T), ("employer_name", _T), ("workplace_region", _T), ("isic", _T),
    ("opened_on", _D), ("status", _T),
)  # fmt: skip

#: agency -> table -> columns (the first is the primary key); ``updated_at`` is added.
LAYOUTS: dict[str, dict[str, tuple[tuple[str, Any], ...]]] = {
    "nis": {
        "insured_persons": (
            ("nis_number", _T), ("row_uid", _T), *_PERSON, ("sex", _I), ("region", _T),
            ("registered_on", _D),
        ),
        "employers": (
            ("employer_number", _T), ("business_reg_no", _T), ("name", _T), ("isic", _T),
            ("region", _T), ("registered_on", _D), ("status", _T),
        ),
        "contributions": (
            ("contribution_id", _T), ("nis_number", _T), ("employer_number", _T),
            ("period", _T), ("insurable_earnings", _MONEY), ("weeks", _I),
            ("earnings_class", _T), ("contribution", _MONEY),
        ),
        "benefit_claims": (
            ("claim_no", _T), ("nis_number", _T), ("benefit_type", _T), ("claim_date", _D),
            ("status", _T), ("decided_on", _D), ("weekly_amount", _MONEY),
        ),
    },
    "dol": {
        "complaints": (("case_no", _T), *_CASE, ("category", _T), *_PERSON),
        "disputes": (
            ("case_no", _T), *_CASE, ("union", _T), ("issue", _T), ("workers_involved", _I),
        ),
        "inspections": (("case_no", _T), *_CASE, ("kind", _T), ("workers_covered", _I)),
        "osh_accidents": (
            ("case_no", _T), *_CASE, ("severity", _T), ("days_lost", _I), *_PERSON,
            ("sex", _I), ("isco", _T),
        ),
    },
    # The board's own file keeps plain text, as a small web application's SQLite would.
    "jobboard": {
        "jobseekers": (
            ("jobseeker_id", _T), ("row_uid", _T), *((c, _T) for c, _ in _PERSON),
            ("sex", _I), ("region", _T),
            ("education", _T), ("desired_job", _T), ("registered_on", _T),
        ),
        "vacancies": (
            ("vacancy_id", _T), ("employer_name", _T), ("title", _T), ("isco_code", _T),
            ("isic", _T), ("region", _T), ("positions", _T), ("contract_type", _T),
            ("min_education", _T), ("wage_min", _T), ("wage_max", _T), ("posted_on", _T),
            ("closing_on", _T), ("status", _T),
        ),
        "placements": (
            ("placement_id", _T), ("jobseeker_id", _T), ("vacancy_id", _T),
            ("employer_name", _T), ("start_date", _T), ("monthly_wage", _T),
        ),
    },
}  # fmt: skip

#: agency -> table -> primary-key column.
TABLES: dict[str, dict[str, str]] = {
    agency: {table: cols[0][0] for table, cols in tables.items()}
    for agency, tables in LAYOUTS.items()
}


def sqlite_url(folder: Path, agency: str) -> str:
    return f"sqlite:///{folder / agency / f'{agency}.db'}"


def tables_for(agency: str, *, schema: str | None = None) -> list[sa.Table]:
    """The agency's tables as SQLAlchemy Core tables."""
    meta = sa.MetaData(schema=schema)
    out = []
    updated: Any = sa.Text if agency == "jobboard" else sa.DateTime
    for name, cols in LAYOUTS[agency].items():
        columns = [sa.Column(cols[0][0], sa.Text, primary_key=True)]
        columns += [sa.Column(c, t, nullable=True) for c, t in cols[1:]]
        columns.append(sa.Column("updated_at", updated, nullable=False))
        table = sa.Table(name, meta, *columns)
        sa.Index(f"ix_{name}_updated_at", table.c.updated_at)
        out.append(table)
    return out


_SQLITE_CACHE_KIB = 256 * 1024


def _typed(table: sa.Table, rows: Sequence[tuple[object, ...]]) -> list[dict[str, object]]:
    """Rows of ISO strings as the Python values SQLAlchemy binds for each column type."""
    kinds = [type(c.type) for c in table.columns]
    names = [c.name for c in table.columns]
    out = []
    for row in rows:
        values: dict[str, object] = {}
        for name, kind, value in zip(names, kinds, row, strict=True):
            if isinstance(value, str) and issubclass(kind, sa.DateTime):
                value = datetime.fromisoformat(value)
            elif isinstance(value, str) and issubclass(kind, sa.Date):
                value = date.fromisoformat(value)
            values[name] = value
        out.append(values)
    return out


def _sqlite_text(table: sa.Table, rows: Sequence[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Rows as SQLAlchemy would store them in SQLite: a ``DateTime`` as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (every timestamp here is whole seconds)."""
    stamps = [i for i, c in enumerate(table.columns) if isinstance(c.type, sa.DateTime)]
    if not stamps:
        return list(rows)
    if stamps != [len(table.columns) - 1]:
        raise SynthError(f"{table.name}: only updated_at may be a timestamp")
    return [(*row[:-1], f"{row[-1]}.000000" if row[-1] is not None else None) for row in rows]


def write_tables(
    url: str,
    agency: str,
    tables: Mapping[str, Iterable[Sequence[tuple[object, ...]]]],
    *,
    schema: str | None = None,
) -> dict[str, int]:
    """Create the agency's tables if needed and upsert the rows; returns rows per table.

    ``tables`` maps a table to batches of rows in its layout order (primary key, the
    columns, ``updated_at``), dates and timestamps as ISO strings. SQLite gets them by
    ``INSERT OR REPLACE`` through the driver; PostgreSQL by delete and insert.
    """
    engine = sa.create_engine(url)
    written: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            if schema is not None:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            declared = tables_for(agency, schema=schema)
            declared[0].metadata.create_all(conn)
            lite = conn.dialect.name == "sqlite"
            if lite:  # ten million contributions want more than SQLite's 2 MiB page cache
                conn.exec_driver_sql(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
            for table in declared:
                pk = next(iter(table.primary_key.columns))
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                marks = ", ".join("?" for _ in table.columns)
                upsert = f'INSERT OR REPLACE INTO "{table.name}" ({columns}) VALUES ({marks})'
                written[table.name] = 0
                # Into an empty SQLite table, index updated_at once at the end (sorting
                # once is far cheaper than inserting random timestamps into a B-tree).
                later = lite and not conn.execute(sa.select(sa.exists(sa.select(pk)))).scalar()
                for index in table.indexes if later else ():
                    index.drop(conn)
                for batch in tables.get(table.name, []):
                    if not batch:
                        continue
                    if lite:
                        conn.exec_driver_sql(upsert, _sqlite_text(table, batch))
                    else:
                        keys = [r[0] for r in batch]
                        for i in range(0, len(keys), 500):
                            conn.execute(table.delete().where(pk.in_(keys[i : i + 500])))
                        conn.execute(table.insert(), _typed(table, batch))
                    written[table.name] += len(batch)
                for index in table.indexes if later else ():
                    index.create(conn)
    except SQLAlchemyError as exc:
        raise SynthError(
            f"{agency}: cannot write the agency database {schema or ''}: {exc}"
        ) from exc
    finally:
        engine.dispose()
    return written


def dump(
    url: str, agency: str, *, schema: str | None = None
) -> list[tuple[str, tuple[object, ...]]]:
    """Every row of the agency's tables ordered by primary key (to compare two nations)."""
    engine = sa.create_engine(url)
    out: list[tuple[str, tuple[object, ...]]] = []
    try:
        with engine.connect() as conn:
            for table in tables_for(agency, schema=schema):
                pk = next(iter(table.primary_key.columns))
                for row in conn.execute(sa.select(table).order_by(pk)):
                    out.append((table.name, tuple(row)))
    finally:
        engine.dispose()
    return out
