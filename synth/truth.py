"""Ground truth: which record is whom, and the true headline indicators.

Kept in ``<nation>/truth``, apart from ``<nation>/sources`` which is all a pipeline reads.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synth import records, reference
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
    for row in nation.history.rows("tvet", "certifications"):
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


def _links(nation: Nation) -> Iterator[tuple[str, str, str, int, str, int]]:
    """(agency, table, record id, person, noise, employer) of every record written."""
    last = nation.months - 1
    for (agency, table), rows in nation.history.tables.items():
        for row in rows:
            if row.month <= last:
                yield agency, table, row.key, row.person, ";".join(row.noise), row.employer
    for (agency, table), columnar in nation.history.columnar.items():
        for snap in columnar.as_of(last):
            keys = records.contributions_keys(snap.key)
            for key, p, e in zip(keys, snap.person.tolist(), snap.employer.tolist(), strict=True):
                yield agency, table, key, p, "", e


def write_truth(nation: Nation, folder: Path) -> dict[str, int]:
    """Links of every source record to its true person or employer, and the indicators;
    returns the rows written per ``truth.<file>``."""
    last = nation.months - 1
    folder.mkdir(parents=True, exist_ok=True)
    with (
        (folder / "person_links.csv").open("w", newline="", encoding="utf-8") as pf,
        (folder / "employer_links.csv").open("w", newline="", encoding="utf-8") as ef,
    ):
        persons_out, employers_out = (
            csv.writer(pf, lineterminator="\n"),
            csv.writer(ef, lineterminator="\n"),
        )
        persons_out.writerow(["agency", "table", "record_id", "person_id", "noise"])
        employers_out.writerow(["agency", "table", "record_id", "employer_id"])
        linked = [0, 0]
        for agency, table, key, person, noise, employer in _links(nation):
            if person >= 0:
                persons_out.writerow((agency, table, key, person, noise))
                linked[0] += 1
            if employer >= 0:
                employers_out.writerow((agency, table, key, employer))
                linked[1] += 1
    p = nation.persons
    regions = [r.code for r in nation.config.regions]
    _write_columns(
        folder / "persons.csv",
        {
            "person_id": range(len(p)),
            "national_id": p.national_id.tolist(),
            "given_name": p.given_name.tolist(),
            "family_name": p.family_name.tolist(),
            "date_of_birth": p.dob.astype(str).tolist(),
            "sex": p.sex.tolist(),
            "region": [regions[r] for r in p.region.tolist()],
            "household": p.household.tolist(),
            "isced": p.isced.tolist(),
        },
    )
    e = nation.employers
    _write_columns(
        folder / "employers.csv",
        {
            "employer_id": range(len(e)),
            "business_reg_no": e.business_reg_no.tolist(),
            "nis_employer_no": e.nis_employer_no.tolist(),
            "name": e.name.tolist(),
            "formal": e.formal.tolist(),
        },
    )
    spells = 0
    isco = np.array([code for code, _ in reference.isco_unit_groups()])
    with (folder / "job_spells.csv").open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(
            ("key", "person_id", "employer_id", "start_date", "end_date", "formal", "isco")
        )
        for snap in nation.truth.spells.as_of(last):
            v = snap.values
            end = v["end_date"]
            out.writerows(
                zip(
                    [f"S{k:08d}" for k in snap.key.tolist()],
                    v["person_id"].tolist(),
                    v["employer_id"].tolist(),
                    _dates(v["start_date"]),
                    [d if e >= 0 else "" for d, e in zip(_dates(end), end.tolist(), strict=True)],
                    v["formal"].tolist(),
                    isco[v["isco"]].tolist(),
                    strict=True,
                )
            )
            spells += len(snap)
    (folder / "indicators.json").write_text(
        json.dumps(indicators(nation), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return {
        "truth.person_links": linked[0],
        "truth.employer_links": linked[1],
        "truth.persons": len(p),
        "truth.employers": len(e),
        "truth.job_spells": spells,
    }


def _dates(days: npt.NDArray[np.generic]) -> list[str]:
    """Days from 1970-01-01 as ISO dates."""
    out: list[str] = np.datetime_as_string(days.astype("datetime64[D]")).tolist()
    return out


def _write_columns(path: Path, columns: dict[str, Iterable[object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(list(columns))
        out.writerows(zip(*columns.values(), strict=True))
