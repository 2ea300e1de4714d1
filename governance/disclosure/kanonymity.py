"""k-anonymity of micro-data extracts: generalisation of quasi-identifiers, then local
suppression until every equivalence class holds at least k records.

A project's :class:`DisclosurePlan` is data (stored as JSON in the project application):
the quasi-identifier columns, k (never below :data:`MIN_K`) and how columns are
generalised — ``band`` (an integer to aligned bands, "1980-1984", with optional bottom
and top coding "<1940", "65+"), ``month`` / ``year`` (a date or timestamp to "2024-03" /
"2024") and ``group`` (categories rarer than ``min_count`` merged into one label, an
explicit mapping, or a code hierarchy truncated to its first digits). A generalised
column holds text labels.

:func:`anonymise` applies the generalisations, then enforces k by local suppression.
An equivalence class is the set of records sharing every quasi-identifier value; a null
counts as a value of its own, so a suppressed value only ever joins the records whose
value was already missing (conservative: a null is never taken to match anything). The
greedy suppression, entirely vectorised:

1. Columns are ranked by their number of distinct values after generalisation (most
   first; ties in the plan's order): the most varied column is the likeliest cause of a
   rare combination.
2. A pass over the columns in that order: for the records still in classes smaller than
   k, null the column's value where that alone puts the record in a class of at least k
   (computed with all those records nulled at once; a record whose class reaches k this
   way keeps the null, the others keep their value). Every record of a class that
   reaches k commits together, so the classes computed are the classes that result.
3. Records no single further null can rescue lose their value in the highest-ranked
   column they still have, and the pass runs again.
4. A record left with every quasi-identifier null, in a class still smaller than k, is
   dropped (the last resort).

Safe classes are never split (suppression only moves rare records into other classes),
so the loop ends after at most one round per quasi-identifier, and the result is the
same for the same input. The :class:`KAnonymityReport` states k before and after,
records dropped, values suppressed per column and the generalisations applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from governance.disclosure.errors import KTooSmall, PlanInvalid
from governance.disclosure.generalisation import (
    _DENSE_SPAN,
    Band,
    BoolArray,
    Generalisation,
    IntArray,
    MergeRare,
    Period,
    Regroup,
    Truncate,
    _decoded,
    _dense,
    _distinct,
    _integer,
    _only_keys,
    _text,
    generalisation_from_dict,
)

#: The generalisations are defined in :mod:`governance.disclosure.generalisation`;
#: they are named here too, as the plan's parts.
__all__ = [
    "MIN_K",
    "Band",
    "DisclosurePlan",
    "Generalisation",
    "KAnonymityReport",
    "MergeRare",
    "Period",
    "Regroup",
    "Truncate",
    "anonymise",
    "class_sizes",
    "generalisation_from_dict",
    "generalise",
    "k_achieved",
]

#: The smallest k any extract may have; a plan may ask for more, never less.
MIN_K = 5


@dataclass(frozen=True)
class DisclosurePlan:
    """What an extract must satisfy: k over the quasi-identifier columns, after the
    generalisations (at most one per column)."""

    quasi_identifiers: tuple[str, ...]
    k: int = MIN_K
    generalisations: tuple[Generalisation, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int):
            raise PlanInvalid("k must be an integer")
        if self.k < MIN_K:
            raise KTooSmall(f"k={self.k} is below the minimum of {MIN_K}", k=self.k)
        if not self.quasi_identifiers:
            raise PlanInvalid("the plan names no quasi-identifier")
        if len(set(self.quasi_identifiers)) != len(self.quasi_identifiers):
            raise PlanInvalid("the plan names a quasi-identifier twice")
        columns = [g.column for g in self.generalisations]
        if len(set(columns)) != len(columns):
            raise PlanInvalid("the plan generalises a column twice")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DisclosurePlan:
        """The plan from its stored form: ``{"k": 5, "quasi_identifiers": [...],
        "generalise": {column: {"kind": ..., ...}}}``."""
        if not isinstance(data, Mapping):
            raise PlanInvalid("the disclosure plan must be an object")
        _only_keys(data, {"k", "quasi_identifiers", "generalise"}, "the disclosure plan")
        k = _integer(data.get("k", MIN_K), "k")
        names = data.get("quasi_identifiers")
        if not isinstance(names, Sequence) or isinstance(names, str):
            raise PlanInvalid("quasi_identifiers must be a list of column names")
        generalise = data.get("generalise", {})
        if not isinstance(generalise, Mapping):
            raise PlanInvalid("generalise must map column names to generalisations")
        return cls(
            quasi_identifiers=tuple(_text(name, "a quasi-identifier") for name in names),
            k=k,
            generalisations=tuple(
                generalisation_from_dict(_text(column, "a generalised column"), spec)
                for column, spec in generalise.items()
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "quasi_identifiers": list(self.quasi_identifiers),
            "generalise": {g.column: g.as_dict() for g in self.generalisations},
        }


# --------------------------------------------------------------------------------------
# Equivalence classes
# --------------------------------------------------------------------------------------


def _column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        raise PlanInvalid(f"the extract has no column {name!r}", column=name)
    if table.schema.get_field_index(name) < 0:
        raise PlanInvalid(f"the extract has more than one column {name!r}", column=name)
    return _decoded(table.column(name))


def _codes(array: pa.Array) -> tuple[IntArray, int]:
    """Dense integer codes of a column's values, a null coded as a value of its own
    (the last code); returns the codes and their number."""
    encoded = array.dictionary_encode()
    missing = len(encoded.dictionary)
    codes = np.asarray(encoded.indices.fill_null(missing).to_numpy(), dtype=np.int64)
    return codes, missing + 1


def _weights(radices: Sequence[int]) -> list[int] | None:
    """Mixed-radix weights making ``sum(code * weight)`` a unique key of a combination,
    or None when the combinations outnumber a 64-bit key."""
    weights = [1] * len(radices)
    for i in range(len(radices) - 2, -1, -1):
        weights[i] = weights[i + 1] * radices[i + 1]
    return weights if not radices or weights[0] * radices[0] < 2**62 else None


def _combined(codes: Sequence[IntArray], radices: Sequence[int], rows: int) -> IntArray:
    """One integer key per row naming its combination of codes (≥ 0)."""
    weights = _weights(radices)
    if weights is not None:
        key = np.zeros(rows, dtype=np.int64)
        for column_codes, weight in zip(codes, weights, strict=True):
            key += column_codes * weight
        return key
    key = np.zeros(rows, dtype=np.int64)
    span = 1
    for column_codes, radix in zip(codes, radices, strict=True):
        if span * radix >= 2**62:  # renumber the combinations seen so far
            key = _distinct(key)[1]
            span = int(key.max()) + 1 if rows else 1
        key = key * radix + column_codes
        span *= radix
    return key


def _sizes(key: IntArray) -> IntArray:
    """The size of each row's class."""
    if key.size == 0:
        return np.zeros(0, dtype=np.int64)
    if _dense(key):
        low = int(key.min())
        return np.asarray(np.bincount(key - low)[key - low], dtype=np.int64)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return np.asarray(counts[inverse.reshape(-1)], dtype=np.int64)


