"""The job board: jobseekers registered, vacancies employers post, and the placements
the board makes."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from synth import reference
from synth.history import Row
from synth.population import EMPLOYED, MEDIAN_EARNINGS, POTENTIAL, UNEMPLOYED

if TYPE_CHECKING:
    from synth.simulation.core import Month, Simulation

_CONTRACTS = ("permanent", "fixed-term", "casual", "apprenticeship")
_CONTRACT_CUM = np.cumsum([0.55, 0.3, 0.1])  # the rest apprenticeships
#: Minimum education (ISCED level) employers ask for, by ISCO major group (index).
_MIN_EDUCATION = ("3", "6", "6", "5", "3", "2", "2", "3", "3", "1")


def job_search(sim: Simulation, mo: Month, joining: npt.NDArray[np.intp]) -> None:
    """The month's new jobseekers, vacancies, and placements of those ``joining``."""
    rng = mo.rng
    looking = (sim.status == UNEMPLOYED) | (sim.status == POTENTIAL)
    rate = np.where(looking, 0.06, np.where(sim.status == EMPLOYED, 0.002, 0.0005))
    new = np.flatnonzero(rng.random(rate.size) < rate)
    titles = reference.job_titles()
    for p in new.tolist():
        if sim.jobseeker[p]:
            continue
        jid = sim.next_id("jobseeker", "J", 7)
        sim.jobseeker[p] = jid
        sim.registered[p] = True
        isco = sim.isco_codes[int(sim.persons.isco[p])]
        wanted = titles.get(isco, ("any work",))

        def build(
            copy: str, jid: str = jid, p: int = p, wanted: tuple[str, ...] = wanted
        ) -> dict[str, object]:
            key = jid if copy == "0" else sim.next_id("jobseeker", "J", 7)
            region = sim.config.regions[int(sim.persons.region[p])].code
            return {
                "key": key,
                "row_uid": sim.row_uid("jobseekers", key),
                "jobseeker_id": key,
                "sex": int(sim.persons.sex[p]),
                "region": region,
                "education": str(sim.persons.isced[p]),
                "desired_job": wanted[int(rng.integers(0, len(wanted)))],
            }

        sim.person_rows(mo, "jobboard", "jobseekers", p, build, dated="registered_on")
    # Vacancies employers post, and the placements the board makes.
    for _ in range(int(rng.poisson(sim.status.size * 0.003))):
        e = int(rng.choice(len(sim.employers), p=sim.hire_p))
        isco = sim.isco_codes[int(sim.persons.isco[int(rng.integers(0, sim.status.size))])]
        row = vacancy(sim, mo, e, isco)
        row.change(*mo.at(int(rng.integers(1, 4))), status=str(rng.choice(["filled", "closed"])))
    for p in joining.tolist():
        if not sim.jobseeker[p] or rng.random() >= 0.3:
            continue
        e = int(sim.employer[p])
        filled = vacancy(sim, mo, e, sim.isco_codes[int(sim.persons.isco[p])])
        filled.change(*mo.at(), status="filled")
        key = sim.next_id("placement", "P", 7)
        month, when = mo.at()
        values: dict[str, object] = {
            "key": key,
            "placement_id": key,
            "jobseeker_id": sim.jobseeker[p],
            "vacancy_id": filled.key,
            "employer_name": str(sim.employers.name[e]),
            "start_date": when.date().isoformat(),
            "monthly_wage": f"{sim.persons.earnings[p] * (1 + 0.002 * mo.m):.0f}",
        }
        sim.history.add(
            "jobboard", "placements", Row(key, month, when, values, person=p, employer=e)
        )


def vacancy(sim: Simulation, mo: Month, e: int, isco: str) -> Row:
    """An open vacancy of employer ``e`` for ISCO unit group ``isco``."""
    titles = reference.job_titles().get(isco, ("worker",))
    key = sim.next_id("vacancy", "V", 7)
    month, when = mo.at()
    x = mo.extra
    major = int(isco[0])
    big = int(sim.employers.size_band[e]) >= 2
    u = x.random(4).tolist()  # one draw for the details below, cheaper than four
    median = MEDIAN_EARNINGS[major] * (1 + 0.002 * mo.m) * np.exp(0.15 * x.standard_normal())
    wages = u[0] < 0.45  # fewer than half of the adverts state the pay
    values: dict[str, object] = {
        "key": key,
        "vacancy_id": key,
        "employer_name": str(sim.employers.name[e]),
        "title": titles[int(mo.rng.integers(0, len(titles)))],
        "isco_code": isco if mo.rng.random() < 0.35 else None,
        "isic": sim.isic_codes[int(sim.employers.isic[e])],
        "region": sim.config.regions[int(sim.employers.region[e])].code,
        "positions": str(1 + (int(x.poisson(1.5)) if big else int(u[1] < 0.1))),
        "contract_type": _CONTRACTS[int(np.searchsorted(_CONTRACT_CUM, u[2], side="right"))],
        "min_education": _MIN_EDUCATION[major] if u[3] < 0.7 else None,
        "wage_min": f"{median * 0.85:.0f}" if wages else None,
        "wage_max": f"{median * 1.2:.0f}" if wages else None,
        "posted_on": when.date().isoformat(),
        "closing_on": (when.date() + timedelta(days=int(x.integers(14, 43)))).isoformat(),
        "status": "open",
    }
    return sim.history.add("jobboard", "vacancies", Row(key, month, when, values, employer=e))
