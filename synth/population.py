"""The persons of the synthetic nation, generated column-wise with numpy.

Everyone generated is of working age or older (15+) at the start; the nation is
closed (no births, deaths or migration during the period).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from synth import national_id, reference
from synth.config import SynthConfig

#: ISCED 2011 levels 0..8 and their names.
ISCED_LEVELS: tuple[str, ...] = (
    "Early childhood education",
    "Primary education",
    "Lower secondary education",
    "Upper secondary education",
    "Post-secondary non-tertiary education",
    "Short-cycle tertiary education",
    "Bachelor's or equivalent level",
    "Master's or equivalent level",
    "Doctoral or equivalent level",
)
_ISCED_P = np.array([0.01, 0.10, 0.18, 0.40, 0.08, 0.08, 0.11, 0.035, 0.005])

#: Labour-force status codes (ICLS-19).
EMPLOYED, UNEMPLOYED, POTENTIAL, OUTSIDE = 0, 1, 2, 3
LF_STATUS_NAMES: tuple[str, ...] = (
    "employed",
    "unemployed",
    "potential labour force",
    "outside the labour force",
)

#: Age bands (15-19, 20-24, 25-54, 55-64, 65+) and the LF-status distribution in each
#: (E, U, P, O): drawn at the start, and the steady state the monthly moves keep.
AGE_EDGES = np.array([15, 20, 25, 55, 65, 200])
INITIAL_LF = np.array(
    [
        [0.15, 0.05, 0.03, 0.77],
        [0.50, 0.12, 0.05, 0.33],
        [0.68, 0.05, 0.03, 0.24],
        [0.50, 0.02, 0.02, 0.46],
        [0.10, 0.005, 0.005, 0.89],
    ]
)
# ISCO major group weights by education tier (ISCED 0-2, 3-4, 5-8); index = major group.
_MAJOR_BY_TIER = np.array(
    [
        [0, 0.00, 0.00, 0.00, 0.05, 0.20, 0.08, 0.15, 0.12, 0.40],
        [0, 0.03, 0.00, 0.10, 0.20, 0.28, 0.03, 0.14, 0.12, 0.10],
        [0, 0.15, 0.35, 0.30, 0.12, 0.08, 0.00, 0.00, 0.00, 0.00],
    ]
)
#: Median monthly earnings (TTD) by ISCO major group.
MEDIAN_EARNINGS = np.array([9000, 18000, 14000, 10000, 7000, 5500, 4500, 6500, 6000, 4200])
#: Share of employed women aged 25-54 who are outside the labour force instead.
WOMEN_AWAY = 0.12
_HOUSEHOLD_SIZE_P = np.array([0.22, 0.24, 0.20, 0.17, 0.10, 0.07])


@dataclass
class Persons:
    """One row per person; every attribute is a numpy column of the same length."""

    national_id: npt.NDArray[np.str_]
    given_name: npt.NDArray[np.object_]
    family_name: npt.NDArray[np.object_]
    sex: npt.NDArray[np.int8]  # 1 male, 2 female
    dob: npt.NDArray[np.datetime64]
    region: npt.NDArray[np.int16]  # index into config.regions
    household: npt.NDArray[np.int32]
    isced: npt.NDArray[np.int8]
    isco: npt.NDArray[np.int16]  # usual occupation: index into reference.isco_unit_groups()
    earnings: npt.NDArray[np.float64]  # monthly earnings when employed (TTD)
    initial_status: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.national_id.shape[0])

    def age_at(self, day: date) -> npt.NDArray[np.int64]:
        years = (np.datetime64(day, "D") - self.dob).astype(np.int64)
        return years // 365  # close enough for banding; exact ages are computed on output


def age_band(age: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """Index of each age's band in :data:`AGE_EDGES`."""
    band: npt.NDArray[np.intp] = np.searchsorted(AGE_EDGES, age, side="right") - 1
    return band.clip(0, len(AGE_EDGES) - 2)


def steady_shares() -> npt.NDArray[np.float64]:
    """LF-status shares (E, U, P, O) by age band and sex (1 male, 2 female; index sex - 1)."""
    shares = np.repeat(INITIAL_LF[:, None, :], 2, axis=1)
    away = shares[2, 1, EMPLOYED] * WOMEN_AWAY
    shares[2, 1, EMPLOYED] -= away
    shares[2, 1, OUTSIDE] += away
    return shares


