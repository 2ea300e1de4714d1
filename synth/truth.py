"""Ground truth: which record is whom, and the true headline indicators.

Kept in ``<nation>/truth``, apart from ``<nation>/sources`` which is all a pipeline reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synth.agencies.files import write_csv
from synth.population import EMPLOYED, POTENTIAL, UNEMPLOYED
from synth.simulation import Nation


def indicators(nation: Nation) -> dict[str, object]:
    """True values of the headline indicators over the generated months."""
    status = nation.truth.status
    quarters: dict[str, dict[str, float]] = {}
    for q in range(nation.months // 3):
        block = status[3 * q : 3 * q + 3]
        e = (block == EMPLOYED).sum(axis=1)
        u = (block == UNEMPLOYED).sum(axis=1)
        p = (block == POTENTIAL).sum(axis=1)
        start = nation.calendar.month_start(3 * q)
        label = f"{start.year}Q{(start.month - 1) // 3 + 1}"
        quarters[label] = {
            "unemployment_rate": round(float(np.mean(u / (e + u))), 6),
            "employment_to_population": round(float(np.mean(e / block.shape[1])), 6),
            "combined_unemployment_and_potential_lf": round(
                float(np.mean((u + p) / (e + u + p))), 6
            ),
        }
    graduates, insured = 0, 0
    last = nation.months - 1
    for row in nation.ledger.rows("tvet", "certifications"):
        c = row.month
        if c + 6 > last:
            continue
        graduates += 1
        insured += bool(nation.truth.insured[c + 1 : c + 7, row.person].any())
    return {
        "months": nation.months,
        "quarters": quarters,
        "tvet_graduates_insured_within_6_months": {
            "graduates": graduates,
            "insured": insured,
            "rate": round(insured / graduates, 6) if graduates else None,
            "definition": "certifications awarded in month c with c+6 generated; insured = an "
            "NIS contribution in any of months c+1..c+6",
        },
    }


def write_truth(nation: Nation, folder: Path) -> None:
    """Links of every source record to its true person or employer, and the indicators."""
    last = nation.months - 1
    links, employer_links = [], []
    for (agency, table), rows in nation.ledger.tables.items():
        for row in rows:
            if row.month > last:
                continue
            if row.person >= 0:
                links.append(
                    {
                        "agency": agency,
                        "table": table,
                        "record_id": row.key,
                        "person_id": row.person,
                        "noise": ";".join(row.noise),
                    }
                )
            if row.employer >= 0:
                employer_links.append(
                    {
                        "agency": agency,
                        "table": table,
                        "record_id": row.key,
                        "employer_id": row.employer,
                    }
                )
    write_csv(
        folder / "person_links.csv", links, ["agency", "table", "record_id", "person_id", "noise"]
    )
    write_csv(
        folder / "employer_links.csv",
        employer_links,
        ["agency", "table", "record_id", "employer_id"],
    )
    p = nation.persons
    persons = [
        {
            "person_id": i,
            "national_id": str(p.national_id[i]),
            "given_name": p.given_name[i],
            "family_name": p.family_name[i],
            "date_of_birth": str(p.dob[i]),
            "sex": int(p.sex[i]),
            "region": nation.config.regions[int(p.region[i])].code,
            "household": int(p.household[i]),
            "isced": int(p.isced[i]),
        }
        for i in range(len(p))
    ]
    write_csv(folder / "persons.csv", persons, list(persons[0]))
    e = nation.employers
    employers = [
        {
            "employer_id": i,
            "business_reg_no": str(e.business_reg_no[i]),
            "nis_employer_no": str(e.nis_employer_no[i]),
            "name": e.name[i],
            "formal": bool(e.formal[i]),
        }
        for i in range(len(e))
    ]
    write_csv(folder / "employers.csv", employers, list(employers[0]))
    states = (s.as_of(last) for s in nation.truth.spells)
    spells = [state[0] for state in states if state is not None]
    write_csv(
        folder / "job_spells.csv",
        spells,
        ["key", "person_id", "employer_id", "start_date", "end_date", "formal", "isco"],
    )
    (folder / "indicators.json").write_text(
        json.dumps(indicators(nation), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
