"""Generalisations of quasi-identifiers for k-anonymity, and how a disclosure plan
stores them: ``band`` (an integer to aligned bands, "1980-1984", with optional bottom and
top coding), ``month`` / ``year`` (a date or timestamp to "2024-03" / "2024") and
``group`` (categories rarer than ``min_count`` merged, an explicit mapping, or a code
hierarchy truncated to its first digits). A generalised column holds text labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from governance.disclosure.errors import PlanInvalid

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# --------------------------------------------------------------------------------------
# Generalisations
# --------------------------------------------------------------------------------------


def _decoded(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """One contiguous array, a dictionary column decoded to its values."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    return array


def _is_text(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


def _as_text(array: pa.Array) -> pa.Array:
    return array if pa.types.is_string(array.type) else array.cast(pa.string())


#: Keys spanning up to this many values (or four per row) are counted in an array.
_DENSE_SPAN = 1 << 22


def _dense(keys: IntArray) -> bool:
    return bool(keys.size) and int(keys.max()) - int(keys.min()) < max(4 * keys.size, _DENSE_SPAN)


def _distinct(keys: IntArray) -> tuple[IntArray, IntArray]:
    """The sorted distinct keys and each row's index among them (``np.unique`` with
    ``return_inverse``, in linear time when the keys span a small range)."""
    if not _dense(keys):
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse.reshape(-1).astype(np.int64)
    low = int(keys.min())
    shifted = keys - low
    present = np.zeros(int(shifted.max()) + 1, dtype=np.bool_)
    present[shifted] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present).astype(np.int64) + low, rank[shifted]


def _labelled(keys: IntArray, valid: BoolArray, label: Callable[[int], str]) -> pa.Array:
    """Text labels for integer keys, formatted once per distinct key (not per row)."""
    distinct, inverse = _distinct(keys)
    labels = pa.array([label(int(key)) for key in distinct], type=pa.string())
    return labels.take(pa.array(inverse.reshape(-1), mask=~valid))


@dataclass(frozen=True)
class Band:
    """An integer column to bands of ``width`` aligned to multiples of the width
    ("1980-1984"); values below ``bottom`` become "<bottom", values at or above ``top``
    become "top+". Both must be multiples of the width so no band is cut."""

    column: str
    width: int
    bottom: int | None = None
    top: int | None = None

    def __post_init__(self) -> None:
        if self.width < 1:
            raise PlanInvalid(f"the band width of column {self.column!r} must be at least 1")
        for name, bound in (("bottom", self.bottom), ("top", self.top)):
            if bound is not None and bound % self.width:
                raise PlanInvalid(
                    f"the {name} code of column {self.column!r} must be a multiple of its "
                    f"band width {self.width}"
                )
        if self.bottom is not None and self.top is not None and self.bottom >= self.top:
            raise PlanInvalid(f"the bottom code of column {self.column!r} is not below its top")

    def fits(self, data_type: pa.DataType) -> bool:
        return bool(pa.types.is_integer(data_type))

    def apply(self, array: pa.Array) -> pa.Array:
        valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        values = np.asarray(array.cast(pa.int64()).fill_null(0).to_numpy(), dtype=np.int64)
        keys = np.floor_divide(values, self.width) * self.width
        if self.bottom is not None:
            keys = np.where(values < self.bottom, self.bottom - self.width, keys)
        if self.top is not None:
            keys = np.where(values >= self.top, self.top, keys)
        return _labelled(keys, valid, self.label)

    def label(self, start: int) -> str:
        if self.bottom is not None and start < self.bottom:
            return f"<{self.bottom}"
        if self.top is not None and start >= self.top:
            return f"{self.top}+"
        if self.width == 1:
            return str(start)
        return f"{start}-{start + self.width - 1}"

    def as_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"kind": "band", "width": self.width}
        if self.bottom is not None:
            spec["bottom"] = self.bottom
        if self.top is not None:
            spec["top"] = self.top
        return spec


@dataclass(frozen=True)
class Period:
    """A date or timestamp column to its month ("2024-03") or year ("2024"); a timestamp
    with a time zone is read in that zone."""

    column: str
    unit: Literal["month", "year"]

    def fits(self, data_type: pa.DataType) -> bool:
        return bool(pa.types.is_date(data_type) or pa.types.is_timestamp(data_type))

    def apply(self, array: pa.Array) -> pa.Array:
        valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        years = np.asarray(pc.year(array).fill_null(0).to_numpy(), dtype=np.int64)
        if self.unit == "year":
            return _labelled(years, valid, lambda year: f"{year:04d}")
        months = np.asarray(pc.month(array).fill_null(1).to_numpy(), dtype=np.int64)
        keys = years * 12 + months - 1
        return _labelled(keys, valid, lambda key: f"{key // 12:04d}-{key % 12 + 1:02d}")

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.unit}


