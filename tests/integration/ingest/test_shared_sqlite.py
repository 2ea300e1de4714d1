"""The embedded stack's layout: hub tables and lake catalog in ONE SQLite file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from governance.db import make_engine, migrate
from integration.lake.catalog import open_catalog
from schemas.catalog import SchemaCatalog
from tests.integration.ingest.conftest import delivered, make_hub


def test_accepts_batches_when_lake_and_ledger_share_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    engine = make_engine(url)
    migrate(engine)
    try:
        with Session(engine) as session:
            lake = open_catalog(database_url=url, warehouse=str(tmp_path / "lake"))
            hub = make_hub(session, SchemaCatalog.load(), lake)
            outcomes = [hub.worker.process(delivered(hub.seal(2), offset=i)) for i in range(3)]
            assert [o.status for o in outcomes] == ["accepted"] * 3, outcomes[0].message
            assert hub.ledger.accepted(outcomes[2].batch_id) is not None
    finally:
        engine.dispose()
