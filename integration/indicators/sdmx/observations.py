"""An indicator table checked and recoded to SDMX codes, column-wise, ready to serialise.

The table a flow's writers receive has ``time_period``, one column per dimension with
the project's local codes, ``obs_value`` (null where suppressed), ``obs_status``,
``conf_status`` and optionally ``standard_error``. :func:`sdmx_observations` checks it
(columns and types, no null key, time periods of the flow's frequency, finite values,
no key twice), maps each code column to SDMX codes through its codelist — once per
distinct code, by dictionary-encoding the column and mapping the dictionary with Arrow
compute — and sorts the observations by key (codelist order, then time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from integration.indicators.sdmx.codelists import CodelistRegistry, CodeMap, Standard
from integration.indicators.sdmx.errors import CodeUnknown, ObservationsInvalid
from integration.indicators.sdmx.model import Codelist, Flow

#: The form of a time period of each frequency (SDMX reporting periods).
TIME_PERIOD_PATTERNS = {
    "A": r"^[0-9]{4}$",
    "Q": r"^[0-9]{4}-Q[1-4]$",
    "M": r"^[0-9]{4}-(0[1-9]|1[0-2])$",
}
#: How many offending codes an error names at most.
_NAMED = 10


@dataclass(frozen=True)
class SdmxObservations:
    """A flow's observations with SDMX codes, sorted by key.

    ``codes`` holds one dictionary-encoded column per dimension (by dimension id, in
    key order), then ``OBS_STATUS`` and ``CONF_STATUS``; ``codelists`` the codelist of
    each of them. ``time_period`` is a string column, ``obs_value`` and ``std_error``
    float64 columns (null where suppressed or not given; ``std_error`` is ``None`` when
    the table has no standard errors at all).
    """

    flow: Flow
    ref_area: str
    unit_mult: str
    codes: dict[str, pa.DictionaryArray]
    codelists: dict[str, Codelist]
    time_period: pa.StringArray
    obs_value: pa.DoubleArray
    std_error: pa.DoubleArray | None

    def __len__(self) -> int:
        return len(self.time_period)

    @property
    def dimension_ids(self) -> tuple[str, ...]:
        """The flow's own dimension ids, in key order."""
        return tuple(dimension.id for dimension in self.flow.dimensions)


def sdmx_observations(
    flow: Flow,
    observations: pa.Table,
    registry: CodelistRegistry,
    *,
    ref_area: str,
    unit_mult: str = "0",
) -> SdmxObservations:
    """Check ``observations`` of ``flow`` and recode them to SDMX codes (see the module)."""
    where = f"flow {flow.id}"
    for codelist_id, code, what in (
        (Standard.AREA, ref_area, "REF_AREA"),
        (Standard.UNIT_MEASURE, flow.unit, "UNIT_MEASURE"),
        (Standard.UNIT_MULT, unit_mult, "UNIT_MULT"),
    ):
        if code not in registry.codelist(codelist_id):
            raise CodeUnknown(
                f"{where}, {what}: code {code!r} is not in {codelist_id}",
                flow=flow.id,
                column=what,
                codes=[code],
            )

    time_period = _string_column(observations, "time_period", where)
    pattern = TIME_PERIOD_PATTERNS[flow.frequency]
    wrong = pc.invert(pc.match_substring_regex(time_period, pattern))
    if pc.any(wrong).as_py():
        examples = pc.unique(time_period.filter(wrong)).to_pylist()[:_NAMED]
        raise ObservationsInvalid(
            f"{where}, column time_period: periods {examples} are not of frequency {flow.frequency}"
        )

    columns: list[tuple[str, str, CodeMap]] = [
        (dimension.column, dimension.id, registry[dimension.codelist])
        for dimension in flow.dimensions
    ]
    columns.append(("obs_status", "OBS_STATUS", registry[Standard.OBS_STATUS]))
    columns.append(("conf_status", "CONF_STATUS", registry[Standard.CONF_STATUS]))
    codes = {
        component: _recode(_string_column(observations, column, where), code_map, flow, column)
        for column, component, code_map in columns
    }

    obs_value = _double_column(observations, "obs_value", where)
    std_error = (
        _double_column(observations, "standard_error", where)
        if "standard_error" in observations.column_names
        else None
    )
    if std_error is not None and pc.any(pc.less(std_error, 0)).as_py():
        raise ObservationsInvalid(f"{where}, column standard_error: negative standard errors")

    key_ids = [dimension.id for dimension in flow.dimensions]
    _check_unique(codes, key_ids, time_period, where)

    # Sort by each dimension's codelist order, then by time period.
    positions = {
        f"k{i}": _codelist_positions(codes[d.id], registry.codelist(d.codelist))
        for i, d in enumerate(flow.dimensions)
    }
    sort_table = pa.table({**positions, "time": time_period})
    order = pc.sort_indices(
        sort_table, sort_keys=[(name, "ascending") for name in sort_table.column_names]
    )
    return SdmxObservations(
        flow=flow,
        ref_area=ref_area,
        unit_mult=unit_mult,
        codes={component: array.take(order) for component, array in codes.items()},
        codelists={component: code_map.codelist for _, component, code_map in columns},
        time_period=time_period.take(order),
        obs_value=obs_value.take(order),
        std_error=None if std_error is None else std_error.take(order),
    )


