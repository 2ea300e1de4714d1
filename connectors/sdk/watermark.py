"""Watermarks: how far a dataset has been read, kept in the state database.

A watermark is the pair (value, key) of the last row delivered into the outbox: the
value of the watermark column (e.g. ``updated_at``) and the row's key, so rows that
share a timestamp are ordered by key and neither skipped nor repeated. The store only
moves a watermark inside the transaction that stores the batch carrying the rows
(:meth:`WatermarkStore.advance` joins the caller's transaction), so a crash re-reads
rather than loses.

Values are kept as tagged JSON so a datetime comes back as a datetime and binds to a
SQL comparison with its own type.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, NamedTuple

from connectors.sdk.state import StateDB

Scalar = str | int | float | datetime | date


class Watermark(NamedTuple):
    """Position after which a source is read: (watermark value, row key)."""

    value: Any
    key: Any


def encode_scalar(value: Any) -> str:
    """Tagged JSON of a watermark component."""
    if isinstance(value, datetime):
        return json.dumps({"datetime": value.isoformat()})
    if isinstance(value, date):
        return json.dumps({"date": value.isoformat()})
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"watermark component of type {type(value).__name__} is not supported")
    return json.dumps({"v": value})


def decode_scalar(text: str) -> Any:
    """Inverse of :func:`encode_scalar`."""
    doc = json.loads(text)
    if "datetime" in doc:
        return datetime.fromisoformat(doc["datetime"])
    if "date" in doc:
        return date.fromisoformat(doc["date"])
    return doc["v"]


def encode_watermark(mark: Watermark | None) -> str:
    """JSON text of a watermark (``null`` before the first row: the start of the source),
    as the outbox keeps where each batch starts and ends."""
    if mark is None:
        return "null"
    return json.dumps({"value": encode_scalar(mark.value), "key": encode_scalar(mark.key)})


def decode_watermark(text: str) -> Watermark | None:
    """Inverse of :func:`encode_watermark`."""
    doc = json.loads(text)
    if doc is None:
        return None
    return Watermark(decode_scalar(doc["value"]), decode_scalar(doc["key"]))


class WatermarkStore:
    """Read and advance per-dataset watermarks in the connector's state database."""

    def __init__(self, state: StateDB) -> None:
        self._state = state

    def get(self, dataset: str) -> Watermark | None:
        """The stored watermark of ``dataset``, or None before the first batch."""
        row = self._state.connection.execute(
            "SELECT value, key FROM watermarks WHERE dataset = ?", (dataset,)
        ).fetchone()
        if row is None:
            return None
        return Watermark(decode_scalar(row[0]), decode_scalar(row[1]))

    def advance(self, dataset: str, mark: Watermark, *, at: datetime) -> None:
        """Move the watermark of ``dataset`` to ``mark`` (inside the caller's transaction)."""
        with self._state.transaction() as conn:
            conn.execute(
                "INSERT INTO watermarks (dataset, value, key, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (dataset) DO UPDATE SET value = excluded.value, "
                "key = excluded.key, updated_at = excluded.updated_at",
                (dataset, encode_scalar(mark.value), encode_scalar(mark.key), at.isoformat()),
            )

    def set(self, dataset: str, mark: Watermark | None, *, at: datetime) -> None:
        """Put the watermark of ``dataset`` at ``mark``, back or forth (None: the start)."""
        if mark is None:
            self.reset(dataset)
        else:
            self.advance(dataset, mark, at=at)

    def reset(self, dataset: str) -> None:
        """Forget the watermark: the next run reads the whole source again."""
        with self._state.transaction() as conn:
            conn.execute("DELETE FROM watermarks WHERE dataset = ?", (dataset,))
