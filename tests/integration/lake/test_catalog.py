"""Opening the lake catalog: several hub processes (two ingest workers of one group, the
API) start at once on a new hub database, and each must open it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration.lake.catalog import NAMESPACES, open_catalog
from integration.lake.errors import LakeUnavailable
from tests.fixtures.database import BACKENDS, new_postgres_database

OPENERS = 8


@pytest.fixture(params=BACKENDS)
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A hub database nobody has opened yet (no catalog tables, no namespaces)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    server = request.getfixturevalue("postgres_server_url")
    with new_postgres_database(server, prefix="lmis_catalog") as url:
        yield url


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
