"""Opening the lake catalog: several hub processes (two ingest workers of one group, the
API) start at once on a new hub database, and each must open it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from integration.lake.catalog import NAMESPACES, open_catalog
from integration.lake.errors import LakeUnavailable
from tests.fixtures.database import BACKENDS, _libpq_kwargs

OPENERS = 8


@pytest.fixture(params=BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A hub database nobody has opened yet (no catalog tables, no namespaces)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    server = request.getfixturevalue("postgres_server_url")
    name = f"lmis_catalog_{uuid.uuid4().hex[:12]}"
    admin = _libpq_kwargs(server)
    with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield (
            make_url(server)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(**admin, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_openers_racing_on_a_new_database_all_succeed(new_database: str, tmp_path: Path) -> None:
    start = threading.Barrier(OPENERS)
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            catalog = open_catalog(database_url=new_database, warehouse=str(tmp_path / "lake"))
            catalog.engine.dispose()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(OPENERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    catalog = open_catalog(database_url=new_database, warehouse=str(tmp_path / "lake"))
    assert sorted(ns[0] for ns in catalog.list_namespaces()) == sorted(NAMESPACES)


def test_an_unreachable_database_is_lake_unavailable(tmp_path: Path) -> None:
    with pytest.raises(LakeUnavailable) as caught:
        open_catalog(
            database_url=f"sqlite:///{tmp_path / 'missing-folder' / 'hub.db'}",
            warehouse=str(tmp_path / "lake"),
        )
    assert caught.value.code == "lake.unavailable"
