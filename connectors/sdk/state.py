"""The connector's local state database: one SQLite file holding the outbox, the
watermarks and the refusal report, so that "batch stored + watermark advanced" is a
single local transaction; also the agreement notices the hub sent and a log of the
operator's own actions on the state (``events``: a rewind).

WAL journal with ``synchronous=FULL``: a committed transaction survives a power cut;
an interrupted one leaves no trace. Transactions are explicit (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS watermarks (
    dataset     TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    key         TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id       TEXT PRIMARY KEY,
    dataset        TEXT NOT NULL,
    payload        BLOB NOT NULL,
    headers        BLOB NOT NULL,
    record_count   INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'accepted', 'rejected')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_sent_at   TEXT,
    reason_code    TEXT,
    rejected_rows  TEXT,
    receipt_at     TEXT,
    watermark_before TEXT,
    watermark_after  TEXT,
    rewound_at     TEXT
);
CREATE INDEX IF NOT EXISTS ix_batches_state ON batches (state, last_sent_at);
CREATE TABLE IF NOT EXISTS batch_parts (
    part_id      TEXT NOT NULL,
    batch_id     TEXT NOT NULL REFERENCES batches (batch_id),
    part_index   INTEGER NOT NULL,
    outcome      TEXT CHECK (outcome IN ('accepted', 'rejected')),
    reason_code  TEXT,
    value_sha256 TEXT,
    unverified_code TEXT,
    unverified_at   TEXT,
    PRIMARY KEY (part_id, batch_id)
);
CREATE INDEX IF NOT EXISTS ix_batch_parts_batch ON batch_parts (batch_id);
CREATE TABLE IF NOT EXISTS offsets (
    topic       TEXT NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS refusals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset     TEXT NOT NULL,
    row_key     TEXT NOT NULL,
    field       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    message     TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agreement_notices (
    agreement_id       TEXT NOT NULL,
    superseded_version INTEGER NOT NULL,
    current_version    INTEGER NOT NULL,
    agency             TEXT NOT NULL,
    activated_at       TEXT NOT NULL,
    received_at        TEXT NOT NULL,
    PRIMARY KEY (agreement_id, superseded_version, current_version)
);
CREATE TABLE IF NOT EXISTS events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    details     TEXT NOT NULL,
    at          TEXT NOT NULL
);
"""

#: Columns added since the first release, with their type: a state database created
#: before them gets them when it is opened (``value_sha256`` is then filled lazily,
#: see :meth:`connectors.sdk.receipts.ReceiptApplier`).
_ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "batch_parts": (
        ("value_sha256", "TEXT"),
        ("unverified_code", "TEXT"),
        ("unverified_at", "TEXT"),
    ),
    # Where a batch's rows start and end in the source (see connectors.sdk.rewind);
    # NULL for batches stored before they were recorded.
    "batches": (
        ("watermark_before", "TEXT"),
        ("watermark_after", "TEXT"),
        ("rewound_at", "TEXT"),
    ),
}
_INDEXES = ("CREATE INDEX IF NOT EXISTS ix_batch_parts_value ON batch_parts (value_sha256)",)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add what :data:`_ADDED_COLUMNS` lists, in one transaction (two processes opening
    one old file at once must not both add a column)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, columns in _ADDED_COLUMNS.items():
            present = {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
        for statement in _INDEXES:
            conn.execute(statement)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class StateDB:
    """An open state database; share one between the outbox and the watermark store."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    @classmethod
    def open(cls, path: Path) -> StateDB:
        """Open (creating if needed) the state database file at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(SCHEMA)
        _migrate(conn)
        return cls(conn)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: committed at the end, rolled back on any exception.

        Nested use joins the outer transaction.
        """
        conn = self.connection
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def record_event(
        self, dataset: str, kind: str, details: dict[str, Any], *, at: datetime
    ) -> int:
        """Log an operator's action on the state (inside the caller's transaction); its id."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO events (dataset, kind, details, at) VALUES (?, ?, ?, ?)",
                (dataset, kind, json.dumps(details, sort_keys=True), at.isoformat()),
            )
            return int(cur.lastrowid or 0)

    def events(self, dataset: str, *, kind: str | None = None) -> list[dict[str, Any]]:
        """The logged actions on ``dataset``'s state, oldest first."""
        rows = self.connection.execute(
            "SELECT id, kind, details, at FROM events WHERE dataset = ? "
            "AND (? IS NULL OR kind = ?) ORDER BY id",
            (dataset, kind, kind),
        ).fetchall()
        return [
            {"id": int(r[0]), "kind": str(r[1]), "details": json.loads(str(r[2])), "at": str(r[3])}
            for r in rows
        ]

    def close(self) -> None:
        self.connection.close()