def _class_count(key: IntArray) -> int:
    return int(_distinct(key)[0].size)


def _encoded(table: pa.Table, quasi_identifiers: Iterable[str]) -> tuple[list[IntArray], list[int]]:
    codes: list[IntArray] = []
    radices: list[int] = []
    for name in quasi_identifiers:
        array = _column(table, name)
        if pa.types.is_nested(array.type):
            raise PlanInvalid(f"quasi-identifier {name!r} is not a simple column", column=name)
        column_codes, radix = _codes(array)
        codes.append(column_codes)
        radices.append(radix)
    return codes, radices


def class_sizes(table: pa.Table, quasi_identifiers: Sequence[str]) -> IntArray:
    """For each row, the number of rows sharing all its quasi-identifier values (a null
    is a value of its own)."""
    codes, radices = _encoded(table, quasi_identifiers)
    return _sizes(_combined(codes, radices, table.num_rows))


def k_achieved(table: pa.Table, quasi_identifiers: Sequence[str]) -> int:
    """The smallest equivalence class over the quasi-identifiers (0 for no rows)."""
    sizes = class_sizes(table, quasi_identifiers)
    return int(sizes.min()) if sizes.size else 0


# --------------------------------------------------------------------------------------
# Generalisation and suppression
# --------------------------------------------------------------------------------------


