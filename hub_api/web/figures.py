"""A published flow's figures, for the public pages: read from the release's SDMX-JSON
data message (codes with their names, the observation status, the confidentiality
status and the standard error), then cut to what a page shows: one period, one
breakdown, the other dimensions held at a chosen code (their total by default).

Pure functions over the published bytes; the pages read the file, these shape it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Codes that stand for "every value" of a dimension in the package's codelists.
TOTAL_SUFFIXES = ("_T", "_TOTAL", "_TOT")
SUPPRESSED_STATUS = "Q"


@dataclass(frozen=True)
class Code:
    id: str
    name: str


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    codes: tuple[Code, ...]

    def total(self) -> str | None:
        for code in self.codes:
            if code.id.endswith(TOTAL_SUFFIXES) or code.name == "Total":
                return code.id
        return None

    def name_of(self, code: str) -> str:
        return next((c.name for c in self.codes if c.id == code), code)


@dataclass(frozen=True)
class Observation:
    key: tuple[str, ...]  # a code per dimension, in the flow's order (time period last)
    value: float | None  # None where suppressed or missing
    status: str  # OBS_STATUS: A normal, Q suppressed
    confidentiality: str  # CONF_STATUS: F free, C primary, D secondary
    std_error: float | None

    @property
    def suppressed(self) -> bool:
        return self.status == SUPPRESSED_STATUS or self.value is None


@dataclass(frozen=True)
class FlowFigures:
    flow: str
    name: str
    dimensions: tuple[Dimension, ...]  # without TIME_PERIOD
    periods: tuple[str, ...]
    observations: tuple[Observation, ...]
    status_names: Mapping[str, str]
    confidentiality_names: Mapping[str, str]

    def dimension(self, dim_id: str) -> Dimension:
        for d in self.dimensions:
            if d.id == dim_id:
                return d
        raise KeyError(dim_id)

    def defaults(self) -> dict[str, str]:
        """Each dimension at its total, or its first code when it has none."""
        return {d.id: d.total() or d.codes[0].id for d in self.dimensions if d.codes}

    def selection(self, asked: Mapping[str, str]) -> dict[str, str]:
        """``asked`` where it names a code the dimension has, else the default."""
        out = self.defaults()
        for d in self.dimensions:
            if asked.get(d.id) in {c.id for c in d.codes}:
                out[d.id] = asked[d.id]
        return out

    def cell(self, codes: Mapping[str, str], period: str) -> Observation | None:
        key = (*(codes.get(d.id, "") for d in self.dimensions), period)
        return self._index().get(key)

    def breakdown(
        self, by: str, fixed: Mapping[str, str], period: str
    ) -> list[tuple[Code, Observation | None]]:
        """Every code of dimension ``by`` at ``period``, the others held at ``fixed``."""
        dim = self.dimension(by)
        return [(code, self.cell({**fixed, by: code.id}, period)) for code in dim.codes]

    def series(self, fixed: Mapping[str, str]) -> list[tuple[str, Observation | None]]:
        return [(p, self.cell(fixed, p)) for p in self.periods]

    def headline(self) -> tuple[str, Observation] | None:
        """The latest period's figure at every dimension's total, if it is published."""
        defaults = self.defaults()
        if any(d.total() is None for d in self.dimensions):
            return None
        for period in reversed(self.periods):
            found = self.cell(defaults, period)
            if found is not None and not found.suppressed:
                return period, found
        return None

    def _index(self) -> dict[tuple[str, ...], Observation]:
        cached: dict[tuple[str, ...], Observation] | None = self.__dict__.get("_by_key")
        if cached is None:
            cached = {o.key: o for o in self.observations}
            object.__setattr__(self, "_by_key", cached)
        return cached


def _codes(component: Mapping[str, Any]) -> tuple[Code, ...]:
    return tuple(
        Code(str(v.get("id", "")), str(v.get("name", v.get("id", "")))) for v in component["values"]
    )


def read_sdmx_json(data: bytes, flow: str) -> FlowFigures:
    """The figures of an SDMX-JSON data message the hub published (one data set,
    observation-level dimensions and attributes)."""
    message = json.loads(data)
    structure = message["structure"]
    observed = structure["dimensions"]["observation"]
    dims = [Dimension(c["id"], c.get("name", c["id"]), _codes(c)) for c in observed]
    time_pos = next((i for i, c in enumerate(observed) if c["id"] == "TIME_PERIOD"), len(dims) - 1)
    periods = tuple(c.id for c in dims[time_pos].codes)
    attributes = structure.get("attributes", {}).get("observation", [])
    names = [a["id"] for a in attributes]
    values = [[v.get("id", v.get("name")) for v in a.get("values", [])] for a in attributes]
    labels = {
        a["id"]: {v.get("id"): v.get("name", "") for v in a.get("values", [])} for a in attributes
    }
    out: list[Observation] = []
    for key, row in message["dataSets"][0].get("observations", {}).items():
        idx = [int(i) for i in key.split(":")]
        codes = [dims[n].codes[i].id for n, i in enumerate(idx)]
        attrs: dict[str, str | None] = {}
        for n, name in enumerate(names):
            pos = row[n + 1] if n + 1 < len(row) else None
            attrs[name] = values[n][pos] if pos is not None else None
        time = codes.pop(time_pos)
        error = attrs.get("STD_ERROR")
        out.append(
            Observation(
                key=(*codes, time),
                value=None if row[0] is None else float(row[0]),
                status=attrs.get("OBS_STATUS") or "A",
                confidentiality=attrs.get("CONF_STATUS") or "F",
                std_error=float(error) if error not in (None, "") else None,
            )
        )
    return FlowFigures(
        flow=flow,
        name=str(structure.get("name", flow)),
        dimensions=tuple(d for i, d in enumerate(dims) if i != time_pos),
        periods=periods,
        observations=tuple(out),
        status_names=labels.get("OBS_STATUS", {}),
        confidentiality_names=labels.get("CONF_STATUS", {}),
    )
