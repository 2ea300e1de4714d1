"""ISCO-08 coding of free-text job titles: accuracy and titles/s of the connector's
coder (exact normalised label, then character 3-gram TF-IDF) against an exact-match
lookup of the same labels, measured in the same run.

    .venv/bin/python -m benchmarks.isco_coding [--held-out 1000] [--seed 7]

Two sets of titles, both with their true unit group from the synthetic nation's
reference data (the synth draws each vacancy title from the ESCO labels of its
group):

- *synth*: every title the synth can write, verbatim (11,211);
- *held-out*: ``--held-out`` of them removed from the index, so each must be coded from
  the other labels of its group (how a title no label spells out fares).

The coder's index is built once (time reported); each figure is top-1 accuracy of
the 4-digit unit group.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from connectors.sdk.occupation import OccupationCoder, Suggestion, normalise_title
from synth import reference

Coder = Callable[[str], Suggestion | None]


def measure(code: Coder, titles: list[tuple[str, str]]) -> tuple[float, float]:
    """(top-1 accuracy, titles per second)."""
    start = time.perf_counter()
    right = sum((s := code(t)) is not None and s.code == isco for t, isco in titles)
    elapsed = time.perf_counter() - start
    return right / len(titles), len(titles) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    titles = sorted((t, c) for c, ts in reference.job_titles().items() for t in ts)
    start = time.perf_counter()
    coder = OccupationCoder.packaged()
    built = time.perf_counter() - start
    print(f"index: {len(coder):,} distinct labels, built in {built:.2f} s")

    held = random.Random(args.seed).sample(titles, args.held_out)
    hidden = {normalise_title(t) for t, _ in held}
    labels = [label for label in coder.labels() if label.text not in hidden]
    partial = OccupationCoder(labels)

    print(f"{'titles':<10} {'method':<22} {'top-1':>7} {'titles/s':>10}")
    for name, sample, index in (("synth", titles, coder), ("held-out", held, partial)):
        base_acc, base_rate = measure(index.exact, sample)
        acc, rate = measure(index.suggest, sample)
        print(f"{name:<10} {'exact lookup (baseline)':<22} {base_acc:>7.3f} {base_rate:>10,.0f}")
        print(f"{name:<10} {'exact + fuzzy':<22} {acc:>7.3f} {rate:>10,.0f}")
        times = f"{acc / base_acc:.2f}x" if base_acc else "n/a (baseline 0)"
        print(
            f"{name:<10} ratio: accuracy {times} (+{acc - base_acc:.3f}), "
            f"speed {rate / base_rate:.3f}x of the baseline"
        )


if __name__ == "__main__":
    main()
