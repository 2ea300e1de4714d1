"""Agencies that hand over CSV files: the NSO (LFS microdata, business register) and
the TVET authority (monthly exports of what was written or changed that month)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from synth import reference
from synth.employers import SIZE_BANDS
from synth.simulation import Nation

TVET_TABLES = ("trainees", "enrolments", "certifications")
LFS_COLUMNS = (
    "year",
    "quarter",
    "household_no",
    "line_no",
    "weight",
    "region",
    "sex",
    "age",
    "isced",
    "lf_status",
    "isco",
    "isic",
    "monthly_earnings",
)


def write_csv(path: Path, rows: Sequence[dict[str, object]], columns: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for row in rows:
            w.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})


def tvet_month(
    nation: Nation, folder: Path, m: int, columns: dict[str, list[str]]
) -> dict[str, int]:
    """The TVET authority's export for month ``m``: rows written or changed in it, with
    the ``columns`` of :func:`tvet_columns`."""
    out = {}
    for table in TVET_TABLES:
        rows = nation.ledger.materialise("tvet", table, m, only_month=m)
        path = folder / "exports" / nation.calendar.period(m) / f"{table}.csv"
        write_csv(path, rows, columns[table])
        out[table] = len(rows)
    return out


def tvet_columns(nation: Nation) -> dict[str, list[str]]:
    """Each TVET export's columns: every field its rows carry over the period, in the
    order first seen, then ``updated_at``."""
    last = nation.months - 1
    out: dict[str, list[str]] = {}
    for table in TVET_TABLES:
        seen: dict[str, None] = {}
        for row in nation.ledger.rows("tvet", table):
            if row.month <= last:
                seen |= dict.fromkeys(c for c in row.values if c != "key")
        out[table] = [*seen, "updated_at"]
    return out


def business_register(nation: Nation, folder: Path) -> int:
    emp = nation.employers
    classes = reference.isic_classes()
    rows: list[dict[str, object]] = [
        {
            "business_reg_no": str(emp.business_reg_no[e]),
            "name": str(emp.name[e]),
            "isic": classes[int(emp.isic[e])][1],
            "size_band": SIZE_BANDS[int(emp.size_band[e])],
            "region": nation.config.regions[int(emp.region[e])].code,
            "status": "active",
        }
        for e in range(len(emp))
    ]
    write_csv(folder / "business_register.csv", rows, list(rows[0]))
    return len(rows)


def lfs_quarter(nation: Nation, folder: Path, q: int) -> int:
    """LFS microdata of quarter ``q`` (0-based from the start; reference: its middle month)."""
    cfg, persons = nation.config, nation.persons
    m = 3 * q + 1
    rng = np.random.default_rng([cfg.seed, 3, q])
    households = np.unique(persons.household)
    sampled = households[rng.random(households.size) < cfg.lfs_household_sample]
    in_sample = np.isin(persons.household, sampled)
    # Weight: households in the region / households sampled in the region.
    hh_region = np.zeros(households.size, dtype=np.int16)
    hh_region[np.searchsorted(households, persons.household)] = persons.region
    total = np.bincount(hh_region, minlength=len(cfg.regions))
    got = np.bincount(hh_region[np.isin(households, sampled)], minlength=len(cfg.regions))
    weight = total / np.maximum(got, 1)
    status = nation.truth.status[m]
    start = nation.calendar.month_start(m)
    year, quarter = start.year, (start.month - 1) // 3 + 1
    isco = reference.isco_unit_groups()
    isic = reference.isic_classes()
    employer_at = nation.truth.employer_at[m]
    rows: list[dict[str, object]] = []
    idx = np.flatnonzero(in_sample)
    idx = idx[np.lexsort((idx, persons.household[idx]))]
    hh_no: dict[int, int] = {}
    line: dict[int, int] = {}
    for p in idx.tolist():
        h = int(persons.household[p])
        hh_no.setdefault(h, len(hh_no) + 1)
        line[h] = line.get(h, 0) + 1
        employed = status[p] == 0
        e = int(employer_at[p])
        born = persons.dob[p].astype(object)
        age = start.year - born.year - ((start.month, start.day) < (born.month, born.day))
        rows.append(
            {
                "year": year,
                "quarter": quarter,
                "household_no": f"{year}{quarter}{hh_no[h]:06d}",
                "line_no": line[h],
                "weight": round(float(weight[int(persons.region[p])]), 4),
                "region": cfg.regions[int(persons.region[p])].code,
                "sex": int(persons.sex[p]),
                "age": age,
                "isced": int(persons.isced[p]),
                "lf_status": int(status[p]) + 1,
                "isco": isco[int(persons.isco[p])][0] if employed else None,
                "isic": isic[int(nation.employers.isic[e])][1] if employed and e >= 0 else None,
                "monthly_earnings": float(persons.earnings[p]) if employed else None,
            }
        )
    write_csv(folder / "lfs" / f"lfs_{year}Q{quarter}.csv", rows, LFS_COLUMNS)
    return len(rows)
