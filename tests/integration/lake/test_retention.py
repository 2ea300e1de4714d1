"""Retention per agreement version on a real lake fed by the ingest worker: dry run,
deletion by event date, expired snapshots, files really gone, audit entry."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from governance.timestamps import utc_now
from integration.lake.bronze import (
    LakeBatch,
    Lineage,
    append_batches,
    bronze_identifier,
    ensure_bronze_table,
)
from integration.lake.catalog import open_catalog
from integration.lake.retention import date_column, run_retention
from schemas.catalog import SchemaCatalog
from schemas.envelope import seal_batch
from schemas.samples import opaque_sample_id, sample_records
from tests.integration.ingest.conftest import delivered, make_hub
from tests.integration.lake.test_bronze import contribution_schema, records


@pytest.fixture
def hub(db_session, tmp_path: Path):
    lake = open_catalog(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=str(tmp_path / "lake")
    )
    return make_hub(db_session, SchemaCatalog.load(), lake)


def _ingest(hub, months: list[date], version: int) -> str:
    sv = hub.schemas.current("nis", "contribution")
    records: list[dict[str, Any]] = sample_records(sv, len(months))
    tag = uuid.uuid4().hex[:8]
    for record, month in zip(records, months, strict=True):
        record["record_id"] = opaque_sample_id(f"{tag}:{record['record_id']}")
        record["contribution_month"] = month
    (message,) = seal_batch(
        records,
        schema=sv,
        agreement_id="nis-lmis-2026",
        agreement_version=version,
        signer=hub.nis,
        now=hub.clock.now - timedelta(seconds=5),
    )
    outcome = hub.worker.process(delivered(message))
    assert outcome.status == "accepted", outcome.message
    return str(outcome.batch_id)


def _data_files(table) -> set[str]:
    return {task.file.file_path for task in table.scan().plan_files()}


def test_retention_per_agreement_version(hub, db_session):
    today = utc_now().date()
    # v1 keeps 2555 days; v2 (an amendment) keeps 30 days.
    _ingest(hub, [today - timedelta(days=2600), today - timedelta(days=400)], version=1)
    v2 = hub.activate_version(retention_days=30)
    hub.clock.now += timedelta(minutes=1)
    _ingest(hub, [today - timedelta(days=90), today - timedelta(days=5)], version=v2)
    db_session.commit()
    lake = hub.worker.lake
    table = lake.load_table(bronze_identifier("nis", "contribution"))
    assert date_column(table) == "contribution_month"
    files_before = _data_files(table)

    def job(dry_run: bool):
        return run_retention(
            lake,
            session=db_session,
            audit=hub.audit,
            clock=utc_now,
            keep_snapshots=timedelta(0),
            actor="ops",
            dry_run=dry_run,
        )

    (dry,) = job(True)
    assert (dry.rows_before, dry.rows_deleted, dry.snapshots_expired) == (4, 2, 0)
    assert {(c.agreement_version, c.retention_days, c.rows) for c in dry.cuts} == {
        (1, 2555, 1),
        (v2, 30, 1),
    }
    table.refresh()
    assert table.scan().to_arrow().num_rows == 4
    assert not [e for e in hub.audit.tail(20) if e.tag == "lake:retention"]

    (done,) = job(False)
    assert done.rows_deleted == 2 and done.snapshots_expired >= 2 and done.files_deleted > 0
    table.refresh()
    kept = sorted(table.scan().to_arrow()["contribution_month"].to_pylist())
    assert kept == [today - timedelta(days=400), today - timedelta(days=5)]
    assert len(table.metadata.snapshots) == 1
    gone = files_before - _data_files(table)
    assert gone and not any(Path(urlparse(p).path).exists() for p in gone)
    (entry,) = [e for e in hub.audit.tail(20) if e.tag == "lake:retention"]
    assert entry.subject == "lake:bronze.nis__contribution"
    assert entry.details["rows_deleted"] == 2 and entry.actor == "ops"
    assert {c["agreement_version"] for c in entry.details["cuts"]} == {1, v2}

    # Nothing more to do: no change, no audit entry.
    (again,) = job(False)
    assert again.rows_deleted == 0 and again.snapshots_expired == 0
    assert len([e for e in hub.audit.tail(20) if e.tag == "lake:retention"]) == 1


def test_retention_keeps_recent_snapshots(hub, db_session):
    _ingest(hub, [date(2000, 1, 1), date(2026, 1, 1)], version=1)
    _ingest(hub, [date(2026, 2, 1)], version=1)
    db_session.commit()
    (result,) = run_retention(
        hub.worker.lake,
        session=db_session,
        audit=hub.audit,
        clock=lambda: datetime(2026, 3, 10, tzinfo=UTC),
        keep_snapshots=timedelta(hours=24),
        actor="ops",
    )
    assert result.rows_deleted == 1
    # No snapshot is older than the clock minus 24 h: none expired yet.
    assert result.snapshots_expired == 0 and result.files_deleted == 0
    table = hub.worker.lake.load_table(bronze_identifier("nis", "contribution"))
    assert table.scan().to_arrow().num_rows == 2


def test_a_table_without_event_date_ages_rows_by_received_at(hub, db_session):
    table = ensure_bronze_table(
        hub.worker.lake, agency="nis", dataset="undated", avro_schema=contribution_schema()
    )
    assert date_column(table) == "_received_at"
    now = utc_now()

    def batch(name: str, agreement: str, received: datetime) -> LakeBatch:
        return LakeBatch(
            records(2, date(2026, 1, 1), name),
            Lineage(name, agreement, 1, "f" * 16, received),
        )

    append_batches(
        table,
        [
            batch("old", "nis-lmis-2026", now - timedelta(days=3000)),
            batch("new", "nis-lmis-2026", now - timedelta(days=10)),
            batch("ghost", "no-such-agreement", now - timedelta(days=3000)),
        ],
    )
    db_session.commit()
    results = run_retention(
        hub.worker.lake,
        session=db_session,
        audit=hub.audit,
        clock=utc_now,
        keep_snapshots=timedelta(hours=24),
        actor="ops",
    )
    (result,) = [r for r in results if r.table == "bronze.nis__undated"]
    assert result.column == "_received_at" and result.rows_deleted == 2
    assert {(c.agreement_id, c.retention_days, c.rows) for c in result.cuts} == {
        ("nis-lmis-2026", 2555, 2),
        ("no-such-agreement", None, 0),  # an agreement the hub does not know: rows kept
    }
    table.refresh()
    kept = sorted(set(table.scan().to_arrow()["_batch_id"].to_pylist()))
    assert kept == ["ghost", "new"]