@dataclass(frozen=True)
class MergeRare:
    """Categories held by fewer than ``min_count`` records of the extract merged into
    one ``label`` (a category already called so is merged with them)."""

    column: str
    min_count: int
    label: str = "other"

    def __post_init__(self) -> None:
        if self.min_count < 2:
            raise PlanInvalid(f"the min_count of column {self.column!r} must be at least 2")

    def fits(self, data_type: pa.DataType) -> bool:
        return _is_text(data_type) or bool(pa.types.is_integer(data_type))

    def apply(self, array: pa.Array) -> pa.Array:
        text = _as_text(array)
        counts = pc.value_counts(text)
        values, frequencies = counts.field("values"), counts.field("counts")
        rare = values.filter(pc.and_(pc.less(frequencies, self.min_count), values.is_valid()))
        return pc.if_else(pc.is_in(text, value_set=rare), self.label, text)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "group", "min_count": self.min_count, "label": self.label}


@dataclass(frozen=True)
class Regroup:
    """Categories relabelled by an explicit mapping (small regions into larger ones);
    a category the mapping does not name keeps its value."""

    column: str
    mapping: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not self.mapping:
            raise PlanInvalid(f"the mapping of column {self.column!r} is empty")
        if len({source for source, _ in self.mapping}) != len(self.mapping):
            raise PlanInvalid(f"the mapping of column {self.column!r} names a category twice")

    def fits(self, data_type: pa.DataType) -> bool:
        return _is_text(data_type) or bool(pa.types.is_integer(data_type))

    def apply(self, array: pa.Array) -> pa.Array:
        text = _as_text(array)
        sources = pa.array([source for source, _ in self.mapping], type=pa.string())
        targets = pa.array([target for _, target in self.mapping], type=pa.string())
        mapped = targets.take(pc.index_in(text, value_set=sources))
        return pc.coalesce(mapped, text)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "group", "mapping": dict(self.mapping)}


@dataclass(frozen=True)
class Truncate:
    """A hierarchical code (ISCO-08 "2512") cut to its first ``length`` characters
    ("25"); the code must be text so leading zeros survive."""

    column: str
    length: int

    def __post_init__(self) -> None:
        if self.length < 1:
            raise PlanInvalid(f"the truncation of column {self.column!r} must keep a character")

    def fits(self, data_type: pa.DataType) -> bool:
        return _is_text(data_type)

    def apply(self, array: pa.Array) -> pa.Array:
        return pc.utf8_slice_codeunits(_as_text(array), start=0, stop=self.length)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": "group", "truncate": self.length}


Generalisation = Band | Period | MergeRare | Regroup | Truncate


# --------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanInvalid(f"{where} must be an integer")
    return value


def _optional_integer(value: Any, where: str) -> int | None:
    return None if value is None else _integer(value, where)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise PlanInvalid(f"{where} must be a non-empty string")
    return value


def _only_keys(spec: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise PlanInvalid(f"{where} has unknown keys: {', '.join(unknown)}")


def generalisation_from_dict(column: str, spec: Mapping[str, Any]) -> Generalisation:
    """One generalisation from its stored form, e.g. ``{"kind": "band", "width": 5}``."""
    where = f"the generalisation of column {column!r}"
    if not isinstance(spec, Mapping):
        raise PlanInvalid(f"{where} must be an object")
    kind = spec.get("kind")
    if kind == "band":
        _only_keys(spec, {"kind", "width", "bottom", "top"}, where)
        return Band(
            column,
            _integer(spec.get("width"), f"the band width of column {column!r}"),
            bottom=_optional_integer(spec.get("bottom"), f"the bottom of column {column!r}"),
            top=_optional_integer(spec.get("top"), f"the top of column {column!r}"),
        )
    if kind in ("month", "year"):
        _only_keys(spec, {"kind"}, where)
        return Period(column, "month" if kind == "month" else "year")
    if kind == "group":
        ways = [key for key in ("min_count", "mapping", "truncate") if key in spec]
        if len(ways) != 1:
            raise PlanInvalid(f"{where} needs exactly one of min_count, mapping, truncate")
        if ways == ["min_count"]:
            _only_keys(spec, {"kind", "min_count", "label"}, where)
            count = _integer(spec["min_count"], f"the min_count of column {column!r}")
            label = _text(spec.get("label", "other"), f"the label of column {column!r}")
            return MergeRare(column, count, label)
        if ways == ["mapping"]:
            _only_keys(spec, {"kind", "mapping"}, where)
            mapping = spec["mapping"]
            if not isinstance(mapping, Mapping):
                raise PlanInvalid(f"the mapping of column {column!r} must be an object")
            pairs = [
                (_text(s, f"a mapping key of {column!r}"), _text(t, f"a group of {column!r}"))
                for s, t in mapping.items()
            ]
            return Regroup(column, tuple(sorted(pairs)))
        _only_keys(spec, {"kind", "truncate"}, where)
        return Truncate(column, _integer(spec["truncate"], f"the truncation of column {column!r}"))
    raise PlanInvalid(f"{where} has no known kind (band, month, year, group)")
