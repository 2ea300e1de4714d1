"""Time and peak memory to draw a population of 1,000,000 persons (and its employers).

Baseline, measured in the same run: drawing the same number of rows of plain numpy
random columns (one per person attribute). The ratio says what the realism costs.
Also reports 100,000 persons to show the scaling is linear.

    .venv/bin/python benchmarks/synth_population.py [--persons 1000000]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from synth.config import SynthConfig
from synth.employers import make_employers
from synth.population import make_persons


def measure(work: Callable[[], object]) -> tuple[float, float]:
    """(seconds, peak traced MiB): timed untraced, then run again under tracemalloc
    (which slows the allocation of Python objects such as names)."""
    t0 = time.perf_counter()
    work()
    seconds = time.perf_counter() - t0
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20


def population(n: int) -> Callable[[], object]:
    def work() -> object:
        cfg = SynthConfig(persons=n)
        rng = np.random.default_rng([cfg.seed, 0])
        return make_persons(cfg, rng), make_employers(cfg, rng)

    return work


def baseline(n: int) -> Callable[[], object]:
    def work() -> object:
        rng = np.random.default_rng(0)
        return [rng.integers(0, 1_000, size=n) for _ in range(8)] + [
            rng.random(n) for _ in range(3)
        ]

    return work


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.persons
    population(10_000)()  # warm the reference-data caches
    base_s, base_mib = measure(baseline(n))
    small_s, small_mib = measure(population(n // 10))
    big_s, big_mib = measure(population(n))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"baseline: {n:,} rows of 11 plain numpy random columns: "
        f"{base_s:.2f} s, peak {base_mib:.0f} MiB",
        f"population: {n // 10:,} persons: {small_s:.2f} s, peak {small_mib:.0f} MiB",
        f"population: {n:,} persons: {big_s:.2f} s, peak {big_mib:.0f} MiB "
        f"(process max RSS {rss:.0f} MiB)",
        f"ratio population/baseline at {n:,}: "
        f"time {big_s / base_s:.1f}x, memory {big_mib / base_mib:.1f}x",
        f"scaling {n // 10:,} -> {n:,} persons: time {big_s / small_s:.1f}x (10x is linear)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
