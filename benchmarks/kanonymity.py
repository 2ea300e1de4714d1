"""k-anonymity of an extract: wall time and rows/s of
``governance.disclosure.kanonymity.anonymise`` over synthetic person-event rows with five
quasi-identifiers — birth year, sex, region, ISCO-08 unit group and an event date —
against a plain Arrow group-by count of the same five columns in the same run.

    .venv/bin/python -m benchmarks.kanonymity [--rows 1000000] [--k 5] [--repeat 3]
        [--seed 20240101]

Codes come from the project's code lists (regions and ISCO-08 unit groups drawn with
Zipf-like weights, so some categories are rare); birth years 1950-2008, dates over three
years. Two plans are timed: ``fine`` (5-year birth bands with "<1955" and "2005+",
months, ISCO sub-major groups, regions under 2% of rows merged) and ``coarse`` (10-year
bands, years, ISCO major groups). Each timing is the best of ``--repeat`` runs; the
report of the last run says how much was suppressed and dropped. The baselines: Arrow's
group-by count on the raw columns, and on the generalised columns (what computing the
classes alone costs).
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from governance.disclosure.kanonymity import DisclosurePlan, anonymise, generalise
from schemas.codelists import CodeLists

QUASI_IDENTIFIERS = ["birth_year", "sex", "region", "isco", "event_date"]


def plans(k: int, rows: int) -> dict[str, DisclosurePlan]:
    common = {"k": k, "quasi_identifiers": QUASI_IDENTIFIERS}
    return {
        "fine": DisclosurePlan.from_dict(
            common
            | {
                "generalise": {
                    "birth_year": {"kind": "band", "width": 5, "bottom": 1955, "top": 2005},
                    "event_date": {"kind": "month"},
                    "isco": {"kind": "group", "truncate": 2},
                    "region": {"kind": "group", "min_count": max(2, rows // 50)},
                }
            }
        ),
        "coarse": DisclosurePlan.from_dict(
            common
            | {
                "generalise": {
                    "birth_year": {"kind": "band", "width": 10},
                    "event_date": {"kind": "year"},
                    "isco": {"kind": "group", "truncate": 1},
                }
            }
        ),
    }


def _zipf(rng: np.random.Generator, codes: list[str], rows: int, power: float) -> pa.Array:
    weights = 1.0 / np.arange(1, len(codes) + 1) ** power
    order = rng.permutation(len(codes))
    chosen = rng.choice(len(codes), size=rows, p=weights / weights.sum())
    return pa.array(np.asarray(codes, dtype=object)[order][chosen], pa.string())


def synthetic_extract(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    lists = CodeLists.load()
    regions = sorted(lists["region"].labels)
    units = sorted(code for code in lists["isco08"].labels if len(code) == 4)
    start = np.datetime64("2022-01-01")
    days = rng.integers(0, 3 * 365, size=rows)
    return pa.table(
        {
            "person": pa.array(rng.integers(0, 2**62, size=rows, dtype=np.int64)),
            "birth_year": pa.array(rng.integers(1950, 2009, size=rows), pa.int32()),
            "sex": pa.array(rng.choice(np.array(["1", "2"], dtype=object), size=rows), pa.string()),
            "region": _zipf(rng, regions, rows, 1.2),
            "isco": _zipf(rng, units, rows, 1.0),
            "event_date": pa.array((start + days).astype("datetime64[D]"), pa.date32()),
            "wage": pa.array(rng.lognormal(8.5, 0.6, size=rows)),
        }
    )


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def group_by_count(table: pa.Table) -> pa.Table:
    return table.group_by(QUASI_IDENTIFIERS).aggregate([([], "count_all")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args()

    started = time.perf_counter()
    table = synthetic_extract(args.rows, args.seed)
    print(f"extract: {table.num_rows:,} rows, generated in {time.perf_counter() - started:.2f} s")

    seconds, classes = best_of(args.repeat, lambda: group_by_count(table))
    print(
        f"baseline  Arrow group-by count, raw columns: {seconds:7.3f} s "
        f"{table.num_rows / seconds:12,.0f} rows/s  ({classes.num_rows:,} classes)"
    )
    for name, plan in plans(args.k, args.rows).items():
        generalised = generalise(table, plan)
        seconds, classes = best_of(args.repeat, functools.partial(group_by_count, generalised))
        print(
            f"{name:6}    Arrow group-by count, generalised: {seconds:7.3f} s "
            f"{table.num_rows / seconds:12,.0f} rows/s  ({classes.num_rows:,} classes)"
        )
        seconds, _ = best_of(
            args.repeat, functools.partial(anonymise, table, plan, check_only=True)
        )
        print(
            f"{name:6}    anonymise, check only:            {seconds:7.3f} s "
            f"{table.num_rows / seconds:12,.0f} rows/s"
        )
        seconds, (_, report) = best_of(args.repeat, functools.partial(anonymise, table, plan))
        suppressed = ", ".join(f"{c} {n:,}" for c, n in report.values_suppressed.items() if n)
        print(
            f"{name:6}    anonymise, k={plan.k}:                    {seconds:7.3f} s "
            f"{table.num_rows / seconds:12,.0f} rows/s  (k {report.k_before} -> "
            f"{report.k_achieved}; {report.records_below_k_before:,} records below k; "
            f"suppressed {suppressed or 'nothing'}; dropped {report.records_dropped:,}; "
            f"{report.equivalence_classes:,} classes)"
        )


if __name__ == "__main__":
    main()