def _column(observations: pa.Table, name: str, where: str) -> pa.Array:
    if name not in observations.column_names:
        raise ObservationsInvalid(f"{where}: the table has no column {name!r}")
    column = observations.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _string_column(observations: pa.Table, name: str, where: str) -> pa.StringArray:
    column = _column(observations, name, where)
    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise ObservationsInvalid(f"{where}, column {name}: type {column.type} is not a string")
    nulls = column.null_count
    if nulls:
        raise ObservationsInvalid(f"{where}, column {name}: {nulls} rows have no value")
    result: pa.StringArray = pc.cast(column, pa.string())
    return result


def _double_column(observations: pa.Table, name: str, where: str) -> pa.DoubleArray:
    column = _column(observations, name, where)
    if not (pa.types.is_floating(column.type) or pa.types.is_integer(column.type)):
        raise ObservationsInvalid(f"{where}, column {name}: type {column.type} is not a number")
    values: pa.DoubleArray = pc.cast(column, pa.float64())
    finite = pc.is_finite(values)
    if pc.any(pc.invert(pc.fill_null(finite, True))).as_py():
        raise ObservationsInvalid(f"{where}, column {name}: values are infinite or NaN")
    return values


def _recode(column: pa.StringArray, code_map: CodeMap, flow: Flow, name: str) -> pa.DictionaryArray:
    """The column's SDMX codes: each distinct local code mapped once."""
    encoded: pa.DictionaryArray = pc.dictionary_encode(column)
    positions = pc.index_in(encoded.dictionary, value_set=pa.array(code_map.local, pa.string()))
    unknown = encoded.dictionary.filter(pc.is_null(positions))
    if len(unknown):
        named = sorted(unknown.to_pylist())[:_NAMED]
        raise CodeUnknown(
            f"flow {flow.id}, column {name}: codes {named} are not in codelist "
            f"{code_map.codelist.id}({code_map.codelist.version})",
            flow=flow.id,
            column=name,
            codes=named,
        )
    sdmx = pc.take(pa.array(code_map.sdmx, pa.string()), positions)
    return pa.DictionaryArray.from_arrays(encoded.indices, sdmx)


def _codelist_positions(codes: pa.DictionaryArray, codelist: Codelist) -> pa.Array:
    """Each row's position of its code in the codelist, for sorting."""
    positions = pc.index_in(codes.dictionary, value_set=pa.array(codelist.code_ids, pa.string()))
    return pc.take(positions, codes.indices)


def _check_unique(
    codes: dict[str, pa.DictionaryArray],
    key_ids: list[str],
    time_period: pa.StringArray,
    where: str,
) -> None:
    """Refuse a key given twice: each key is numbered from its codes' dictionary indices
    (mixed radix), and the numbers must be distinct."""
    time = pc.dictionary_encode(time_period)
    parts = [(codes[key_id].indices, len(codes[key_id].dictionary)) for key_id in key_ids]
    parts.append((time.indices, len(time.dictionary)))
    if math.prod(size for _, size in parts) >= 2**62:
        table = pa.table({f"k{i}": indices for i, (indices, _) in enumerate(parts)})
        distinct = table.group_by(table.column_names).aggregate([]).num_rows
    else:
        number = pa.scalar(0, pa.int64())
        for indices, size in parts:
            number = pc.add(pc.multiply(number, size), pc.cast(indices, pa.int64()))
        distinct = pc.count_distinct(number).as_py() if len(time_period) else 0
    repeated = len(time_period) - distinct
    if repeated:
        raise ObservationsInvalid(f"{where}: {repeated} observations repeat another's key")