def generalise(table: pa.Table, plan: DisclosurePlan) -> pa.Table:
    """The table with each generalised column replaced by its labels."""
    for name in plan.quasi_identifiers:
        _column(table, name)
    for generalisation in plan.generalisations:
        array = _column(table, generalisation.column)
        if not generalisation.fits(array.type):
            raise PlanInvalid(
                f"column {generalisation.column!r} of type {array.type} cannot be generalised "
                f"as {generalisation.as_dict()['kind']}"
                + (" (it must be text)" if isinstance(generalisation, Truncate) else ""),
                column=generalisation.column,
            )
        index = table.schema.get_field_index(generalisation.column)
        table = table.set_column(index, generalisation.column, generalisation.apply(array))
    return table


@dataclass(frozen=True)
class KAnonymityReport:
    """What :func:`anonymise` did, for the project's records and the researcher."""

    k_requested: int
    #: Smallest class after generalisation, before any suppression.
    k_before: int
    #: Smallest class of the table returned (``k_before`` for a check only); 0: no rows.
    k_achieved: int
    check_only: bool
    rows_in: int
    rows_out: int
    records_dropped: int
    #: Records in classes smaller than k after generalisation, before suppression.
    records_below_k_before: int
    #: Values nulled by suppression, per quasi-identifier (pre-existing nulls aside).
    values_suppressed: Mapping[str, int] = field(default_factory=dict)
    #: Column -> the generalisation applied, in the plan's stored form.
    generalised: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Equivalence classes in the table returned.
    equivalence_classes: int = 0

    @property
    def satisfied(self) -> bool:
        """Whether every class of the table returned holds at least k records."""
        return self.rows_out == 0 or self.k_achieved >= self.k_requested

    def as_dict(self) -> dict[str, Any]:
        return {
            "k_requested": self.k_requested,
            "k_before": self.k_before,
            "k_achieved": self.k_achieved,
            "satisfied": self.satisfied,
            "check_only": self.check_only,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "records_dropped": self.records_dropped,
            "records_below_k_before": self.records_below_k_before,
            "values_suppressed": dict(self.values_suppressed),
            "generalised": {column: dict(spec) for column, spec in self.generalised.items()},
            "equivalence_classes": self.equivalence_classes,
        }


class _Combinations:
    """The coded quasi-identifiers of every row, each row's combination key and (when
    the combinations fit an array) the number of rows per key, kept up to date as values
    are nulled, so that trying a null on a few rows costs in proportion to those rows."""

    def __init__(self, codes: list[IntArray], radices: list[int]) -> None:
        self.codes = codes
        self.radices = radices
        self.nulls = [radix - 1 for radix in radices]
        self.rows = codes[0].size
        self.weights = _weights(radices)
        self.key = _combined(codes, radices, self.rows)
        span = 0 if self.weights is None else self.weights[0] * radices[0]
        dense = 0 < span <= max(4 * self.rows, _DENSE_SPAN)
        self.counts = np.bincount(self.key, minlength=span) if dense else None

    def sizes(self) -> IntArray:
        """The size of every row's class."""
        if self.counts is None:
            return _sizes(self.key)
        return np.asarray(self.counts[self.key], dtype=np.int64)

    def sizes_if_nulled(self, column: int, among: IntArray) -> IntArray:
        """The class sizes of the rows ``among`` were ``column`` nulled in all of them."""
        codes, null = self.codes[column], self.nulls[column]
        if self.counts is None or self.weights is None:
            nulled = codes.copy()
            nulled[among] = null
            trial_codes = [*self.codes[:column], nulled, *self.codes[column + 1 :]]
            return _sizes(_combined(trial_codes, self.radices, self.rows))[among]
        moved = codes[among] != null
        trial = self.key[among] + np.where(moved, (null - codes[among]) * self.weights[column], 0)
        # rows already at a trial key, plus the moved rows arriving there (a moved row
        # leaves a key whose value in ``column`` is not null, so no trial key loses one)
        arriving, arrivals = np.unique(trial[moved], return_counts=True)
        at = np.minimum(np.searchsorted(arriving, trial), max(arriving.size - 1, 0))
        joined = np.where(arriving.size and arriving[at] == trial, arrivals[at], 0)
        return np.asarray(self.counts[trial] + joined, dtype=np.int64)

    def null(self, column: int, rows: IntArray) -> None:
        """Null ``column`` in ``rows``."""
        codes, null = self.codes[column], self.nulls[column]
        if self.weights is None:
            codes[rows] = null
            self.key = _combined(self.codes, self.radices, self.rows)
            return
        old = self.key[rows]
        new = old + (null - codes[rows]) * self.weights[column]
        if self.counts is not None:
            np.subtract.at(self.counts, old, 1)
            np.add.at(self.counts, new, 1)
        self.key[rows] = new
        codes[rows] = null


