from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk.state import StateDB


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    db = StateDB.open(tmp_path / "state" / "state.db")
    try:
        yield db
    finally:
        db.close()
