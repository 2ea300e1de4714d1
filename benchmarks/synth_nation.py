"""Time and peak memory to make the full synthetic nation: population, the months of
events, every agency's source and the ground truth (SQLite targets).

Baseline, measured in the same run: drawing the population only (persons and
employers, as ``synth_population.py`` does). Each of the two runs in a fresh process
of its own, so its peak resident set size (``getrusage(RUSAGE_SELF).ru_maxrss``, the
whole process including the interpreter and libraries) is its own. The nation's
figures are given per stage: the simulation, each agency writer and the truth, each
with the process's peak RSS at the end of the stage (it only grows).

    .venv/bin/python -m benchmarks.synth_nation [--persons 1000000] [--months 24] [--out DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Figures:
    seconds: float
    peak_mib: float
    floor_mib: float  # peak RSS after the imports, before any work
    stages: list[tuple[str, float, float]] = field(default_factory=list)  # name, s, peak MiB
    written: dict[str, int] = field(default_factory=dict)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def population_only(persons: int, months: int) -> Figures:
    from synth.config import load_config
    from synth.employers import make_employers
    from synth.population import make_persons

    cfg = load_config(None, persons=persons, months=months)
    floor = _peak_mib()
    t0 = time.perf_counter()
    rng = np.random.default_rng([cfg.seed, 0])
    make_persons(cfg, rng), make_employers(cfg, rng)
    return Figures(time.perf_counter() - t0, _peak_mib(), floor)


def full_nation(persons: int, months: int, folder: str) -> Figures:
    from synth import nation
    from synth.config import load_config
    from synth.simulation import simulate

    cfg = load_config(None, persons=persons, months=months)
    targets = nation.Targets(Path(folder))
    floor = _peak_mib()
    stages: list[tuple[str, float, float]] = []
    t0 = time.perf_counter()
    made = simulate(cfg, cfg.months)
    stages.append(("simulation", time.perf_counter() - t0, _peak_mib()))
    written: dict[str, int] = {}
    for stage in nation.stages(made, targets):
        t = time.perf_counter()
        written |= stage.run()
        stages.append((stage.name, time.perf_counter() - t, _peak_mib()))
    return Figures(time.perf_counter() - t0, _peak_mib(), floor, stages, written)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--out", type=Path, help="Nation folder (default: a temporary one).")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="synth-nation-"))
    if args.out is not None and args.out.exists():
        shutil.rmtree(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    spawn = multiprocessing.get_context("spawn")
    try:
        with spawn.Pool(1, maxtasksperchild=1) as pool:
            base = pool.apply(population_only, (args.persons, args.months))
        with spawn.Pool(1, maxtasksperchild=1) as pool:
            full = pool.apply(full_nation, (args.persons, args.months, str(folder)))
    finally:
        if args.out is None:
            shutil.rmtree(folder, ignore_errors=True)
    n, m = f"{args.persons:,}", args.months
    print(
        "memory: peak resident set size of each run's own process (getrusage ru_maxrss); "
        f"{full.floor_mib:.0f} MiB after the imports"
    )
    print(
        f"baseline: population only, {n} persons and their employers: "
        f"{base.seconds:.1f} s, peak RSS {base.peak_mib:.0f} MiB"
    )
    print(f"full nation: {n} persons, {m} months, SQLite targets")
    for name, seconds, peak in full.stages:
        print(f"  {name:<11} {seconds:8.1f} s   peak RSS so far {peak:7.0f} MiB")
    print(f"  {'total':<11} {full.seconds:8.1f} s   peak RSS {full.peak_mib:.0f} MiB")
    print("records written:")
    for table, count in sorted(full.written.items()):
        print(f"  {table:<28} {count:>12,}")
    print(
        f"ratio full nation / population only: time {full.seconds / base.seconds:.0f}x, "
        f"peak RSS {full.peak_mib / base.peak_mib:.1f}x"
    )


if __name__ == "__main__":
    main()
