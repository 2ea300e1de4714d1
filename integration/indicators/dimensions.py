"""The agreed set of indicator dimensions and their local codes.

Every indicator breaks its figures down by some of these dimensions, each a string
column of the observations holding one of the dimension's codes, ``_T`` for the total
along it. The codes are the hub's own (the schema catalog's code lists, the project's
TVET fields); the SDMX writers map them to the published codelists by the dimension's
``codelist`` id.

An *aggregate* code stands for a group of the dimension's other codes (``Y15-64`` for
the five age bands from 15 to 64); its cells are computed from the records like every
other cell, never summed from published ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from schemas.codelists import CodeLists

#: The code of the total along a dimension.
TOTAL = "_T"
#: The code of the units a dimension does not classify (NULL in a query). Their cells
#: complete every line for disclosure control (the total is the sum of its line) and
#: are never published: the dimensions' codelists have no such code.
UNCODED = "_U"
#: The project's codelist of TVET programme fields (package data of this package).
FIELDS_FILE = "codelists/fields.csv"

AGE_BANDS: tuple[tuple[str, str, int, int | None], ...] = (
    ("Y15-24", "15 to 24 years", 15, 24),
    ("Y25-34", "25 to 34 years", 25, 34),
    ("Y35-44", "35 to 44 years", 35, 44),
    ("Y45-54", "45 to 54 years", 45, 54),
    ("Y55-64", "55 to 64 years", 55, 64),
    ("YGE65", "65 years and over", 65, None),
)


@dataclass(frozen=True)
class LocalDimension:
    """One dimension of the agreed set: its column, its SDMX id and codelist id, and its
    codes (``_T`` last) with their labels."""

    name: str
    sdmx_id: str
    codelist: str
    title: str
    labels: Mapping[str, str]
    #: Aggregate code -> the codes it groups.
    aggregates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code, the aggregates and ``_T`` included, in codelist order."""
        return tuple(self.labels)

    @property
    def base_codes(self) -> tuple[str, ...]:
        """The codes a record can carry: neither an aggregate nor the total."""
        return tuple(c for c in self.labels if c != TOTAL and c not in self.aggregates)

    def __contains__(self, code: object) -> bool:
        return code in self.labels


def _with_total(labels: Mapping[str, str]) -> dict[str, str]:
    return {**labels, TOTAL: "Total"}


def _age_group() -> LocalDimension:
    labels = {code: label for code, label, _, _ in AGE_BANDS}
    labels["Y15-64"] = "15 to 64 years"
    return LocalDimension(
        name="age_group",
        sdmx_id="AGE",
        codelist="CL_AGE",
        title="Age group",
        labels=_with_total(labels),
        aggregates={"Y15-64": tuple(code for code, *_ in AGE_BANDS[:5])},
    )


def field_labels() -> dict[str, str]:
    """The project's TVET fields: the first three letters of a programme code."""
    text = (
        resources.files("integration.indicators").joinpath(FIELDS_FILE).read_text(encoding="utf-8")
    )
    return {row["code"]: row["label"] for row in csv.DictReader(io.StringIO(text))}


@cache
def local_dimensions() -> dict[str, LocalDimension]:
    """The agreed dimensions by column name (read once: immutable reference data)."""
    lists = CodeLists.packaged()
    sections = {k: v for k, v in lists["isic4"].labels.items() if len(k) == 1 and k.isalpha()}
    majors = {k: v for k, v in lists["isco08"].labels.items() if len(k) == 1}
    dims = (
        LocalDimension("sex", "SEX", "CL_SEX", "Sex", _with_total(lists["sex"].labels)),
        _age_group(),
        LocalDimension(
            "region", "REGION", "CL_REGION", "Region", _with_total(lists["region"].labels)
        ),
        LocalDimension(
            "isic_section",
            "ACTIVITY",
            "CL_ISIC4_SECTION",
            "Economic activity (ISIC Rev.4 section)",
            _with_total(dict(sorted(sections.items()))),
        ),
        LocalDimension(
            "isco_major",
            "OCCUPATION",
            "CL_ISCO08_MAJOR",
            "Occupation (ISCO-08 major group)",
            _with_total(dict(sorted(majors.items()))),
        ),
        LocalDimension(
            "field", "FIELD", "CL_TVET_FIELD", "TVET programme field", _with_total(field_labels())
        ),
    )
    return {d.name: d for d in dims}
