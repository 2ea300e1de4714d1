"""The expected delivery calendar: periods per periodicity and their due dates.

Periods are calendar-aligned (ISO weeks start on Monday; quarters start in January,
April, July and October). A period's delivery is due ``delivery_lag_days`` after it
closes; a delivery recorded on or after the period's end counts for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from governance.agreements.document import Periodicity


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # exclusive

    def due(self, lag_days: int) -> date:
        return self.end + timedelta(days=lag_days)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + (d.month - 1) + months
    return date(index // 12, index % 12 + 1, 1)


def period_containing(day: date, periodicity: Periodicity) -> Period:
    if periodicity == "daily":
        return Period(day, day + timedelta(days=1))
    if periodicity == "weekly":
        start = day - timedelta(days=day.weekday())
        return Period(start, start + timedelta(days=7))
    if periodicity == "monthly":
        start = day.replace(day=1)
        return Period(start, _add_months(start, 1))
    if periodicity == "quarterly":
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return Period(start, _add_months(start, 3))
    if periodicity == "annual":
        return Period(date(day.year, 1, 1), date(day.year + 1, 1, 1))
    raise ValueError(f"no calendar for periodicity {periodicity!r}")


def previous(period: Period, periodicity: Periodicity) -> Period:
    return period_containing(period.start - timedelta(days=1), periodicity)


def latest_due_period(today: date, periodicity: Periodicity, lag_days: int) -> Period | None:
    """The most recent period whose delivery was due on or before ``today``."""
    if periodicity == "ad_hoc":
        return None
    period = previous(period_containing(today, periodicity), periodicity)
    while period.due(lag_days) > today:
        period = previous(period, periodicity)
    return period
