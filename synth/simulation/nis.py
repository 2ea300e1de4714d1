"""The NIS: insured persons and employers registered, monthly contributions, employers
turning dormant and active again, and benefit claims."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np

from synth.history import Row

if TYPE_CHECKING:
    from synth.simulation.core import Month, Simulation
    from synth.simulation.results import Truth

#: Value columns of the NIS contributions (see :func:`synth.records.contributions`).
CONTRIBUTION_COLUMNS = ("nis_number", "employer", "period", "insurable_earnings", "weeks")
#: NIS benefits: kind -> (claim number prefix, share of earnings paid weekly, months
#: until an approved claim closes [low, high)).
_BENEFITS = {
    "unemployment": ("UB", 0.6, (3, 7)),
    "sickness": ("SB", 0.6, (1, 3)),
    "maternity": ("MB", 0.6, (3, 5)),
    "employment injury": ("EI", 0.75, (1, 5)),
}
_SICKNESS_RATE, _MATERNITY_RATE = 0.004, 0.002
#: A formal employer with no insured worker for this many months turns dormant.
_DORMANT_AFTER = 3


def _iso(days: int) -> str:
    """Days from 1970-01-01 as an ISO date."""
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


def register_nis(sim: Simulation, mo: Month, p: int, registered: date) -> None:
    number = sim.next_id("nis", "", 9)
    sim.nis_no[p] = number
    sim.nis_serial[p] = sim.counters["nis"]

    def build(copy: str) -> dict[str, object]:
        key = number if copy == "0" else sim.next_id("nis", "", 9)
        return {
            "key": key,
            "row_uid": sim.row_uid("insured_persons", key),
            "nis_number": key,
            "sex": int(sim.persons.sex[p]),
            "region": sim.config.regions[int(sim.persons.region[p])].code,
            "registered_on": registered.isoformat(),
        }

    sim.person_rows(mo, "nis", "insured_persons", p, build)


def register_employers(sim: Simulation, mo: Month) -> None:
    """Month 0: the NIS register of formal employers as it stood before the period."""
    for e in range(len(sim.employers)):
        if sim.employers.formal[e]:
            month, when = mo.at()
            values: dict[str, object] = {
                "key": str(sim.employers.nis_employer_no[e]),
                "employer_number": str(sim.employers.nis_employer_no[e]),
                "business_reg_no": str(sim.employers.business_reg_no[e]),
                "name": str(sim.employers.name[e]),
                "isic": sim.isic_codes[int(sim.employers.isic[e])],
                "region": sim.config.regions[int(sim.employers.region[e])].code,
                "registered_on": _iso(int(sim.employers.nis_registered_on[e])),
                "status": "active",
            }
            sim.employer_rows[e] = sim.history.add(
                "nis", "employers", Row(str(values["key"]), month, when, values, employer=e)
            )


def contributions(sim: Simulation, mo: Month, truth: Truth) -> None:
    """The month's NIS contributions, column-wise: one per insured job, 1 % of them
    corrected (earnings + 250) one or two months later."""
    m = mo.m
    insured = np.flatnonzero(sim.formal)
    truth.insured[m, insured] = True
    n = insured.size
    growth = 1 + 0.002 * m
    earnings = np.minimum(
        np.round(sim.persons.earnings[insured] * growth * mo.rng.normal(1, 0.03, n)), 25_000
    )
    late = np.flatnonzero(mo.rng.random(n) < 0.01)
    first = sim.counters.get("contribution", 0) + 1
    sim.counters["contribution"] = first + n - 1
    at = sim.cal.moments(mo.rng, np.full(n, m, dtype=np.int64))
    rows = sim.contribution_table.append(
        key=np.arange(first, first + n, dtype=np.int64),
        month=m,
        at=at,
        person=insured.astype(np.int32),
        values={
            "nis_number": sim.nis_serial[insured],
            "employer": sim.employer[insured].copy(),
            "period": np.full(n, m, dtype=np.int16),
            "insurable_earnings": earnings,
            "weeks": np.full(n, sim.cal.mondays(m), dtype=np.int16),
        },
    )
    later = m + mo.rng.integers(1, 3, size=late.size)
    sim.contribution_table.change(
        rows[late],
        month=later,
        at=sim.cal.moments(mo.rng, later),
        column="insurable_earnings",
        values=earnings[late] + 250.0,
    )


def employer_status(sim: Simulation, mo: Month) -> None:
    """An NIS employer with no insured worker for a few months is marked dormant, and
    active again when it contributes again."""
    insured = np.bincount(sim.employer[sim.formal], minlength=len(sim.employers))
    sim.idle = np.where(insured > 0, 0, sim.idle + 1).astype(np.int32)
    registered = sim.employers.formal
    asleep = registered & ~sim.dormant & (sim.idle >= _DORMANT_AFTER)
    awake = sim.dormant & (sim.idle == 0)
    for e in np.flatnonzero(asleep | awake).tolist():
        sim.dormant[e] = not sim.dormant[e]
        status = "dormant" if sim.dormant[e] else "active"
        sim.employer_rows[e].change(*mo.later(), status=status)


def benefit_claims(sim: Simulation, mo: Month, lost: list[int]) -> None:
    """Unemployment claims of those who lost an insured job, and sickness and
    maternity claims of insured workers (employment injury: see
    :func:`synth.simulation.dol.labour_cases`)."""
    for p in lost:
        if mo.rng.random() >= 0.35:
            continue
        claim(sim, mo, p, "unemployment", mo.rng)
    insured = np.flatnonzero(sim.formal)
    for p in insured[mo.extra.random(insured.size) < _SICKNESS_RATE].tolist():
        claim(sim, mo, p, "sickness", mo.extra)
    age = sim.persons.age_at(sim.cal.month_start(mo.m))[insured]
    mothers = (sim.persons.sex[insured] == 2) & (age >= 18) & (age <= 45)
    chance = np.where(mothers, _MATERNITY_RATE, 0.0)
    for p in insured[mo.extra.random(insured.size) < chance].tolist():
        claim(sim, mo, p, "maternity", mo.extra)


def claim(sim: Simulation, mo: Month, p: int, kind: str, rng: np.random.Generator) -> None:
    """One benefit claim: pending, decided the next month, closed months later."""
    prefix, share, (low, high) = _BENEFITS[kind]
    key = sim.next_id("claim", prefix, 7)
    month, when = mo.m, sim.cal.moment(rng, mo.m)
    values: dict[str, object] = {
        "key": key,
        "claim_no": key,
        "nis_number": sim.nis_no[p],
        "benefit_type": kind,
        "claim_date": when.date().isoformat(),
        "status": "pending",
        "decided_on": None,
        "weekly_amount": float(round(sim.persons.earnings[p] * share / 4.33, 2)),
    }
    row = sim.history.add("nis", "benefit_claims", Row(key, month, when, values, person=p))
    decided = "approved" if rng.random() < 0.8 else "rejected"
    dm, dat = mo.m + 1, sim.cal.moment(rng, mo.m + 1)
    row.change(dm, dat, status=decided, decided_on=dat.date().isoformat())
    if decided == "approved":
        cm = mo.m + int(rng.integers(low, high))
        row.change(cm, sim.cal.moment(rng, cm), status="closed")
