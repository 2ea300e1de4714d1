"""The generator's configuration: a pydantic model with defaults, loadable from YAML.

Every default is fixed (no "today"), so the same seed and configuration always give
the same nation.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from synth.errors import SynthConfigError


class Region(BaseModel):
    """A region of the island state with its code and relative population."""

    code: str = Field(min_length=2, max_length=8)
    name: str
    weight: float = Field(gt=0, description="Relative population (any scale).")


# Trinidad and Tobago's 14 municipal (regional) corporations and Tobago; weights are
# the 2011 census populations in thousands, rounded.
DEFAULT_REGIONS: tuple[Region, ...] = tuple(
    Region(code=c, name=n, weight=w)
    for c, n, w in (
        ("POS", "City of Port of Spain", 37),
        ("SFO", "City of San Fernando", 48),
        ("ARI", "Borough of Arima", 33),
        ("CHA", "Borough of Chaguanas", 83),
        ("PTF", "Borough of Point Fortin", 20),
        ("DMN", "Diego Martin", 102),
        ("SJL", "San Juan–Laventille", 157),
        ("TUP", "Tunapuna–Piarco", 215),
        ("SGE", "Sangre Grande", 75),
        ("CTT", "Couva–Tabaquite–Talparo", 178),
        ("PRT", "Princes Town", 102),
        ("PED", "Penal–Debe", 89),
        ("SIP", "Siparia", 86),
        ("MRC", "Mayaro–Rio Claro", 35),
        ("THA", "Tobago", 61),
    )
)


class AgencyNoise(BaseModel):
    """How dirty one agency's person records are. Rates are shares of records."""

    typo: float = Field(0.03, ge=0, le=1, description="One-character error in a name.")
    nickname: float = Field(
        0.05, ge=0, le=1, description="Given name recorded as a nickname (where one exists)."
    )
    name_variant: float = Field(
        0.03,
        ge=0,
        le=1,
        description="Family name in another accepted spelling (Mohammed/Mohamed, "
        "De Freitas/DeFreitas, capitals).",
    )
    dob_swap: float = Field(
        0.02,
        ge=0,
        le=1,
        description="Day and month of birth transposed (among dates where both are <= 12 "
        "and differ).",
    )
    missing_national_id: float = Field(0.05, ge=0, le=1, description="National ID left blank.")
    duplicate: float = Field(
        0.02, ge=0, le=1, description="Person registered a second time under a new record."
    )
    late_correction: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of records carrying an introduced error that the agency corrects "
        "one to three months later (a later updated_at).",
    )


def _noise(**overrides: float) -> AgencyNoise:
    return AgencyNoise.model_validate(overrides)


class NoiseConfig(BaseModel):
    """Noise per agency (the NSO survey carries no identifiers, so it has none)."""

    nis: AgencyNoise = Field(
        default_factory=lambda: _noise(typo=0.01, nickname=0.01, missing_national_id=0.01)
    )
    tvet: AgencyNoise = Field(default_factory=lambda: _noise(missing_national_id=0.08))
    dol: AgencyNoise = Field(
        default_factory=lambda: _noise(typo=0.05, nickname=0.08, missing_national_id=0.15)
    )
    jobboard: AgencyNoise = Field(
        default_factory=lambda: _noise(
            typo=0.06, nickname=0.12, dob_swap=0.04, missing_national_id=0.6, duplicate=0.06
        )
    )


class SynthConfig(BaseModel):
    """Everything that shapes a synthetic nation."""

    seed: int = Field(20240101, ge=0)
    persons: int = Field(20_000, ge=100, le=5_000_000)
    start: date = Field(date(2024, 1, 1), description="First day of the first month.")
    months: int = Field(24, ge=1, le=240)
    regions: list[Region] = Field(default_factory=lambda: list(DEFAULT_REGIONS), min_length=1)
    employers_per_1000_persons: float = Field(40.0, gt=0)
    informal_employer_share: float = Field(
        0.15, ge=0, le=1, description="Employers not registered with the NIS."
    )
    lfs_household_sample: float = Field(
        0.08, gt=0, le=1, description="Share of households the quarterly LFS visits."
    )
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    names: Literal["realistic", "compact"] = Field(
        "realistic",
        description="Name pools: 'realistic', thousands of family and given names per "
        "origin with long-tailed frequencies (synth/data/names_long.csv), or 'compact', "
        "the 192 family and 186 given names of synth/data/names.csv that nations made "
        "before this option drew from (far more persons share a name and birth year).",
    )

    @property
    def first_month(self) -> date:
        return self.start.replace(day=1)


def load_config(path: Path | None, **overrides: object) -> SynthConfig:
    """The configuration from a YAML file (or the defaults), with explicit overrides."""
    data: dict[str, object] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SynthConfigError(f"{path}: cannot read the YAML file: {exc}") from exc
        if not isinstance(loaded, dict):
            raise SynthConfigError(f"{path}: expected a mapping at the top level")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return SynthConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SynthConfigError(f"{path or 'settings'}: field {where}: {err['msg']}") from exc
