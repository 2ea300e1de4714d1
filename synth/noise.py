"""Noise an agency's clerks and clients put into person records.

Each kind is applied independently with the rate configured for the agency
(:class:`synth.config.AgencyNoise`); the kinds applied to a record are kept in the
ground truth so measured rates can be checked against the configuration.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from synth import reference
from synth.config import AgencyNoise

TYPO = "typo"
NICKNAME = "nickname"
DOB_SWAP = "dob_swap"
MISSING_ID = "missing_national_id"
NAME_VARIANT = "name_variant"

#: Spellings of the same family name that registers really hold side by side.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "Mohammed": ("Mohamed", "Muhammad", "Mohammad"),
    "Maharaj": ("Maharajh",),
    "Persad": ("Pershad", "Prasad"),
    "Rampersad": ("Rampersaud",),
    "Hosein": ("Hosain", "Hussain"),
    "Ramkissoon": ("Ramkisoon",),
    "Seepersad": ("Seepersaud",),
    "Khan": ("Kahn",),
    "Ali": ("Aly",),
    "Achong": ("Ah Chong",),
    "Gomez": ("Gomes",),
    "Pereira": ("Perreira",),
}


def name_variant(rng: np.random.Generator, family_name: str) -> str:
    """Another accepted spelling: a known variant, or the name without its space or
    hyphen ("De Freitas" -> "DeFreitas"), or else the name in capitals."""
    known = _SPELLINGS.get(family_name)
    if known:
        return known[int(rng.integers(0, len(known)))]
    if " " in family_name or "-" in family_name:
        return family_name.replace(" ", "").replace("-", " ")
    return family_name.upper()


def typo(rng: np.random.Generator, value: str) -> str:
    """One keyboard error: substitute, delete, insert or swap adjacent letters."""
    if len(value) < 2:
        return value + "a"
    i = int(rng.integers(0, len(value) - 1))
    op = int(rng.integers(0, 4))
    letter = string.ascii_lowercase[int(rng.integers(0, 26))]
    if value[i].isupper():
        letter = letter.upper()
    if op == 0:
        out = value[:i] + letter + value[i + 1 :]
    elif op == 1:
        out = value[:i] + value[i + 1 :]
    elif op == 2:
        out = value[:i] + letter + value[i:]
    else:
        out = value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    return out if out != value else value + letter.lower()


def can_swap(dob: date) -> bool:
    return dob.day <= 12 and dob.day != dob.month


@dataclass
class Identity:
    """How a person appears in one agency record, and which noise was applied."""

    national_id: str
    given_name: str
    family_name: str
    date_of_birth: date
    applied: list[str] = field(default_factory=list)
    correct_after: int = 0  # months until the agency corrects the record (0: never)

    def as_values(self) -> dict[str, object]:
        return {
            "national_id": self.national_id or None,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "date_of_birth": self.date_of_birth.isoformat(),
        }


def identity(
    rng: np.random.Generator,
    rates: AgencyNoise,
    *,
    national_id: str,
    given_name: str,
    family_name: str,
    date_of_birth: date,
) -> Identity:
    """The person's identity as recorded, with noise drawn at the configured rates."""
    out = Identity(national_id, given_name, family_name, date_of_birth)
    draws = rng.random(6)
    nicks = reference.nicknames().get(given_name)
    if nicks and draws[0] < rates.nickname:
        out.given_name = nicks[int(rng.integers(0, len(nicks)))]
        out.applied.append(NICKNAME)
    if draws[5] < rates.name_variant:
        out.family_name = name_variant(rng, out.family_name)
        out.applied.append(NAME_VARIANT)
    if draws[1] < rates.typo:
        if rng.random() < 0.5:
            out.family_name = typo(rng, out.family_name)
        else:
            out.given_name = typo(rng, out.given_name)
        out.applied.append(TYPO)
    if can_swap(date_of_birth) and draws[2] < rates.dob_swap:
        out.date_of_birth = date(date_of_birth.year, date_of_birth.day, date_of_birth.month)
        out.applied.append(DOB_SWAP)
    if draws[3] < rates.missing_national_id:
        out.national_id = ""
        out.applied.append(MISSING_ID)
    if out.applied and draws[4] < rates.late_correction:
        out.correct_after = int(rng.integers(1, 4))
    return out
