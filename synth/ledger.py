"""Source records with their history, and the calendar of the simulated period.

Every record an agency keeps is a :class:`Row`: its values when first written, in the
month it was written, plus later changes (status moves, late corrections) each with
its own month and timestamp. Writers materialise a row *as of* the last generated
month, so making a nation for N months and extending it by one gives the same
records as making it for N+1 months.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np


@dataclass(frozen=True)
class Calendar:
    """Month indexes of the period (0 = the first month) and their dates."""

    first: date

    def month_start(self, m: int) -> date:
        y, mo = divmod(self.first.month - 1 + m, 12)
        return date(self.first.year + y, mo + 1, 1)

    def days_in(self, m: int) -> int:
        d = self.month_start(m)
        return calendar.monthrange(d.year, d.month)[1]

    def period(self, m: int) -> str:
        return self.month_start(m).strftime("%Y-%m")

    def day(self, rng: np.random.Generator, m: int) -> date:
        return self.month_start(m) + timedelta(days=int(rng.integers(0, self.days_in(m))))

    def moment(self, rng: np.random.Generator, m: int) -> datetime:
        start = datetime.combine(self.month_start(m), datetime.min.time())
        seconds = int(rng.integers(0, self.days_in(m) * 86_400))
        return start + timedelta(seconds=seconds)

    def mondays(self, m: int) -> int:
        d = self.month_start(m)
        return sum(
            1 for day in range(1, self.days_in(m) + 1) if date(d.year, d.month, day).weekday() == 0
        )


@dataclass
class Row:
    """One source record with its history."""

    key: str
    month: int
    at: datetime
    values: dict[str, object]
    changes: list[tuple[int, datetime, dict[str, object]]] = field(default_factory=list)
    person: int = -1
    employer: int = -1
    noise: tuple[str, ...] = ()

    def change(self, month: int, at: datetime, **updates: object) -> None:
        self.changes.append((month, at, updates))
        self.changes.sort(key=lambda c: (c[0], c[1]))

    def as_of(self, last: int) -> tuple[dict[str, object], datetime, int] | None:
        """(values, updated_at, month of the last change) at the end of month ``last``."""
        if self.month > last:
            return None
        values = dict(self.values)
        at, month = self.at, self.month
        for m, when, updates in self.changes:
            if m > last:
                break
            values.update(updates)
            at, month = when, m
        return values, at, month


@dataclass
class Ledger:
    """Every table of every agency, plus the true job spells."""

    tables: dict[tuple[str, str], list[Row]] = field(default_factory=dict)

    def add(self, agency: str, table: str, row: Row) -> Row:
        self.tables.setdefault((agency, table), []).append(row)
        return row

    def rows(self, agency: str, table: str) -> list[Row]:
        return self.tables.get((agency, table), [])

    def materialise(
        self, agency: str, table: str, last: int, *, only_month: int | None = None
    ) -> list[dict[str, object]]:
        """Rows as of ``last`` (each with ``updated_at``), optionally only those written
        or changed in ``only_month``; ordered by key."""
        out: list[dict[str, object]] = []
        for row in self.rows(agency, table):
            state = row.as_of(last)
            if state is None:
                continue
            values, at, month = state
            if only_month is not None and month != only_month:
                continue
            out.append(values | {"updated_at": at.isoformat(sep=" ")})
        return out
