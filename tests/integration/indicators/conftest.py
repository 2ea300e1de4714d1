"""Fixtures of the indicator tests: the schema catalog and the package's definitions,
read once, and the lake of a synthetic nation (``nation.py``)."""

from __future__ import annotations

import pytest

from integration.indicators.definition import Definition, load_definitions
from schemas.catalog import SchemaCatalog
from tests.integration.indicators.nation import nation

__all__ = ["nation", "package", "schemas"]


@pytest.fixture(scope="session")
def schemas() -> SchemaCatalog:
    return SchemaCatalog.load()


@pytest.fixture(scope="session")
def package(schemas: SchemaCatalog) -> dict[str, Definition]:
    """The package's definitions by id."""
    return {d.id: d for d in load_definitions(schemas=schemas)}
