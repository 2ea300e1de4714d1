"""The release calendar: each period's figures are published once, after the period has
ended, on the day its frequency's rule gives; a malformed rule names its key."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration.indicators.calendar import load_rules, planned, publication_due
from integration.indicators.definition import load_definitions
from integration.indicators.errors import DefinitionInvalid
from schemas.catalog import SchemaCatalog

DEFINITIONS = [d for d in load_definitions(schemas=SchemaCatalog.load()) if d.computable]


def test_the_rules_of_the_package() -> None:
    year = planned(DEFINITIONS, date(2026, 1, 1), date(2026, 12, 31))
    by = {(p.frequency, p.period): p.on for p in year}
    assert by[("M", "2026-10")] == date(2026, 11, 15)
    assert by[("Q", "2026-Q3")] == date(2026, 11, 15)
    assert by[("A", "2025")] == date(2026, 4, 30)
    assert by[("M", "2026-01")] == date(2026, 2, 15)
    monthly = {d.id for d in DEFINITIONS if d.frequency == "M"}
    assert set(next(p for p in year if p.frequency == "M").indicators) == monthly
    assert sum(p.frequency == "M" for p in year) == 12


@given(st.dates(date(2000, 1, 1), date(2090, 1, 1)), st.integers(0, 800))
def test_a_period_is_published_once_after_it_ends(start: date, days: int) -> None:
    end = start + timedelta(days=days)
    found = planned(DEFINITIONS, start, end)
    assert all(start <= p.on <= end for p in found)
    assert len({(p.frequency, p.period) for p in found}) == len(found)
    for p in found:
        year = int(p.period[:4])
        last_month = {"M": int(p.period[5:7]) if p.frequency == "M" else 0}.get(p.frequency)
        if p.frequency == "Q":
            last_month = int(p.period[-1]) * 3
        if p.frequency == "A":
            last_month = 12
        assert (p.on.year, p.on.month) > (year, last_month)
    assert [p.on for p in found] == sorted(p.on for p in found)


@given(st.dates(date(2020, 1, 1), date(2040, 1, 1)))
def test_what_is_due_on_a_day_is_what_the_calendar_dates_that_day(day: date) -> None:
    due = publication_due(DEFINITIONS, day)
    month = planned(DEFINITIONS, day.replace(day=1), day.replace(day=28) + timedelta(days=4))
    assert due == [p for p in month if p.on == day]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("frequencies: {W: {lag_months: 1, day: 1}}", "frequencies.W"),
        ("frequencies: {M: {lag_months: -1, day: 1}}", "frequencies.M.lag_months"),
        ("frequencies: {M: {lag_months: 1, day: 32}}", "frequencies.M.day"),
        ("frequencies: {M: 3}", "frequencies.M"),
        ("nothing: here", "frequencies"),
    ],
)
def test_a_malformed_rule_names_its_key(text: str, where: str) -> None:
    with pytest.raises(DefinitionInvalid, match=where):
        load_rules(text)
