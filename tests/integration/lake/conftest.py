"""A lake catalog in the test session's hub database, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy.engine import Engine

from integration.lake.catalog import open_catalog


@pytest.fixture(scope="session")
def lake_catalog(db_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> SqlCatalog:
    warehouse: Path = tmp_path_factory.mktemp("warehouse")
    return open_catalog(
        database_url=db_engine.url.render_as_string(hide_password=False),
        warehouse=str(warehouse),
    )
