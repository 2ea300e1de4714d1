"""The database fixtures give each test a real, isolated hub database on both backends."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Engine

from governance.db import current_revision, head_revision, make_engine, migrate, normalise_url
from tests.fixtures.database import BACKENDS, new_postgres_database

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


@pytest.fixture(params=BACKENDS)
def new_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A hub database nobody has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    with new_postgres_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


MIGRATE = """
import sys, time
from governance.db import make_engine, migrate
engine = make_engine(sys.argv[1])
go = float(sys.argv[2])
time.sleep(max(0.0, go - time.time()))  # all processes start migrating at this moment
migrate(engine)
"""


def test_processes_migrating_a_new_database_together_all_succeed(new_database_url: str) -> None:
    # Two ingest workers and the API started at once on a new deployment's database.
    go = time.time() + 4  # after every process has imported what it needs
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, new_database_url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            failures.append(stderr[-1500:])
    assert failures == []
    engine = make_engine(new_database_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
