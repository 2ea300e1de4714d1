"""The TVET authority: trainees registered, enrolments in its programmes, and the
certificates (or withdrawals) they end in."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from synth.history import Row
from synth.population import EMPLOYED

if TYPE_CHECKING:
    from synth.simulation.core import Month, Simulation

#: TVET programmes: code, title, qualification, level, months, target ISCO unit group.
PROGRAMMES: tuple[tuple[str, str, str, int, int, str], ...] = (
    ("ELC2", "Electrical Installation", "CVQ", 2, 12, "7411"),
    ("PLM2", "Plumbing", "CVQ", 2, 10, "7126"),
    ("WLD2", "Welding and Fabrication", "NVQ", 2, 9, "7212"),
    ("CUL2", "Food Preparation", "CVQ", 2, 8, "5120"),
    ("HSP1", "Hospitality Services", "CVQ", 1, 6, "5131"),
    ("ICT3", "IT Support", "NVQ", 3, 12, "3512"),
    ("AUT2", "Motor Vehicle Repair", "CVQ", 2, 12, "7231"),
    ("CRP1", "Carpentry", "CVQ", 1, 6, "7115"),
    ("ADM2", "Office Administration", "CVQ", 2, 8, "4110"),
    ("CAR3", "Early Childhood Care", "CVQ", 3, 12, "5311"),
    ("BEA2", "Cosmetology", "CVQ", 2, 10, "5142"),
    ("AGR1", "Crop Production", "CVQ", 1, 6, "6111"),
)


def _add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day where it is shorter)."""
    y, m = divmod(day.month - 1 + months, 12)
    first = date(day.year + y, m + 1, 1)
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return first.replace(day=min(day.day, last.day))


def training(sim: Simulation, mo: Month, age: npt.NDArray[np.int64]) -> None:
    """The month's new trainees and enrolments, with how each enrolment ends."""
    m, rng = mo.m, mo.rng
    rate = np.where(sim.status == EMPLOYED, 0.001, 0.004)
    eligible = (age >= 16) & (age <= 45) & (sim.tvet_until < m) & (rng.random(age.size) < rate)
    for p in np.flatnonzero(eligible).tolist():
        if not sim.trainee[p]:
            tid = sim.next_id("trainee", "T", 7)
            sim.trainee[p] = tid

            def build(copy: str, tid: str = tid, p: int = p) -> dict[str, object]:
                key = tid if copy == "0" else sim.next_id("trainee", "T", 7)
                region = sim.config.regions[int(sim.persons.region[p])].code
                return {
                    "key": key,
                    "trainee_id": key,
                    "sex": int(sim.persons.sex[p]),
                    "region": region,
                    "education": int(sim.persons.isced[p]),
                }

            sim.person_rows(mo, "tvet", "trainees", p, build, dated="registered_on")
        code, title, qual, level, months, _ = PROGRAMMES[int(rng.integers(0, len(PROGRAMMES)))]
        key = sim.next_id("enrolment", "EN", 7)
        start = sim.cal.day(rng, m)
        month, when = mo.at()
        values: dict[str, object] = {
            "key": key,
            "enrolment_no": key,
            "trainee_id": sim.trainee[p],
            "programme_code": code,
            "programme": title,
            "qualification": qual,
            "level": level,
            "start_date": start.isoformat(),
            "expected_end_date": _add_months(start, months).isoformat(),
            "status": "enrolled",
        }
        row = sim.history.add("tvet", "enrolments", Row(key, month, when, values, person=p))
        sim.tvet_until[p] = m + months
        if rng.random() < 0.78:
            end = m + months
            row.change(*mo.at(months), status="completed")
            cert = sim.next_id("cert", f"{qual}-", 7)
            cm, cat = mo.at(months)
            awarded = sim.cal.day(rng, end)
            cvals: dict[str, object] = {
                "key": cert,
                "certificate_no": cert,
                "trainee_id": sim.trainee[p],
                "enrolment_no": key,
                "qualification": qual,
                "level": level,
                "programme_code": code,
                "awarded_on": awarded.isoformat(),
            }
            sim.history.add("tvet", "certifications", Row(cert, cm, cat, cvals, person=p))
            sim.certified[p] = end
        else:
            row.change(*mo.at(int(rng.integers(1, months))), status="withdrawn")
