"""Agencies that hand over CSV files: the NSO (LFS microdata, business register) and
the TVET authority (monthly exports of what was written or changed that month)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from synth import reference
from synth.employers import LEGAL_FORMS, SIZE_BANDS, SIZE_EDGES
from synth.simulation import Nation

TVET_TABLES = ("trainees", "enrolments", "certifications")
LFS_COLUMNS = (
    "year",
    "quarter",
    "household_no",
    "line_no",
    "interview_date",  # the household's interview, a day in the quarter
    "weight",
    "region",
    "sex",
    "age",
    "birth_year",
    "isced",
    "lf_status",
    "status_in_employment",  # ICSE-18 code of the employed
    "isco",
    "isic",
    "usual_hours",  # usual weekly hours of the employed
    "monthly_earnings",
    "panel_household_no",  # the same in each of a household's visits
    "visit",  # 1..4: the household's visit in the rotation panel
)
#: Quarters a household stays in the LFS panel.
PANEL_VISITS = 4


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
        rows = nation.history.materialise("tvet", table, m, only_month=m)
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
        for row in nation.history.rows("tvet", table):
            if row.month <= last:
                seen |= dict.fromkeys(c for c in row.values if c != "key")
        out[table] = [*seen, "updated_at"]
    return out


def business_register(nation: Nation, folder: Path) -> int:
    """The register as the NSO issues it at the end of the period: each enterprise's
    persons engaged then (and the size band they put it in), legal form and date of
    registration; ``inactive`` where nobody works."""
    emp = nation.employers
    classes = reference.isic_classes()
    last = nation.months - 1
    reference_date = nation.calendar.month_start(last).replace(day=nation.calendar.days_in(last))
    headcount = nation.truth.headcount.tolist()
    bands = np.searchsorted(SIZE_EDGES, nation.truth.headcount, side="right").tolist()
    registered = np.datetime_as_string(emp.registered_on.astype("datetime64[D]"), unit="D").tolist()
    rows: list[dict[str, object]] = [
        {
            "business_reg_no": str(emp.business_reg_no[e]),
            "name": str(emp.name[e]),
            "legal_form": LEGAL_FORMS[int(emp.legal_form[e])],
            "registered_on": registered[e],
            "isic": classes[int(emp.isic[e])][1],
            "reference_date": reference_date.isoformat(),
            "employment": headcount[e],
            "size_band": SIZE_BANDS[bands[e]],
            "region": nation.config.regions[int(emp.region[e])].code,
            "status": "active" if headcount[e] else "inactive",
        }
        for e in range(len(emp))
    ]
    write_csv(folder / "business_register.csv", rows, list(rows[0]))
    return len(rows)


def _quarter_label(nation: Nation, q: int) -> tuple[int, int]:
    """(year, quarter) of quarter ``q`` from the start (negative: before the period)."""
    first = nation.calendar.first
    years, month = divmod(first.month - 1 + 3 * q + 1, 12)
    return first.year + years, month // 3 + 1


def lfs_panel(nation: Nation, q: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
    """The LFS rotation panel in quarter ``q``: (households in the sample, the quarter
    each entered it). Households fall in four rotation groups; each quarter one group
    leaves and a fresh sample of it enters, so a household is visited in four
    consecutive quarters and three quarters of the sample carry over."""
    cfg = nation.config
    households = np.unique(nation.persons.household)
    group = np.random.default_rng([cfg.seed, 3]).integers(0, PANEL_VISITS, size=households.size)
    cohort = (q + group) // PANEL_VISITS
    draw = np.empty(households.size)
    for k in np.unique(cohort).tolist():
        mine = cohort == k
        draw[mine] = np.random.default_rng([cfg.seed, 3, k]).random(households.size)[mine]
    sampled = draw < cfg.lfs_household_sample
    return households[sampled], (PANEL_VISITS * cohort - group)[sampled]


def lfs_quarter(nation: Nation, folder: Path, q: int) -> int:
    """LFS microdata of quarter ``q`` (0-based from the start; reference: its middle month)."""
    cfg, persons = nation.config, nation.persons
    m = 3 * q + 1
    sampled, entered = lfs_panel(nation, q)
    households = np.unique(persons.household)
    in_sample = np.isin(persons.household, sampled)
    # Weight: households in the region / households sampled in the region.
    hh_region = np.zeros(households.size, dtype=np.int16)
    hh_region[np.searchsorted(households, persons.household)] = persons.region
    total = np.bincount(hh_region, minlength=len(cfg.regions))
    got = np.bincount(hh_region[np.isin(households, sampled)], minlength=len(cfg.regions))
    weight = total / np.maximum(got, 1)
    # The panel number: quarter of entry and rank among the households entering with it.
    by_entry = np.lexsort((sampled, entered))
    first_of = np.searchsorted(entered[by_entry], entered[by_entry])
    rank = np.empty(sampled.size, dtype=np.int64)
    rank[by_entry] = np.arange(sampled.size) - first_of + 1
    panel = {
        int(h): (f"{y}{qq}{r:06d}", q - int(e) + 1)
        for h, e, r in zip(sampled.tolist(), entered.tolist(), rank.tolist(), strict=True)
        for y, qq in [_quarter_label(nation, int(e))]
    }
    status = nation.truth.status[m]
    start = nation.calendar.month_start(m)
    year, quarter = _quarter_label(nation, q)
    isco = reference.isco_unit_groups()
    isic = reference.isic_classes()
    employer_at = nation.truth.employer_at[m]
    # Status in employment (ICSE-18) and usual weekly hours of the employed: insured
    # jobs are permanent or fixed-term employees; the others casual employees,
    # own-account workers or contributing family workers. About one in eight works
    # part-time.
    detail = np.random.default_rng([cfg.seed, 8, q])
    formal = nation.truth.formal_at[m]
    draw = detail.random(len(persons))
    icse = np.where(
        formal,
        np.where(draw < 0.85, 41, 42),
        np.select([draw < 0.6, draw < 0.85], [43, 22], 51),
    )
    part_time = detail.random(len(persons)) < 0.12
    hours = np.where(
        part_time, detail.normal(20, 6, len(persons)), detail.normal(41, 5, len(persons))
    )
    hours = np.clip(np.round(hours), 4, 84).astype(np.int64)
    # Each household is interviewed on one day of the quarter.
    days = sum(nation.calendar.days_in(3 * q + i) for i in range(3))
    first_day = nation.calendar.month_start(3 * q)
    offsets = np.random.default_rng([cfg.seed, 7, q]).integers(0, days, size=sampled.size)
    interviewed = {
        int(h): (first_day + timedelta(days=int(d))).isoformat()
        for h, d in zip(sampled.tolist(), offsets.tolist(), strict=True)
    }
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
        panel_no, visit = panel[h]
        rows.append(
            {
                "year": year,
                "quarter": quarter,
                "household_no": f"{year}{quarter}{hh_no[h]:06d}",
                "line_no": line[h],
                "interview_date": interviewed[h],
                "weight": round(float(weight[int(persons.region[p])]), 4),
                "region": cfg.regions[int(persons.region[p])].code,
                "sex": int(persons.sex[p]),
                "age": age,
                "birth_year": born.year,
                "isced": int(persons.isced[p]),
                "lf_status": int(status[p]) + 1,
                "status_in_employment": int(icse[p]) if employed else None,
                "isco": isco[int(persons.isco[p])][0] if employed else None,
                "isic": isic[int(nation.employers.isic[e])][1] if employed and e >= 0 else None,
                "usual_hours": int(hours[p]) if employed else None,
                "monthly_earnings": float(persons.earnings[p]) if employed else None,
                "panel_household_no": panel_no,
                "visit": visit,
            }
        )
    write_csv(folder / "lfs" / f"lfs_{year}Q{quarter}.csv", rows, LFS_COLUMNS)
    return len(rows)
