"""How often persons of a synthetic population share a name, per name pool: the figures
that make record linkage hard (two persons with the same given name, family name and
year of birth can be told apart only by the rest of the date or an identifier).

    .venv/bin/python -m synth.name_stats [--persons 100000 1000000] [--seed 20240101]

Only the population is drawn (:func:`synth.population.make_persons`), not its history.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synth import reference
from synth.config import SynthConfig
from synth.population import Persons, make_persons


@dataclass(frozen=True)
class NameFigures:
    persons: int
    given_names: int  # distinct
    family_names: int  # distinct
    full_names: int  # distinct (given, family)
    top10_family: float  # share of persons carrying one of the ten commonest family names
    top10_given: float
    shared_name_year: int  # persons whose (given, family, birth year) another person has
    largest_name_year: int  # the largest group of persons sharing all three
    with_nickname: float  # share whose given name has a short form in nicknames.csv

    @property
    def shared_name_year_share(self) -> float:
        return self.shared_name_year / self.persons


def _codes(values: npt.NDArray[np.object_]) -> tuple[npt.NDArray[np.intp], float]:
    """Each value's index among the distinct values, and the top-ten share."""
    _, inverse, counts = np.unique(values.astype(str), return_inverse=True, return_counts=True)
    top10 = float(np.sort(counts)[-10:].sum()) / values.shape[0]
    return inverse.ravel(), top10


def name_figures(persons: Persons) -> NameFigures:
    given, top10_given = _codes(persons.given_name)
    family, top10_family = _codes(persons.family_name)
    full = given.astype(np.int64) * (int(family.max()) + 1) + family
    year = persons.dob.astype("datetime64[Y]").astype(np.int64)
    key = full * (int(year.max() - year.min()) + 1) + (year - year.min())
    _, counts = np.unique(key, return_counts=True)
    nicknamed = np.isin(persons.given_name.astype(str), list(reference.nicknames()))
    return NameFigures(
        persons=len(persons),
        given_names=int(given.max()) + 1,
        family_names=int(family.max()) + 1,
        full_names=int(np.unique(full).shape[0]),
        top10_family=top10_family,
        top10_given=top10_given,
        shared_name_year=int(counts[counts > 1].sum()),
        largest_name_year=int(counts.max()),
        with_nickname=float(nicknamed.mean()),
    )


def population(persons: int, seed: int, names: str) -> Persons:
    """The population the nation of this size, seed and name pool starts from."""
    config = SynthConfig(persons=persons, seed=seed, names=names)  # type: ignore[arg-type]
    return make_persons(config, np.random.default_rng([config.seed, 0]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=SynthConfig().seed)
    args = parser.parse_args(argv)
    header = (
        "| persons | pool | given names | family names | full names | top-10 family | "
        "top-10 given | sharing name and birth year | largest group | nickname known |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for n in args.persons:
        for pool in reference.NAME_POOLS:
            f = name_figures(population(n, args.seed, pool))
            lines.append(
                f"| {n:,} | {pool} | {f.given_names:,} | {f.family_names:,} | "
                f"{f.full_names:,} | {f.top10_family:.1%} | {f.top10_given:.1%} | "
                f"{f.shared_name_year:,} ({f.shared_name_year_share:.1%}) | "
                f"{f.largest_name_year} | {f.with_nickname:.0%} |"
            )
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
