"""Agencies that keep a SQL database: NIS, the DoL case system and the job board.

SQLite files by default; with a PostgreSQL URL each agency gets its own schema.
Tables are created from the records themselves; ``key`` becomes the table's primary
key column (named per table below). Rows are upserted, so extending a nation updates
the rows that changed and adds the new ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from synth.errors import SynthError

#: Tables each SQL agency keeps and their primary-key column.
TABLES: dict[str, dict[str, str]] = {
    "nis": {
        "insured_persons": "nis_number",
        "employers": "employer_number",
        "contributions": "contribution_id",
        "benefit_claims": "claim_no",
    },
    "dol": {
        "complaints": "case_no",
        "disputes": "case_no",
        "inspections": "case_no",
        "osh_accidents": "case_no",
    },
    "jobboard": {
        "jobseekers": "jobseeker_id",
        "vacancies": "vacancy_id",
        "placements": "placement_id",
    },
}
_TYPES: dict[type, Any] = {
    bool: sa.Boolean,
    int: sa.Integer,
    float: sa.Float,
}


def sqlite_url(folder: Path, agency: str) -> str:
    return f"sqlite:///{folder / agency / f'{agency}.db'}"


def _table(
    meta: sa.MetaData, name: str, pk: str, rows: Sequence[dict[str, object]], schema: str | None
) -> sa.Table:
    columns: dict[str, Any] = {}
    for row in rows:
        for col, value in row.items():
            if value is not None and col not in columns:
                columns[col] = _TYPES.get(type(value), sa.Text)
            columns.setdefault(col, sa.Text)
    cols = [sa.Column(pk, sa.Text, primary_key=True)]
    cols += [sa.Column(c, t, nullable=True) for c, t in columns.items() if c != pk]
    cols.append(sa.Index(f"ix_{name}_updated_at", "updated_at"))  # type: ignore[arg-type]
    return sa.Table(name, meta, *cols, schema=schema)


def _rename(rows: Sequence[dict[str, object]], pk: str) -> list[dict[str, object]]:
    out = []
    for row in rows:
        r = dict(row)
        key = r.pop("key")
        r.setdefault(pk, key)
        r["updated_at"] = str(r["updated_at"])
        out.append(r)
    return out


def write_tables(
    url: str,
    agency: str,
    tables: dict[str, list[dict[str, object]]],
    *,
    schema: str | None = None,
) -> dict[str, int]:
    """Create (if needed) and upsert the agency's tables; returns rows written per table."""
    engine = sa.create_engine(url)
    written: dict[str, int] = {}
    try:
        with engine.begin() as conn:
            if schema is not None:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            for name, pk in TABLES[agency].items():
                rows = _rename(tables.get(name, []), pk)
                meta = sa.MetaData()
                existing = sa.inspect(conn).has_table(name, schema=schema)
                if existing:
                    table = sa.Table(name, meta, schema=schema, autoload_with=conn)
                elif rows:
                    table = _table(meta, name, pk, rows, schema)
                    meta.create_all(conn)
                else:
                    continue
                if rows:
                    keys = [r[pk] for r in rows]
                    for i in range(0, len(keys), 500):
                        conn.execute(table.delete().where(table.c[pk].in_(keys[i : i + 500])))
                    cols = [c.name for c in table.columns]
                    conn.execute(table.insert(), [{c: r.get(c) for c in cols} for r in rows])
                written[name] = len(rows)
    except SQLAlchemyError as exc:
        raise SynthError(f"{agency}: cannot write the agency database: {exc}") from exc
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
            for name, pk in TABLES[agency].items():
                if not sa.inspect(conn).has_table(name, schema=schema):
                    continue
                table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
                for row in conn.execute(sa.select(table).order_by(table.c[pk])):
                    out.append((name, tuple(row)))
    finally:
        engine.dispose()
    return out
