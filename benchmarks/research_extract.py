"""A research extract of 1,000,000 rows: wall time and peak memory of
``integration.research.extract.build_extract`` (project pseudonyms, the consent filter,
generalisation and k-anonymity over persons on five quasi-identifiers) plus writing its
Parquet files, against writing the same input rows to Parquet with no processing, in the
same run.

    .venv/bin/python -m benchmarks.research_extract [--rows 1000000] [--persons 200000]
        [--withdrawn 0.01] [--repeat 3] [--seed 20240101]

The input is what the extract builder reads from the lake: a persons dataset
(``nis.insured_person``: birth year, sex, region, ISCO-08 unit group, ISCED level — the
five quasi-identifiers) and an events dataset (``nis.contribution``: month and earnings)
making ``--rows`` rows in all, the linkage's person links of every record, and a share
of persons who withdrew consent. The plan: 5-year birth bands, ISCO sub-major groups,
regions under 1 % of persons merged, k = 5. Each figure is the best of ``--repeat``
runs; peak memory is the process's resident high-water mark after all runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from governance.disclosure.kanonymity import DisclosurePlan
from integration.research.extract import build_extract
from integration.research.workspace import parquet_bytes
from schemas.codelists import CodeLists

QIS = ["birth_year", "sex", "region", "occupation", "education_level"]
FIELDS = {
    "nis.insured_person": QIS,
    "nis.contribution": ["contribution_month", "insurable_earnings_cents"],
}


def population(rows: int, persons: int, seed: int) -> tuple[dict[str, pa.Table], pa.Table]:
    rng = np.random.default_rng(seed)
    codes = CodeLists.load()
    regions = sorted(codes["region"].labels)
    isco = sorted(c for c in codes["isco08"].labels if len(c) == 4)
    zipf = 1 / np.arange(1, len(isco) + 1)
    ids = np.array([f"ip{i:08d}" for i in range(persons)])
    insured = pa.table(
        {
            "record_id": ids,
            "birth_year": pa.array(rng.integers(1950, 2008, persons), pa.int32()),
            "sex": rng.choice(["1", "2"], persons),
            "region": rng.choice(regions, persons, p=_weights(len(regions), rng)),
            "occupation": rng.choice(isco, persons, p=zipf / zipf.sum()),
            "education_level": rng.choice([str(i) for i in range(9)], persons),
            "_event_date": pa.array([date(2024, 1, 1)] * persons, pa.date32()),
        }
    )
    events = rows - persons
    owner = rng.integers(0, persons, events)
    months = rng.integers(0, 24, events)
    start = date(2024, 1, 1)
    days = pa.array([start + timedelta(days=int(30.5 * m)) for m in months.tolist()], pa.date32())
    c_ids = np.array([f"c{i:09d}" for i in range(events)])
    contributions = pa.table(
        {
            "record_id": c_ids,
            "contribution_month": days,
            "insurable_earnings_cents": pa.array(rng.integers(100_000, 2_000_000, events)),
            "_event_date": days,
        }
    )
    person_keys = np.array([f"k{i:031d}" for i in range(persons)])
    links = pa.table(
        {
            "agency": ["nis"] * rows,
            "dataset": ["insured_person"] * persons + ["contribution"] * events,
            "record_id": np.concatenate([ids, c_ids]),
            "person_key": np.concatenate([person_keys, person_keys[owner]]),
        }
    )
    return {"nis.insured_person": insured, "nis.contribution": contributions}, links


def _weights(n: int, rng: np.random.Generator) -> Any:
    w = rng.pareto(1.2, n) + 0.05
    return w / w.sum()


def best(repeat: int, work: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--withdrawn", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args()
    started = time.perf_counter()
    tables, links = population(args.rows, args.persons, args.seed)
    print(
        f"input: {sum(t.num_rows for t in tables.values()):,} rows "
        f"({args.persons:,} persons), made in {time.perf_counter() - started:.1f} s"
    )
    rng = np.random.default_rng(args.seed + 1)
    gone = rng.choice(args.persons, int(args.persons * args.withdrawn), replace=False)
    withdrawn = {f"k{i:031d}" for i in gone.tolist()}
    plan = DisclosurePlan.from_dict(
        {
            "k": 5,
            "quasi_identifiers": QIS,
            "generalise": {
                "birth_year": {"kind": "band", "width": 5},
                "occupation": {"kind": "group", "truncate": 2},
                "region": {"kind": "group", "min_count": args.persons // 100},
                "contribution_month": {"kind": "month"},
            },
        }
    )
    key = os.urandom(32)

    def baseline() -> int:
        return sum(len(parquet_bytes(t)) for t in tables.values())

    def extract() -> tuple[Any, int]:
        built = build_extract(
            tables,
            links,
            fields=FIELDS,
            period=(date(2024, 1, 1), date(2025, 12, 31)),
            key=key,
            plan=plan,
            withdrawn=withdrawn,
        )
        return built, sum(len(parquet_bytes(t)) for t in built.files.values())

    plain, plain_bytes = best(args.repeat, baseline)
    full, (built, built_bytes) = best(args.repeat, extract)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows_out = sum(t.num_rows for t in built.files.values())
    persons = built.persons
    assert persons is not None
    print(f"{'':28} {'wall':>8} {'rows/s':>12} {'Parquet':>10}")
    print(f"{'Parquet only (baseline)':28} {plain:7.2f}s {args.rows / plain:12,.0f} "
          f"{plain_bytes / 1e6:8.1f}MB")  # fmt: skip
    print(f"{'extract + Parquet':28} {full:7.2f}s {args.rows / full:12,.0f} "
          f"{built_bytes / 1e6:8.1f}MB")  # fmt: skip
    print(f"ratio extract/baseline: {full / plain:.1f}; peak RSS {peak:,.0f} MiB")
    print(
        f"rows out {rows_out:,}; consent left out "
        f"{sum(c.consent_withdrawn for c in built.counts.values()):,} rows; k before "
        f"{persons.k_before}, after {persons.k_achieved}; persons dropped "
        f"{persons.records_dropped:,}; values suppressed {dict(persons.values_suppressed)}"
    )


if __name__ == "__main__":
    main()
