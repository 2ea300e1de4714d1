"""Time in the hub database: always timezone-aware UTC in Python, on every backend.

SQLite has no timezone-aware timestamp type, so values are stored as naive UTC and
given back as aware UTC; PostgreSQL stores ``timestamptz``. Services take a ``clock``
so tests control time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive value is refused (it would be ambiguous)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value.isoformat()} (give a timezone)")
    return value.astimezone(UTC)


def iso(value: datetime) -> str:
    """The canonical text form of an instant: UTC with microseconds and 'Z'."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp column that always round-trips as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = as_utc(value)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
