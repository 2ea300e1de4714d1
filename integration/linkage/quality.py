"""Linkage quality against a ground truth: pairwise and cluster measures, and where the
errors are.

Pairwise measures count pairs of records: a predicted pair is two records given one
person key, a true pair two records of one true person. They come from the contingency
table of (predicted person, true person) without listing pairs, so they cost O(n log n)
for any cluster sizes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


def _pairs(counts: npt.NDArray[np.int64]) -> int:
    return int((counts * (counts - 1) // 2).sum())


def _codes(values: Sequence[Any] | npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    return np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)[1].astype(
        np.int64
    )


@dataclass(frozen=True)
class Quality:
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    true_persons: int
    predicted_persons: int
    persons_exact: int  # true persons whose records are exactly one predicted person
    persons_split: int  # true persons spread over more than one predicted person
    persons_merged: int  # predicted persons holding records of more than one true person
    errors_by_noise: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.true_positive_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positive_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "precision": round(self.precision, 6),
            "recall": round(self.recall, 6),
            "f1": round(self.f1, 6),
        }


def measure(
    predicted: Sequence[Any] | npt.NDArray[Any],
    truth: Sequence[Any] | npt.NDArray[Any],
    noise: Sequence[str] | None = None,
) -> Quality:
    """Compare ``predicted`` person labels with ``truth`` labels (one each per record).

    ``noise`` (optional, per record: the noise kinds applied, ``;``-separated, empty for a
    clean record) attributes the errors: a record is **split off** when it is not in the
    predicted person holding most of its true person's records, **merged in** when its
    predicted person's majority is another true person.
    """
    if len(predicted) != len(truth):
        raise ValueError("one predicted and one true label per record")
    p, t = _codes(predicted), _codes(truth)
    n = len(p)
    if n == 0:
        return Quality(0, 0, 0, 0, 0, 0, 0, 0, 0)
    pair_codes, cell_of = np.unique(p * (t.max() + 1) + t, return_inverse=True)
    cell = np.bincount(cell_of).astype(np.int64)
    cell_p, cell_t = pair_codes // (t.max() + 1), pair_codes % (t.max() + 1)
    per_p = np.bincount(p).astype(np.int64)
    per_t = np.bincount(t).astype(np.int64)
    cells_per_t = np.bincount(cell_t)
    cells_per_p = np.bincount(cell_p)
    exact = int(((cells_per_t[cell_t] == 1) & (cells_per_p[cell_p] == 1)).sum())
    errors: dict[str, dict[str, int]] = {}
    if noise is not None:
        # Majority predicted person of each true person, majority true person of each
        # predicted person (largest cell; ties to the smaller code).
        order = np.lexsort((-cell, cell_t))
        major_p_of_t = np.full(t.max() + 1, -1, np.int64)
        firsts = order[np.r_[True, cell_t[order][1:] != cell_t[order][:-1]]]
        major_p_of_t[cell_t[firsts]] = cell_p[firsts]
        order = np.lexsort((-cell, cell_p))
        major_t_of_p = np.full(p.max() + 1, -1, np.int64)
        firsts = order[np.r_[True, cell_p[order][1:] != cell_p[order][:-1]]]
        major_t_of_p[cell_p[firsts]] = cell_t[firsts]
        split_off = major_p_of_t[t] != p
        merged_in = major_t_of_p[p] != t
        tallies: dict[str, Counter[str]] = {"split_off": Counter(), "merged_in": Counter()}
        for name, flags in (("split_off", split_off), ("merged_in", merged_in)):
            for i in np.flatnonzero(flags).tolist():
                for kind in noise[i].split(";") if noise[i] else ["clean"]:
                    tallies[name][kind] += 1
        errors = {name: dict(sorted(c.items())) for name, c in tallies.items()}
    return Quality(
        records=n,
        true_pairs=_pairs(per_t),
        predicted_pairs=_pairs(per_p),
        true_positive_pairs=_pairs(cell),
        true_persons=int((per_t > 0).sum()),
        predicted_persons=int((per_p > 0).sum()),
        persons_exact=exact,
        persons_split=int((cells_per_t > 1).sum()),
        persons_merged=int((cells_per_p > 1).sum()),
        errors_by_noise=errors,
    )
