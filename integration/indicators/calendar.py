"""The release calendar: the dates on which the package's figures for each reference
period are published, from the rule of each frequency (``release_calendar.yaml``).

The public site shows what comes next; the scheduler builds and publishes on these
dates.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

import yaml

from integration.indicators.definition import Definition
from integration.indicators.errors import DefinitionInvalid

CALENDAR_FILE = "release_calendar.yaml"
#: Months in a period of each frequency.
PERIOD_MONTHS = {"M": 1, "Q": 3, "A": 12}


@dataclass(frozen=True)
class Rule:
    frequency: str
    lag_months: int
    day: int


@dataclass(frozen=True)
class PlannedRelease:
    """The figures of ``period`` (a reference period such as 2026-11, 2026-Q3, 2026)
    for ``indicators``, published on ``on``."""

    on: date
    frequency: str
    period: str
    indicators: tuple[str, ...]


def load_rules(text: str | None = None) -> dict[str, Rule]:
    """The calendar's rules, from ``text`` or the packaged file; a bad rule is refused
    with the key that is wrong."""
    if text is None:
        text = resources.files("integration.indicators").joinpath(CALENDAR_FILE).read_text()
    data: Any = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("frequencies"), dict):
        raise DefinitionInvalid(f"{CALENDAR_FILE}: needs a 'frequencies' mapping")
    rules: dict[str, Rule] = {}
    for freq, rule in data["frequencies"].items():
        where = f"{CALENDAR_FILE}: frequencies.{freq}"
        if freq not in PERIOD_MONTHS:
            raise DefinitionInvalid(f"{where}: unknown frequency (one of M, Q, A)")
        if not isinstance(rule, dict):
            raise DefinitionInvalid(f"{where}: needs lag_months and day")
        lag, day = rule.get("lag_months"), rule.get("day")
        if not isinstance(lag, int) or not 0 <= lag <= 24:
            raise DefinitionInvalid(f"{where}.lag_months: a whole number from 0 to 24")
        if not isinstance(day, int) or not 1 <= day <= 31:
            raise DefinitionInvalid(f"{where}.day: a day of the month from 1 to 31")
        rules[freq] = Rule(freq, lag, day)
    return rules


def _month(year: int, month: int) -> tuple[int, int]:
    """(year, month) normalised from a month that may be out of 1..12."""
    y, m = divmod(year * 12 + month - 1, 12)
    return y, m + 1


def _period_label(frequency: str, year: int, first_month: int) -> str:
    if frequency == "M":
        return f"{year}-{first_month:02d}"
    if frequency == "Q":
        return f"{year}-Q{(first_month - 1) // 3 + 1}"
    return str(year)


def _publication(rule: Rule, year: int, first_month: int) -> date:
    y, m = _month(year, first_month + PERIOD_MONTHS[rule.frequency] - 1 + rule.lag_months)
    return date(y, m, min(rule.day, _calendar.monthrange(y, m)[1]))


def planned(
    definitions: Iterable[Definition],
    start: date,
    end: date,
    *,
    rules: dict[str, Rule] | None = None,
) -> list[PlannedRelease]:
    """Publications dated from ``start`` to ``end`` (both included), in date order; one
    per frequency and reference period, naming the computable indicators it carries."""
    rules = rules if rules is not None else load_rules()
    by_frequency: dict[str, list[str]] = {}
    for d in definitions:
        if d.computable and d.frequency in rules:
            by_frequency.setdefault(d.frequency, []).append(d.id)
    out: list[PlannedRelease] = []
    for freq, ids in by_frequency.items():
        rule, step = rules[freq], PERIOD_MONTHS[freq]
        # Reference periods whose publication can fall in the window.
        back = step + rule.lag_months + 1
        y, m = _month(start.year, start.month - back)
        m = m - (m - 1) % step  # the first month of a period
        while True:
            on = _publication(rule, y, m)
            if on > end:
                break
            if on >= start:
                out.append(PlannedRelease(on, freq, _period_label(freq, y, m), tuple(sorted(ids))))
            y, m = _month(y, m + step)
    return sorted(out, key=lambda p: (p.on, p.frequency))


def publication_due(definitions: Iterable[Definition], day: date) -> list[PlannedRelease]:
    """The publications the calendar dates ``day`` (what a scheduler publishes that day)."""
    return planned(definitions, day, day)
