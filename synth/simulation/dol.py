"""The Department of Labour: complaints, occupational accidents, trade disputes and
workplace inspections, each a case moving through its steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from synth.employers import SIZE_EDGES
from synth.history import Row
from synth.population import EMPLOYED
from synth.simulation import nis

if TYPE_CHECKING:
    from synth.simulation.core import Month, Simulation

_COMPLAINTS = ("unpaid wages", "wrongful dismissal", "vacation leave", "severance", "overtime")
_DISPUTES = ("wages and conditions", "dismissal of a member", "recognition", "retrenchment")
_UNIONS = ("OWTU", "BIGWU", "NUGFW", "CWU", "SWWTU", "ATGWTU")
_SEVERITY = ("minor", "lost-time", "serious", "fatal")
#: Work days lost by severity: [low, high) of a uniform draw (none for a fatal accident).
_DAYS_LOST = {"minor": (0, 4), "lost-time": (4, 31), "serious": (30, 181)}
#: Trade disputes per employer and month by current size band (see SIZE_BANDS):
#: unions organise the larger workplaces, so the few large employers carry most.
DISPUTE_RATE = np.array([0.0005, 0.003, 0.012, 0.04])
#: ISIC sections whose workplaces have four times the accidents of the others.
_HAZARDOUS = frozenset("ABCF")
#: Share of lost-time and serious accidents of insured workers claimed from the NIS.
_INJURY_CLAIMED = 0.85


def labour_cases(sim: Simulation, mo: Month) -> None:
    """The month's complaints, accidents (and the injury claims they bring), trade
    disputes and inspections."""
    rng, x = mo.rng, mo.extra
    employed = np.flatnonzero(sim.status == EMPLOYED)
    sections = np.array([sim.sections[int(i)] for i in sim.employers.isic])
    for p in employed[rng.random(employed.size) < 0.0008].tolist():
        e = int(sim.employer[p])
        case(
            sim,
            mo,
            "complaints",
            "CP",
            p,
            e,
            category=str(rng.choice(_COMPLAINTS)),
            steps=(
                "received",
                "under investigation",
                str(rng.choice(["resolved", "referred to tribunal"])),
            ),
        )
    hazardous = np.isin(sections[sim.employer[employed]], list(_HAZARDOUS))
    risk = np.where(hazardous, 0.0012, 0.0003)
    for p in employed[rng.random(employed.size) < risk].tolist():
        e = int(sim.employer[p])
        severity = str(rng.choice(_SEVERITY, p=[0.6, 0.3, 0.09, 0.01]))
        low_high = _DAYS_LOST.get(severity)
        case(
            sim,
            mo,
            "osh_accidents",
            "OSH",
            p,
            e,
            severity=severity,
            days_lost=int(x.integers(*low_high)) if low_high else None,
            sex=int(sim.persons.sex[p]),
            isco=sim.isco_codes[int(sim.persons.isco[p])],
            steps=("reported", "investigated", "closed"),
        )
        if severity in ("serious", "fatal"):  # the inspectorate visits the workplace
            inspection(sim, mo, e, "accident")
        injured = severity in ("lost-time", "serious") and sim.formal[p]
        if injured and x.random() < _INJURY_CLAIMED:
            nis.claim(sim, mo, p, "employment injury", x)
    band = np.searchsorted(SIZE_EDGES, sim.headcount, side="right")
    for e in np.flatnonzero(rng.random(band.size) < DISPUTE_RATE[band]).tolist():
        size = int(sim.headcount[e])
        case(
            sim,
            mo,
            "disputes",
            "TD",
            -1,
            e,
            union=str(rng.choice(_UNIONS)),
            issue=str(rng.choice(_DISPUTES)),
            workers_involved=max(1, int(x.binomial(size, x.uniform(0.2, 1.0)))),
            steps=(
                "reported",
                "conciliation",
                str(rng.choice(["settled", "referred to Industrial Court"])),
            ),
        )
    for e in np.flatnonzero(rng.random(band.size) < 0.01).tolist():
        inspection(sim, mo, e, str(rng.choice(["routine", "complaint-led", "OSH"])))


def inspection(sim: Simulation, mo: Month, e: int, kind: str) -> None:
    """A visit of the labour inspectorate to employer ``e``."""
    rng = mo.rng
    case(
        sim,
        mo,
        "inspections",
        "IN",
        -1,
        e,
        kind=kind,
        workers_covered=int(sim.headcount[e]),
        steps=("scheduled", "inspected", str(rng.choice(["compliant", "notice issued"]))),
    )


def case(
    sim: Simulation,
    mo: Month,
    table: str,
    prefix: str,
    p: int,
    e: int,
    *,
    steps: tuple[str, ...],
    **fields: object,
) -> None:
    key = sim.next_id(table, prefix, 6)
    month, when = mo.at()
    values: dict[str, object] = {
        "key": key,
        "case_no": key,
        "employer_brn": str(sim.employers.business_reg_no[e]),
        "employer_name": str(sim.employers.name[e]),
        "workplace_region": sim.config.regions[int(sim.employers.region[e])].code,
        "isic": sim.isic_codes[int(sim.employers.isic[e])],
        "opened_on": when.date().isoformat(),
        "status": steps[0],
        **fields,
    }
    if p >= 0:
        ident = sim.identity(mo, "dol", p)
        values |= ident.as_values()
    row = sim.history.add("dol", table, Row(key, month, when, values, person=p, employer=e))
    offset = 0
    for step in steps[1:]:
        offset += int(mo.rng.integers(1, 3))
        row.change(*mo.at(offset), status=step)
