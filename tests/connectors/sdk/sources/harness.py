"""Real backends for the source contract suite: CSV files, SQLite and PostgreSQL
tables, and a local HTTP server serving pages of JSON."""

from __future__ import annotations

import csv
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, create_engine, delete
from sqlalchemy.engine import Engine

from connectors.sdk.sources.base import Source
from connectors.sdk.sources.csv import CsvSource, CsvSourceConfig
from connectors.sdk.sources.http import HttpSource, HttpSourceConfig
from connectors.sdk.sources.sql import SqlSource, SqlSourceConfig

Row = dict[str, Any]  # id: int, updated_at: datetime, name: str


class CsvHarness:
    kind = "csv"

    def __init__(self, tmp: Path) -> None:
        self.directory = tmp / "exports"
        self.directory.mkdir()

    def write(self, rows: list[Row]) -> None:
        for old in self.directory.glob("*.csv"):
            old.unlink()
        # two files, rows interleaved, to show that file order does not matter
        for part in (0, 1):
            with (self.directory / f"export-{part}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["id", "updated_at", "name"])
                for row in rows[part::2]:
                    writer.writerow([row["id"], row["updated_at"].isoformat(), row["name"]])

    def source(self, chunk_size: int) -> Source:
        return CsvSource(
            CsvSourceConfig(
                type="csv",
                directory=self.directory,
                watermark_column="updated_at",
                key_column="id",
                chunk_size=chunk_size,
            )
        )

    def broken(self) -> Source:
        return CsvSource(
            CsvSourceConfig(
                type="csv",
                directory=self.directory / "missing",
                watermark_column="updated_at",
                key_column="id",
            )
        )

    def close(self) -> None:
        pass


class SqlHarness:
    kind = "sql"

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url)
        self.table = Table(
            f"people_{uuid.uuid4().hex[:8]}",
            MetaData(),
            Column("id", Integer, primary_key=True, autoincrement=False),
            Column("updated_at", DateTime, nullable=False),
            Column("name", String(100)),
        )
        self.table.create(self.engine)
        self.sources: list[Source] = []

    def write(self, rows: list[Row]) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(self.table))
            if rows:
                conn.execute(self.table.insert(), rows)

    def source(self, chunk_size: int) -> Source:
        return self._keep(
            SqlSource(
                SqlSourceConfig.model_validate(
                    {
                        "type": "sql",
                        "url": self.url,
                        "table": self.table.name,
                        "watermark_column": "updated_at",
                        "key_column": "id",
                        "chunk_size": chunk_size,
                    }
                )
            )
        )

    def _keep(self, source: Source) -> Source:
        self.sources.append(source)
        return source

    def broken(self) -> Source:
        return self._keep(
            SqlSource(
                SqlSourceConfig.model_validate(
                    {
                        "type": "sql",
                        "url": self.url,
                        "table": "no_such_table",
                        "watermark_column": "updated_at",
                        "key_column": "id",
                    }
                )
            )
        )

    def close(self) -> None:
        for source in self.sources:
            source.close()
        self.table.drop(self.engine)
        self.engine.dispose()


class ApiState:
    """What the test API serves and what it was asked."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.requests: list[dict[str, list[str]]] = []
        self.authorization: list[str | None] = []
        self.failures: list[int] = []  # statuses to answer before serving normally
        self.pagination = "page"
        self.shuffle = False


def _handler(state: ApiState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            state.requests.append(query)
            state.authorization.append(self.headers.get("Authorization"))
            if state.failures:
                status = state.failures.pop(0)
                self.send_response(status)
                self.end_headers()
                return
            since = query.get("updated_since", [None])[0]
            size = int(query.get("page_size", ["50"])[0])
            rows = sorted(state.rows, key=lambda r: (r["updated_at"], r["id"]))
            if since is not None:
                rows = [r for r in rows if r["updated_at"] >= datetime.fromisoformat(since)]
            if state.shuffle:
                rows = list(reversed(rows))
            if state.pagination == "page":
                page = int(query.get("page", ["1"])[0])
                items, nxt = rows[(page - 1) * size : page * size], None
            else:
                offset = int(query.get("offset", ["0"])[0])
                items = rows[offset : offset + size]
                nxt = None
                if offset + size < len(rows):
                    nxt = f"/people?offset={offset + size}&page_size={size}"
                    if since is not None:
                        nxt += f"&updated_since={since}"
            body = {
                "items": [
                    {"id": r["id"], "updated_at": r["updated_at"].isoformat(), "name": r["name"]}
                    for r in items
                ],
                "next": nxt,
            }
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


class HttpHarness:
    kind = "http"

    def __init__(self) -> None:
        self.state = ApiState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/people"

    def write(self, rows: list[Row]) -> None:
        self.state.rows = list(rows)

    def config(self, **overrides: Any) -> HttpSourceConfig:
        base: dict[str, Any] = {
            "type": "http",
            "url": self.url,
            "watermark_field": "updated_at",
            "key_field": "id",
            "backoff_s": 0.0,
            "max_retries": 2,
            "timeout_s": 5.0,
        }
        return HttpSourceConfig.model_validate({**base, **overrides})

    def source(self, chunk_size: int) -> Source:
        return HttpSource(self.config(chunk_size=chunk_size))

    def broken(self) -> Source:
        # a port nothing listens on: bind, note the port, close
        probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        port = probe.server_address[1]
        probe.server_close()
        return HttpSource(self.config(url=f"http://127.0.0.1:{port}/people", max_retries=1))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ids(chunks: Iterator[list[Any]] | list[list[Any]]) -> list[int]:
    return [int(row.values["id"]) for chunk in chunks for row in chunk]
