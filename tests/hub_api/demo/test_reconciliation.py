"""Reconciliation: each count from its own place, and a line that does not add up says why."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy.orm import Session

from connectors.sdk.sources.csv import CsvSourceConfig
from connectors.sdk.sources.http import HttpSourceConfig
from connectors.sdk.sources.sql import SqlSourceConfig
from governance.deliveries.models import IngestedBatch
from governance.keys.wrapping import KeyEncryptionKey
from hub_api.demo.reconciliation import (
    Line,
    Reconciliation,
    count_csv,
    count_http,
    count_sql,
    hub_counts,
    render_rows,
)
from integration.ingest.ledger import Ledger, Origin

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def line(**overrides: int) -> Line:
    counts = {
        "source_rows": 10,
        "published": 10,
        "accepted": 10,
        "quarantined": 0,
        "in_lake": 10,
        "lake_batches": 2,
        "accepted_batches": 2,
        "unsettled": 0,
    }
    return Line("nis", "contribution", **(counts | overrides))


def test_a_line_that_adds_up_is_ok() -> None:
    assert line().ok and line().problems == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"published": 9, "accepted": 9, "in_lake": 9}, "published 9 of 10 source rows"),
        ({"accepted": 8, "in_lake": 8}, "accepted 8 of 10 published"),
        ({"quarantined": 1}, "1 message(s) quarantined"),
        ({"in_lake": 20}, "20 rows in the lake for 10 accepted"),
        ({"lake_batches": 3}, "3 batch ids in the lake for 2 accepted"),
        ({"unsettled": 1}, "1 batch(es) without a receipt at the connector"),
    ],
)
def test_each_mismatch_is_named(overrides: dict[str, int], problem: str) -> None:
    bad = line(**overrides)
    assert not bad.ok and bad.problems == [problem]


def test_totals_and_rows() -> None:
    result = Reconciliation([line(), line(quarantined=2)])
    assert not result.ok
    assert result.totals()["source_rows"] == 20 and result.totals()["quarantined"] == 2
    rows = list(render_rows(result))
    assert rows[0][-1] == "ok" and rows[1][-1] == "2 message(s) quarantined"
    assert rows[-1][:3] == ["all", "", "20"] and rows[-1][-1] == "MISMATCH"


def test_csv_rows_are_counted_in_every_matching_file(tmp_path: Path) -> None:
    (tmp_path / "2024-01").mkdir()
    (tmp_path / "2024-02").mkdir()
    (tmp_path / "2024-01" / "trainees.csv").write_text('id,name\n1,"Ann\nMarie"\n2,Bo\n')
    (tmp_path / "2024-02" / "trainees.csv").write_text("id,name\n3,Cy\n")
    (tmp_path / "2024-02" / "other.csv").write_text("id\n9\n9\n")
    config = CsvSourceConfig(
        type="csv", directory=tmp_path, glob="*/trainees.csv", incremental="file"
    )
    assert count_csv(config) == 3  # a quoted newline is one row; other.csv not matched


def test_sql_counts_the_table_or_the_query(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, updated_at TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "2024") for i in range(7)])
    url = f"sqlite:///{db}"
    table = SqlSourceConfig(type="sql", url=url, table="t", watermark_column="updated_at",
                            key_column="id")  # fmt: skip
    query = SqlSourceConfig(type="sql", url=url, query="SELECT * FROM t WHERE id < 3",
                            watermark_column="updated_at", key_column="id")  # fmt: skip
    assert (count_sql(table), count_sql(query)) == (7, 3)


@pytest.fixture
def api() -> Iterator[str]:
    """Five items served in cursor pages of the requested size."""
    items = [{"id": i} for i in range(5)]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            q = parse_qs(urlparse(self.path).query)
            start = int(q.get("cursor", ["0"])[0])
            size = int(q["page_size"][0])
            page = items[start : start + size]
            nxt = str(start + size) if start + size < len(items) else None
            body = json.dumps({"items": page, "next_cursor": nxt}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/items"
    finally:
        server.shutdown()
        server.server_close()


def test_http_items_are_counted_over_every_page(api: str) -> None:
    config = HttpSourceConfig(type="http", url=api, pagination="cursor",
                              watermark_field="id", key_field="id")  # fmt: skip
    assert count_http(config, page_size=2) == 5


def test_hub_counts_come_from_the_ledger_and_the_quarantine(db_session: Session) -> None:
    for i, records in enumerate((100, 50)):
        db_session.add(
            IngestedBatch(
                batch_id=f"{i:064d}",
                agency="recon",
                dataset="contribution",
                content_digest="0" * 64,
                agreement_id="dsa-recon",
                agreement_version=1,
                lake_table="bronze.recon__contribution",
                snapshot_id="1",
                records=records,
                received_at=NOW,
            )
        )
    ledger = Ledger(db_session, kek=KeyEncryptionKey(b"\x07" * 32))
    ledger.quarantine(
        value=b"x",
        headers=[],
        origin=Origin("lmis.recon.contribution.v1", 0, 7),
        reason_code="envelope.bad_signature",
        message="bad",
        received_at=NOW,
        agency="recon",
        dataset="contribution",
    )
    db_session.flush()
    assert hub_counts(db_session)[("recon", "contribution")] == (150, 2, 1)
