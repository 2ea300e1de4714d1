"""The delivery calendar: periods tile time and the latest due period is really due."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from governance.agreements.calendar import latest_due_period, period_containing, previous

periodicities = st.sampled_from(["daily", "weekly", "monthly", "quarterly", "annual"])
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@given(days, periodicities)
def test_periods_contain_the_day_and_tile(day, periodicity) -> None:
    p = period_containing(day, periodicity)
    assert p.start <= day < p.end
    assert previous(p, periodicity).end == p.start
    assert period_containing(p.end, periodicity).start == p.end


@given(days, periodicities, st.integers(0, 120))
def test_latest_due_period_is_due_and_the_next_is_not(day, periodicity, lag) -> None:
    p = latest_due_period(day, periodicity, lag)
    assert p is not None and p.due(lag) <= day
    following = period_containing(p.end, periodicity)
    assert following.due(lag) > day


def test_examples():
    p = latest_due_period(date(2026, 5, 10), "monthly", 15)
    assert p is not None
    assert (p.start, p.end) == (date(2026, 3, 1), date(2026, 4, 1))
    p = latest_due_period(date(2026, 5, 20), "monthly", 15)
    assert p is not None
    assert p.start == date(2026, 4, 1)
    q = latest_due_period(date(2026, 5, 20), "quarterly", 30)
    assert q is not None
    assert (q.start, q.end) == (date(2026, 1, 1), date(2026, 4, 1))
    assert latest_due_period(date(2026, 5, 20), "ad_hoc", 0) is None
    assert period_containing(date(2026, 11, 22), "weekly").start == date(2026, 11, 16)
    assert (
        date(2026, 11, 16) - timedelta(days=0)
        == period_containing(date(2026, 11, 16), "weekly").start
    )
