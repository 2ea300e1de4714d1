"""Employers: registration numbers, ISIC Rev.4 class, size band, region, legal form and
the date each was registered."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from synth import reference
from synth.config import SynthConfig

#: Rough shares of employers by ISIC section in a small Caribbean economy.
_SECTION_SHARES: dict[str, float] = {
    "A": 0.04,
    "B": 0.01,
    "C": 0.10,
    "D": 0.003,
    "E": 0.01,
    "F": 0.10,
    "G": 0.25,
    "H": 0.05,
    "I": 0.10,
    "J": 0.03,
    "K": 0.03,
    "L": 0.02,
    "M": 0.06,
    "N": 0.06,
    "O": 0.01,
    "P": 0.03,
    "Q": 0.04,
    "R": 0.02,
    "S": 0.07,
    "T": 0.01,
    "U": 0.002,
}
SIZE_BANDS: tuple[str, ...] = ("1-4", "5-19", "20-99", "100+")
SIZE_EDGES = np.array([5, 20, 100])
_NAME_WORDS = (
    "Enterprises",
    "Trading",
    "Services",
    "Holdings",
    "Industries",
    "Hardware",
    "Supplies",
    "Contractors",
    "Foods",
    "Motors",
    "Engineering",
    "Agencies",
)
_SUFFIXES = ("Ltd", "Limited", "Co. Ltd", "& Sons Ltd", "Company Limited")
#: Legal forms as the companies registry words them (the business register's column).
LEGAL_FORMS: tuple[str, ...] = (
    "company",
    "partnership",
    "sole trader",
    "state enterprise",
    "non-profit",
)
COMPANY, PARTNERSHIP, SOLE_TRADER, STATE_ENTERPRISE, NON_PROFIT = range(5)
#: Legal form shares by size band: the smallest are mostly sole traders, the largest
#: companies and state enterprises.
_LEGAL_FORM_P = np.array(
    [
        [0.33, 0.10, 0.55, 0.00, 0.02],
        [0.60, 0.10, 0.25, 0.00, 0.05],
        [0.85, 0.03, 0.00, 0.05, 0.07],
        [0.80, 0.00, 0.00, 0.15, 0.05],
    ]
)
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass
class Employers:
    """One row per employer; numpy columns of the same length."""

    business_reg_no: npt.NDArray[np.str_]  # companies registry number, e.g. C0123456
    nis_employer_no: npt.NDArray[np.str_]  # NIS employer number (blank when not registered)
    name: npt.NDArray[np.object_]
    isic: npt.NDArray[np.int16]  # index into reference.isic_classes()
    region: npt.NDArray[np.int16]
    size_weight: npt.NDArray[np.float64]  # relative attraction of hires
    size_band: npt.NDArray[np.int8]  # index into SIZE_BANDS (expected headcount)
    formal: npt.NDArray[np.bool_]  # registered with the NIS
    legal_form: npt.NDArray[np.int8]  # index into LEGAL_FORMS
    registered_on: npt.NDArray[np.int32]  # companies registry date, days from 1970-01-01
    nis_registered_on: npt.NDArray[np.int32]  # NIS registration date (formal employers)

    def __len__(self) -> int:
        return int(self.business_reg_no.shape[0])

    def hire_probabilities(self) -> npt.NDArray[np.float64]:
        weights: npt.NDArray[np.float64] = self.size_weight / self.size_weight.sum()
        return weights


def make_employers(config: SynthConfig, rng: np.random.Generator) -> Employers:
    """Draw the employers of the nation."""
    n = max(10, round(config.persons * config.employers_per_1000_persons / 1000))
    classes = reference.isic_classes()
    sections = np.array([s for s, _, _ in classes])
    per_class = np.array([_SECTION_SHARES.get(s, 0.0) for s in sections])
    counts = {s: int((sections == s).sum()) for s in set(sections.tolist())}
    per_class = per_class / np.array([counts[s] for s in sections])
    isic = rng.choice(len(classes), size=n, p=per_class / per_class.sum()).astype(np.int16)

    weights = np.array([r.weight for r in config.regions])
    region = rng.choice(len(weights), size=n, p=weights / weights.sum()).astype(np.int16)
    size_weight = rng.pareto(1.1, size=n) + 1.0
    expected = size_weight / size_weight.sum() * config.persons * 0.45
    size_band = np.searchsorted(SIZE_EDGES, expected, side="right").astype(np.int8)
    formal = (rng.random(n) >= config.informal_employer_share) | (size_band >= 2)

    serial = rng.permutation(np.arange(100_000, 100_000 + n * 7))[:n]
    business_reg_no = np.char.add("C", np.char.zfill(serial.astype("U7"), 7))
    nis_serial = rng.permutation(np.arange(200_000, 200_000 + n * 3))[:n]
    nis_employer_no = np.where(formal, np.char.add("E", nis_serial.astype("U6")), "")

    family_pool = np.array(
        [nm for o in reference.ORIGINS for nm in reference.names("family", o, "compact").names],
        dtype=object,
    )
    owners = family_pool[rng.integers(0, family_pool.size, size=n)]
    if config.names != "compact":
        # The draw above stays, so what follows on the shared stream is the same; other
        # pools draw the owners again, weighted like the persons' family names, from a
        # stream of their own: the name pool changes names and nothing else.
        lists = [reference.names("family", o, config.names) for o in reference.ORIGINS]
        pool = np.array([nm for nl in lists for nm in nl.names], dtype=object)
        p = np.concatenate(
            [np.array(nl.weights) * s for nl, s in zip(lists, reference.ORIGIN_SHARES, strict=True)]
        )
        owners = pool[
            np.random.default_rng([config.seed, 9]).choice(pool.size, size=n, p=p / p.sum())
        ]
    words = np.array(_NAME_WORDS, dtype=object)[rng.integers(0, len(_NAME_WORDS), size=n)]
    suffixes = np.array(_SUFFIXES, dtype=object)[rng.integers(0, len(_SUFFIXES), size=n)]
    name = owners + " " + words + " " + suffixes

    # Attributes added later draw from their own stream, so the ones above stay as they
    # were for a given seed.
    more = np.random.default_rng([config.seed, 6])
    cum = _LEGAL_FORM_P.cumsum(axis=1)
    legal_form = (more.random(n)[:, None] > cum[size_band]).sum(axis=1).astype(np.int8)
    # Charities work in education, health, the arts and other services; state
    # enterprises in mining, utilities, transport, finance and administration.
    section = sections[isic]
    legal_form[(legal_form == NON_PROFIT) & ~np.isin(section, list("PQRS"))] = COMPANY
    legal_form[(legal_form == STATE_ENTERPRISE) & ~np.isin(section, list("BDEHKO"))] = COMPANY
    sole = legal_form == SOLE_TRADER
    name[sole] = owners[sole] + " " + words[sole]
    partners = family_pool[more.integers(0, family_pool.size, size=n)]
    both = legal_form == PARTNERSHIP
    name[both] = owners[both] + " & " + partners[both] + " " + words[both]
    state = legal_form == STATE_ENTERPRISE
    name[state] = "National " + words[state] + " Company Limited"
    charity = legal_form == NON_PROFIT
    name[charity] = owners[charity] + " Community Trust"
    # Older the larger: years since registration, exponential around 6 to 18 years.
    first = np.datetime64(config.first_month, "D")
    age_days = 30 + more.exponential(365.25 * (6 + 4 * size_band.astype(np.float64)))
    age_days = np.minimum(age_days, 365.25 * 55)
    registered = first - age_days.astype("timedelta64[D]")
    nis_lag = more.integers(0, 180, size=n).astype("timedelta64[D]")
    nis_registered = np.minimum(registered + nis_lag, first - np.timedelta64(1, "D"))
    return Employers(
        business_reg_no=business_reg_no,
        nis_employer_no=nis_employer_no,
        name=name,
        isic=isic,
        region=region,
        size_weight=size_weight,
        size_band=size_band,
        formal=formal,
        legal_form=legal_form,
        registered_on=(registered - _EPOCH).astype(np.int32),
        nis_registered_on=(nis_registered - _EPOCH).astype(np.int32),
    )
