"""The job board's HTTP JSON API, served from its SQLite file.

``GET /api/v1/<resource>?updated_since=<ISO timestamp>&page_size=<n>&cursor=<token>``
for ``vacancies``, ``jobseekers`` and ``placements``. Items come ordered by
``(updated_at, id)``; ``next_cursor`` (null on the last page) continues after the last
item returned, so pages never skip or repeat rows even while the board is written to.
``GET /healthz`` answers ``{"status": "ok"}``.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from contextlib import closing
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from synth.agencies.sql import TABLES

MAX_PAGE_SIZE = 1000
RESOURCES = TABLES["jobboard"]


def _cursor(updated_at: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([updated_at, key]).encode()).decode()


def _uncursor(token: str) -> tuple[str, str]:
    updated_at, key = json.loads(base64.urlsafe_b64decode(token.encode()))
    return str(updated_at), str(key)


class JobBoardServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one job-board database file."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], database: Path) -> None:
        self.database = database
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="jobboard-api", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop serving and close the socket (safe from another thread)."""
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: JobBoardServer

    def log_message(self, format: str, *args: object) -> None:
        return None  # access logs would name nobody, but keep the console quiet

    def _send(self, status: HTTPStatus, body: object) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: HTTPStatus, code: str, message: str) -> None:
        self._send(status, {"error": {"code": code, "message": message}})

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/healthz":
            self._send(HTTPStatus.OK, {"status": "ok"})
            return
        parts = url.path.strip("/").split("/")
        if len(parts) != 3 or parts[:2] != ["api", "v1"] or parts[2] not in RESOURCES:
            self._error(HTTPStatus.NOT_FOUND, "jobboard.not_found", f"no resource at {url.path}")
            return
        resource, pk = parts[2], RESOURCES[parts[2]]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            size = int(query.get("page_size", "100"))
            if not 1 <= size <= MAX_PAGE_SIZE:
                raise ValueError(size)
            after = _uncursor(query["cursor"]) if "cursor" in query else None
        except (ValueError, KeyError, json.JSONDecodeError, TypeError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, "jobboard.bad_query", f"page_size or cursor: {exc}")
            return
        since = query.get("updated_since", "").replace("T", " ")
        where, params = ["updated_at > ?"], [since]
        if after is not None:
            where.append(f"(updated_at, {pk}) > (?, ?)")
            params += list(after)
        sql = (
            f"SELECT * FROM {resource} WHERE {' AND '.join(where)} "
            f"ORDER BY updated_at, {pk} LIMIT ?"
        )
        uri = f"file:{self.server.database}?mode=ro"
        try:
            with closing(sqlite3.connect(uri, uri=True)) as conn:
                conn.row_factory = sqlite3.Row
                rows = [dict(r) for r in conn.execute(sql, [*params, size + 1])]
        except sqlite3.Error as exc:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, "jobboard.unavailable", str(exc))
            return
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = _cursor(str(rows[-1]["updated_at"]), str(rows[-1][pk])) if more else None
        self._send(HTTPStatus.OK, {"items": rows, "next_cursor": next_cursor})


def serve(database: Path, host: str, port: int) -> JobBoardServer:
    """A server (not yet serving) for the board's database file."""
    return JobBoardServer((host, port), database)
