"""Reading the sources from a real lake (SqlCatalog on SQLite, local data files): one
row per record id (the last received), no token column, the columns of schema versions
not delivered yet as NULL, the snapshot read recorded, and an empty source refused."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog import Catalog
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from governance.linkage.models import LinkageRun
from integration.indicators.definition import Definition
from integration.indicators.errors import SourceEmpty
from integration.indicators.lake_input import (
    committed_silver_snapshots,
    read_package_input,
    read_source,
    read_sources,
)
from integration.lake.bronze import LakeBatch, Lineage, append_batches, ensure_bronze_table
from integration.lake.catalog import open_catalog
from integration.linkage import silver
from schemas.catalog import SchemaCatalog
from tests.integration.indicators.tables import rid

VACANCY = "bronze.jobboard__vacancy"
JOBSEEKER = "bronze.jobboard__jobseeker"


@pytest.fixture
def lake(tmp_path: Path) -> Catalog:
    return open_catalog(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=str(tmp_path)
    )


def lineage(batch: str, hour: int) -> Lineage:
    return Lineage(
        batch_id=batch,
        agreement_id="dsa-jobboard",
        agreement_version=1,
        schema_fingerprint="0011223344556677",
        received_at=datetime(2025, 3, 1, hour, tzinfo=UTC),
    )


def vacancy(i: int, region: str) -> dict[str, Any]:
    return {
        "record_id": rid(i),
        "posted_date": date(2024, 5, 1),
        "occupation": "2320",
        "industry": None,
        "region": region,
        "positions": 1,
        "min_education": None,
        "wage_min_cents": None,
        "wage_max_cents": None,
        "closing_date": None,
        "contract_type": "PERMANENT",
    }


def land_vacancies(lake: Catalog, schemas: SchemaCatalog) -> list[int]:
    """Two deliveries under schema v1; the second corrects the first's record 1."""
    table = ensure_bronze_table(
        lake,
        agency="jobboard",
        dataset="vacancy",
        avro_schema=dict(schemas.get("jobboard", "vacancy", 1).raw),
        event_date_field="posted_date",
    )
    first = append_batches(
        table, [LakeBatch([vacancy(1, "TT-POS"), vacancy(2, "TT-SJL")], lineage("b1", 9))]
    )
    table = lake.load_table(VACANCY)
    second = append_batches(table, [LakeBatch([vacancy(1, "TT-TOB")], lineage("b2", 10))])
    return [first, second]


def test_a_bronze_table_is_read_one_row_per_record_at_its_snapshot(
    lake: Catalog, schemas: SchemaCatalog
) -> None:
    first, second = land_vacancies(lake, schemas)
    data, snapshot = read_source(lake, VACANCY, schemas=schemas)
    assert snapshot == second
    regions = dict(zip(data["record_id"].to_pylist(), data["region"].to_pylist(), strict=True))
    assert regions == {rid(1): "TT-TOB", rid(2): "TT-SJL"}  # the correction wins
    # Columns of v2 and v3, not delivered yet, read as NULL; lineage kept.
    assert data["isco_auto_coded"].null_count == 2 and data["remote_work"].null_count == 2
    assert set(data["_batch_id"].to_pylist()) == {"b1", "b2"}
    assert data.schema.field("_received_at").type.tz == "UTC"
    # An earlier snapshot reads as it was.
    earlier, at = read_source(lake, VACANCY, schemas=schemas, snapshot_id=first)
    assert at == first
    assert sorted(earlier["region"].to_pylist()) == ["TT-POS", "TT-SJL"]


def test_token_columns_are_never_read(lake: Catalog, schemas: SchemaCatalog) -> None:
    schema = schemas.current("jobboard", "jobseeker")
    table = ensure_bronze_table(
        lake,
        agency="jobboard",
        dataset="jobseeker",
        avro_schema=dict(schema.raw),
        event_date_field="registration_date",
    )
    record: dict[str, Any] = {f["name"]: None for f in schema.fields}
    record |= {
        "record_id": rid(7),
        "registration_date": date(2024, 6, 1),
        "sex": "2",
        "person_ref_token": os.urandom(32),
        "national_id_token": os.urandom(32),
    }
    append_batches(table, [LakeBatch([record], lineage("b3", 11))])
    assert any(f.name.endswith("_token") for f in lake.load_table(JOBSEEKER).schema().fields)
    data, _ = read_source(lake, JOBSEEKER, schemas=schemas)
    assert data.num_rows == 1 and data["sex"].to_pylist() == ["2"]
    assert not [c for c in data.column_names if "token" in c]


def test_sources_are_read_together_with_their_snapshots(
    lake: Catalog, schemas: SchemaCatalog
) -> None:
    _, second = land_vacancies(lake, schemas)
    read = read_sources(lake, [VACANCY, VACANCY], schemas=schemas)
    assert set(read.tables) == {VACANCY} and read.snapshots == {VACANCY: second}


def test_a_missing_or_empty_table_is_refused(lake: Catalog, schemas: SchemaCatalog) -> None:
    with pytest.raises(SourceEmpty, match="not in the lake yet") as caught:
        read_source(lake, VACANCY, schemas=schemas)
    assert caught.value.code == "indicators.source_empty"
    ensure_bronze_table(
        lake,
        agency="jobboard",
        dataset="vacancy",
        avro_schema=dict(schemas.current("jobboard", "vacancy").raw),
        event_date_field="posted_date",
    )
    with pytest.raises(SourceEmpty, match="no data yet"):
        read_source(lake, VACANCY, schemas=schemas)


def test_silver_is_read_only_from_a_committed_linkage_run(
    lake: Catalog, schemas: SchemaCatalog, package: dict[str, Definition], tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    LinkageRun.__table__.create(engine)  # type: ignore[attr-defined]
    with Session(engine) as session:
        assert committed_silver_snapshots(session) == {}
        with pytest.raises(SourceEmpty, match="no committed linkage run"):
            read_package_input(lake, session, [package["tvet_enrolments"]], schemas=schemas)
        now = datetime(2025, 1, 1, tzinfo=UTC)
        for state, snapshot in (("committed", 11), ("failed", 22)):
            session.add(
                LinkageRun(
                    mode="full",
                    state=state,
                    actor="test",
                    started_at=now,
                    snapshots={silver.PERSON_LINKS: snapshot, silver.PERSONS: snapshot + 1},
                )
            )
        session.flush()
        # The failed run wrote newer snapshots; only the committed run's are silver.
        assert committed_silver_snapshots(session) == {
            silver.PERSON_LINKS: 11,
            silver.PERSONS: 12,
        }
