"""The database fixtures give each test a real, isolated hub database on both backends."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from governance.db import current_revision, head_revision, migrate, normalise_url

_probe = sa.table("fixture_probe", sa.column("id", sa.String), sa.column("note", sa.String))


def _make_probe_table(conn: Connection) -> None:
    conn.execute(
        sa.text("CREATE TABLE fixture_probe (id VARCHAR(40) PRIMARY KEY, note VARCHAR(40))")
    )


def test_round_trip(db_connection: Connection) -> None:
    _make_probe_table(db_connection)
    key = uuid.uuid4().hex
    db_connection.execute(sa.insert(_probe).values(id=key, note="héllo"))
    assert (
        db_connection.execute(sa.select(_probe.c.note).where(_probe.c.id == key)).scalar_one()
        == "héllo"
    )


def test_each_test_starts_clean(db_connection: Connection) -> None:
    # The table created by test_round_trip was rolled back with its transaction.
    tables = sa.inspect(db_connection).get_table_names()
    assert "fixture_probe" not in tables


def test_migrations_are_at_head_and_idempotent(db_engine: Engine) -> None:
    migrate(db_engine)
    assert current_revision(db_engine) == head_revision()


def test_backends_are_real(db_engine: Engine) -> None:
    assert db_engine.dialect.name in ("sqlite", "postgresql")
    with db_engine.connect() as conn:
        if db_engine.dialect.name == "postgresql":
            assert (
                conn.execute(sa.text("SELECT current_database()"))
                .scalar_one()
                .startswith("lmis_test_")
            )
        else:
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1


def test_postgres_urls_get_psycopg3() -> None:
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalise_url("sqlite:///x.db") == "sqlite:///x.db"