def _names(
    rng: np.random.Generator,
    origin: npt.NDArray[np.int8],
    kind: str | npt.NDArray[np.str_],
    pool: str,
) -> npt.NDArray[np.object_]:
    """A name for each person from ``pool``'s list of their origin (and sex, when
    ``kind`` is an array of "male"/"female"). Draws one uniform number per person
    whatever the pool, so the pool changes the names and nothing else of the nation."""
    out = np.empty(origin.shape[0], dtype=object)
    kinds = ("family",) if isinstance(kind, str) else ("male", "female")
    for oi, o in enumerate(reference.ORIGINS):
        for k in kinds:
            mask = origin == oi
            if not isinstance(kind, str):
                mask &= kind == k
            count = int(mask.sum())
            if count == 0:
                continue
            names = reference.names(k, o, pool)
            drawn = rng.choice(len(names.names), size=count, p=names.weights)
            out[mask] = np.array(names.names, dtype=object)[drawn]
    return out


def make_persons(config: SynthConfig, rng: np.random.Generator) -> Persons:
    """Draw the population (vectorised; a million persons take a few seconds)."""
    n = config.persons
    nid = national_id.generate(rng, n)
    sex = rng.choice(np.array([1, 2], dtype=np.int8), size=n, p=[0.495, 0.505])
    origin = rng.choice(len(reference.ORIGINS), size=n, p=reference.ORIGIN_SHARES).astype(np.int8)
    family = _names(rng, origin, "family", config.names)
    # A sixth of people carry a given name from another origin's tradition.
    given_origin = np.where(
        rng.random(n) < 0.16,
        rng.choice(len(reference.ORIGINS), size=n, p=reference.ORIGIN_SHARES),
        origin,
    ).astype(np.int8)
    given = _names(rng, given_origin, np.where(sex == 1, "male", "female"), config.names)

    # Ages 15..84 at the start, fewer at older ages.
    ages = np.arange(15, 85)
    age_p = np.where(ages < 60, 1.0, np.exp(-(ages - 60) / 12.0))
    age = rng.choice(ages, size=n, p=age_p / age_p.sum())
    start = np.datetime64(config.first_month, "D")
    dob = (
        start
        - (age * 365.25).astype("timedelta64[D]")
        - rng.integers(0, 365, size=n).astype("timedelta64[D]")
    )

    weights = np.array([r.weight for r in config.regions])
    region = rng.choice(len(weights), size=n, p=weights / weights.sum()).astype(np.int16)
    order = np.argsort(region, kind="stable")
    sizes = rng.choice(np.arange(1, 7), size=n, p=_HOUSEHOLD_SIZE_P)
    hh_sorted = np.repeat(np.arange(n), sizes)[:n]
    # A household never spans two regions: start a new one where the region changes.
    breaks = np.concatenate([[False], np.diff(region[order]) != 0])
    hh_sorted = np.cumsum(np.concatenate([[0], np.diff(hh_sorted) != 0]) | breaks)
    household = np.empty(n, dtype=np.int32)
    household[order] = hh_sorted

    isced = rng.choice(9, size=n, p=_ISCED_P).astype(np.int8)
    older = (age >= 55) & (rng.random(n) < 0.35)
    isced = np.where(older, np.maximum(isced - 1, 0), isced).astype(np.int8)

    tier = np.select([isced <= 2, isced <= 4], [0, 1], 2)
    cum = _MAJOR_BY_TIER.cumsum(axis=1)
    cum = cum / cum[:, -1:]
    major = (rng.random(n)[:, None] > cum[tier]).sum(axis=1)
    codes = np.array([int(c) for c, _ in reference.isco_unit_groups()])
    unit_major = codes // 1000
    isco = np.empty(n, dtype=np.int16)
    for m in range(1, 10):
        units = np.flatnonzero(unit_major == m)
        mask = major == m
        isco[mask] = units[rng.integers(0, units.size, size=int(mask.sum()))]
    earnings = np.round(MEDIAN_EARNINGS[major] * rng.lognormal(0.0, 0.35, size=n), -1)

    band = age_band(age)
    cum_lf = INITIAL_LF.cumsum(axis=1)
    status = (rng.random(n)[:, None] > cum_lf[band]).sum(axis=1)
    women_prime = (sex == 2) & (band == 2) & (status == EMPLOYED) & (rng.random(n) < WOMEN_AWAY)
    status = np.where(women_prime, OUTSIDE, np.minimum(status, 3)).astype(np.int8)

    return Persons(
        national_id=nid,
        given_name=given,
        family_name=family,
        sex=sex,
        dob=dob,
        region=region,
        household=household,
        isced=isced,
        isco=isco,
        earnings=earnings,
        initial_status=status,
    )
