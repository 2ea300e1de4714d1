"""What the airlock's checks work on and give back: the layout of a submitted table
(frequency or magnitude), the rules' parameters (ACRO's defaults), and the results —
per rule pass / fail / review with the cells concerned — as :mod:`.outputs` uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from governance.disclosure.errors import OutputInvalid, OutputRulesInvalid

Status = Literal["pass", "fail", "review"]
BoolArray = npt.NDArray[np.bool_]

#: Column names that mark a row-level identifier (compared in lower case).
IDENTIFIER_COLUMNS = frozenset(
    {
        "person_key",
        "person_id",
        "pseudonym",
        "person_pseudonym",
        "project_pseudonym",
        "record_id",
        "national_id",
        "token",
    }
)

# --------------------------------------------------------------------------------------
# Layouts and rule parameters
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrequencyLayout:
    """A table of counts: the count columns are the cells; the label columns identify
    a row (used to pair rows with earlier releases)."""

    count_columns: tuple[str, ...]
    label_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _distinct_names((*self.count_columns, *self.label_columns), need=self.count_columns)

    @property
    def cell_columns(self) -> tuple[str, ...]:
        return self.count_columns

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "frequency",
            "count_columns": list(self.count_columns),
            "label_columns": list(self.label_columns),
        }


@dataclass(frozen=True)
class MagnitudeLayout:
    """A table of sums or means, one cell per row in ``value_column``, with the cell's
    evidence: contributors, largest and second-largest contribution (null or 0 when
    there is none) and, for dominance over n > 2, the sum of the n largest."""

    value_column: str
    statistic: Literal["sum", "mean"] = "sum"
    contributors_column: str = "contributors"
    largest_column: str = "largest"
    second_largest_column: str = "second_largest"
    top_n_sum_column: str | None = None
    label_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.statistic not in ("sum", "mean"):
            raise OutputInvalid("a magnitude table's statistic must be sum or mean")
        _distinct_names((*self.evidence_columns, *self.label_columns), need=(self.value_column,))

    @property
    def cell_columns(self) -> tuple[str, ...]:
        return (self.value_column,)

    @property
    def evidence_columns(self) -> tuple[str, ...]:
        named = (
            self.value_column,
            self.contributors_column,
            self.largest_column,
            self.second_largest_column,
        )
        return named if self.top_n_sum_column is None else (*named, self.top_n_sum_column)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "magnitude",
            "value_column": self.value_column,
            "statistic": self.statistic,
            "contributors_column": self.contributors_column,
            "largest_column": self.largest_column,
            "second_largest_column": self.second_largest_column,
            "top_n_sum_column": self.top_n_sum_column,
            "label_columns": list(self.label_columns),
        }


Layout = FrequencyLayout | MagnitudeLayout


def _distinct_names(names: tuple[str, ...], *, need: tuple[str, ...]) -> None:
    if not need or not all(isinstance(name, str) and name for name in names):
        raise OutputInvalid("the layout must name its cell columns, each a non-empty string")
    if len(set(names)) != len(names):
        raise OutputInvalid("the layout names a column twice")


def layout_from_dict(data: Mapping[str, Any]) -> Layout:
    """A layout from the form :meth:`FrequencyLayout.as_dict` / :meth:`MagnitudeLayout.as_dict`
    give (``kind`` frequency or magnitude)."""
    try:
        spec = {key: value for key, value in data.items() if key != "kind"}
        for key in ("count_columns", "label_columns"):
            if key in spec:
                spec[key] = tuple(spec[key])
        if data.get("kind") == "frequency":
            return FrequencyLayout(**spec)
        if data.get("kind") == "magnitude":
            return MagnitudeLayout(**spec)
    except TypeError as error:
        raise OutputInvalid("the layout has unknown or missing keys") from error
    raise OutputInvalid("the layout's kind must be frequency or magnitude")


@dataclass(frozen=True)
class OutputRules:
    """The rules' parameters; the defaults are ACRO's."""

    threshold: int = 10
    nk_n: int = 2
    nk_k: float = 0.9
    p: float = 0.1
    zero_cells: Literal["allow", "review", "fail"] = "allow"
    identifier_columns: frozenset[str] = IDENTIFIER_COLUMNS

    def __post_init__(self) -> None:
        if self.threshold < 2:
            raise OutputRulesInvalid(f"threshold={self.threshold} is below 2")
        if self.nk_n < 1:
            raise OutputRulesInvalid(f"nk_n={self.nk_n} is below 1")
        if not 0 < self.nk_k <= 1:
            raise OutputRulesInvalid(f"nk_k={self.nk_k} is not in (0, 1]")
        if not 0 < self.p < 1:
            raise OutputRulesInvalid(f"p={self.p} is not in (0, 1)")
        if self.zero_cells not in ("allow", "review", "fail"):
            raise OutputRulesInvalid("zero_cells must be allow, review or fail")

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "nk_n": self.nk_n,
            "nk_k": self.nk_k,
            "p": self.p,
            "zero_cells": self.zero_cells,
            "identifier_columns": sorted(self.identifier_columns),
        }


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """A cell a rule flags: 0-based data row and column (and, for differencing, the
    earlier release it was compared with)."""

    row: int
    column: str
    release: str | None = None

    def as_dict(self) -> dict[str, Any]:
        cell: dict[str, Any] = {"row": self.row, "column": self.column}
        if self.release is not None:
            cell["release"] = self.release
        return cell


@dataclass(frozen=True)
class RuleResult:
    """One rule's verdict, the cells (or whole columns) it flags and a summary."""

    rule: str
    status: Status
    summary: str
    cells: tuple[Cell, ...] = ()
    columns: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "summary": self.summary,
            "cells": [cell.as_dict() for cell in self.cells],
            "columns": list(self.columns),
        }


@dataclass(frozen=True)
class OutputCheck:
    """The automatic checks of one submitted table."""

    outcome: Status
    summary: str
    rules: tuple[RuleResult, ...]
    layout: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def rule(self, name: str) -> RuleResult:
        """The result of the named rule."""
        for result in self.rules:
            if result.rule == name:
                return result
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "summary": self.summary,
            "rules": [rule.as_dict() for rule in self.rules],
            "layout": dict(self.layout),
            "parameters": dict(self.parameters),
        }


def _cells(mask: BoolArray, column: str, release: str | None = None) -> list[Cell]:
    return [Cell(int(row), column, release) for row in np.flatnonzero(mask)]


def _worst(statuses: list[Status]) -> Status:
    if "fail" in statuses:
        return "fail"
    return "review" if "review" in statuses else "pass"