def _suppress(combinations: _Combinations, k: int) -> tuple[list[BoolArray], BoolArray]:
    """The greedy local suppression of the module docstring (``combinations`` change in
    place). Returns the nulled cells per column and the rows to drop."""
    codes, nulls, rows = combinations.codes, combinations.nulls, combinations.rows
    distinct = [
        radix - 1 + int(np.any(column == null))
        for column, radix, null in zip(codes, combinations.radices, nulls, strict=True)
    ]
    order = sorted(range(len(codes)), key=lambda i: (-distinct[i], i))
    suppressed = [np.zeros(rows, dtype=np.bool_) for _ in codes]

    def null(column: int, where: IntArray) -> None:
        combinations.null(column, where)
        suppressed[column][where] = True

    for _ in range(len(codes) + 1):
        unresolved = np.flatnonzero(combinations.sizes() < k)
        for i in order:  # a pass: one more null where it alone reaches k
            if not unresolved.size:
                break
            candidate = codes[i][unresolved] != nulls[i]
            if not candidate.any():
                continue
            reached = combinations.sizes_if_nulled(i, unresolved) >= k
            null(i, unresolved[reached & candidate])
            unresolved = unresolved[~reached]
        if not unresolved.size:
            continue
        present = np.stack([codes[i][unresolved] != nulls[i] for i in order])  # rank order
        if not present.any():  # all null and still rare: the last resort
            dropped = np.zeros(rows, dtype=np.bool_)
            dropped[unresolved] = True
            return suppressed, dropped
        first = np.argmax(present, axis=0)
        for rank, i in enumerate(order):
            null(i, unresolved[(first == rank) & present[rank]])
    # after a round per column every rare row is all null: drop those still rare
    return suppressed, combinations.sizes() < k


def anonymise(
    table: pa.Table, plan: DisclosurePlan, *, check_only: bool = False
) -> tuple[pa.Table, KAnonymityReport]:
    """The extract generalised and made k-anonymous over the plan's quasi-identifiers
    by local suppression (nulls), dropping records only as the last resort; row order
    is kept. With ``check_only`` the generalised table is returned unsuppressed and the
    report gives k as it stands."""
    generalised = generalise(table, plan)
    codes, radices = _encoded(generalised, plan.quasi_identifiers)
    rows = generalised.num_rows
    combinations = _Combinations(codes, radices)
    key = combinations.key
    sizes = combinations.sizes()
    k_before = int(sizes.min()) if rows else 0
    below = int(np.count_nonzero(sizes < plan.k))
    described = {g.column: g.as_dict() for g in plan.generalisations}
    if check_only or below == 0:
        return generalised, KAnonymityReport(
            k_requested=plan.k,
            k_before=k_before,
            k_achieved=k_before,
            check_only=check_only,
            rows_in=rows,
            rows_out=rows,
            records_dropped=0,
            records_below_k_before=below,
            values_suppressed={name: 0 for name in plan.quasi_identifiers},
            generalised=described,
            equivalence_classes=_class_count(key),
        )
    suppressed, dropped = _suppress(combinations, plan.k)
    result = generalised
    for name, mask in zip(plan.quasi_identifiers, suppressed, strict=True):
        if mask.any():
            index = result.schema.get_field_index(name)
            column = result.column(name)  # its type kept, a dictionary's too
            nulled = pc.if_else(pa.array(mask), pa.scalar(None, column.type), column)
            result = result.set_column(index, name, nulled)
    keep = ~dropped
    if dropped.any():
        result = result.filter(pa.array(keep))
    final_key = combinations.key[keep]
    final_sizes = _sizes(final_key)
    return result, KAnonymityReport(
        k_requested=plan.k,
        k_before=k_before,
        k_achieved=int(final_sizes.min()) if final_sizes.size else 0,
        check_only=False,
        rows_in=rows,
        rows_out=int(np.count_nonzero(keep)),
        records_dropped=int(np.count_nonzero(dropped)),
        records_below_k_before=below,
        values_suppressed={
            name: int(np.count_nonzero(mask & keep))
            for name, mask in zip(plan.quasi_identifiers, suppressed, strict=True)
        },
        generalised=described,
        equivalence_classes=_class_count(final_key),
    )
