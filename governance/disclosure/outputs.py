"""The airlock's automatic checks on result tables a researcher submits for release.

A submitted table is read (:func:`parse_output_csv`) as its layout says:

- a :class:`FrequencyLayout` — cells are counts of records, in one or more count
  columns (a cross-tabulation: one row per category of the row variable, one count
  column per category of the column variable, or a long table with one count column);
- a :class:`MagnitudeLayout` — one cell per row, the sum or mean of a variable over the
  cell's records, with its evidence in named columns: the number of contributors, the
  largest and the second-largest contribution (and, for a dominance rule over more than
  two contributors, the sum of the n largest). The evidence is for the checks only and
  is never released.

The rules, as ACRO (Automatic Checking of Research Outputs) applies them, with its
defaults (``safe_threshold`` 10, ``safe_nk_n`` 2, ``safe_nk_k`` 0.9, ``safe_pratio_p``
0.1), and the hub's additions:

``threshold``
    A cell of 1 to threshold−1 records (a count, or a magnitude cell's contributors)
    fails. A null cell (already suppressed) is not checked.
``zero_cells``
    Cells of 0 records are allowed by default but listed (a structural zero can itself
    disclose: "no one in this group is unemployed"); ``zero_cells`` can make them
    ``review`` or ``fail``. ACRO counts them as threshold failures too.
``nk_dominance``
    A magnitude cell whose n largest contributions are at least k of its total fails
    (total: the sum, or the mean times the contributors). A total of 0 is not checked.
``p_percent``
    A magnitude cell fails when the second-largest contributor could estimate the
    largest to within p%: (total − largest − second) < p × largest. A cell whose largest
    contribution is 0 fails too (every contribution is then known exactly), as in ACRO.
    Dominance is undefined for negative contributions: such cells (a negative largest,
    second-largest or total) go to ``review``.
``record_level``
    Refused: a table whose rows are individual records — every non-zero count (or every
    magnitude cell's contributors) is 1 — or that has an identifier column: one named
    like an identifier (``person_key``, ``pseudonym``, ``record_id`` …) or a text column
    every value of which is 16 or more hexadecimal digits (a pseudonym or key).
``differencing``
    Against each earlier release of the project with the same columns: rows are paired
    on the label columns (which must identify the rows of both tables; with no label
    columns, by position when the row counts agree). A cell whose count (contributors,
    for a magnitude cell) differs from the same cell of an earlier release by 1 to
    threshold−1 fails: if one population contains the other, the difference describes
    fewer than threshold people. The rule cannot tell nested populations from disjoint
    ones (two years), so it assumes they may nest; a checker may grant an exception. A
    column total that differs by 1 to threshold−1 while no cell does, and an earlier
    release that cannot be paired, go to ``review``.

:func:`check_output` runs every rule that applies and returns an :class:`OutputCheck`:
per rule pass / fail / review, the cells concerned (0-based data row and column) and a
summary; the outcome is ``fail`` if any rule fails, else ``review`` if any asks for it,
else ``pass``. Everything it returns is JSON-able (``as_dict``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from governance.disclosure.errors import OutputInvalid
from governance.disclosure.output_model import (
    IDENTIFIER_COLUMNS,
    BoolArray,
    Cell,
    FrequencyLayout,
    Layout,
    MagnitudeLayout,
    OutputCheck,
    OutputRules,
    RuleResult,
    Status,
    _cells,
    _worst,
    layout_from_dict,
)

#: The layouts, rules and results are defined in :mod:`governance.disclosure.output_model`;
#: they are named here too, with the checks that use them.
__all__ = [
    "IDENTIFIER_COLUMNS",
    "Cell",
    "FrequencyLayout",
    "Layout",
    "MagnitudeLayout",
    "OutputCheck",
    "OutputRules",
    "RuleResult",
    "Status",
    "check_differencing",
    "check_nk_dominance",
    "check_output",
    "check_p_percent",
    "check_record_level",
    "check_threshold",
    "check_zero_cells",
    "layout_from_dict",
    "parse_output_csv",
]

FloatArray = npt.NDArray[np.float64]

_HEX_IDENTIFIER = r"^[0-9A-Fa-f]{16,}$"
_WHOLE = r"^[0-9]{1,18}$"
_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"


# --------------------------------------------------------------------------------------
# Reading and validating a table
# --------------------------------------------------------------------------------------


def _line_numbers(data: bytes) -> npt.NDArray[np.int64]:
    """1-based numbers of the file's non-empty lines (the rows a CSV reader sees)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == ord("\n"))
    if raw.size and raw[-1] != ord("\n"):
        ends = np.append(ends, raw.size)
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else np.zeros(0, np.int64)
    lengths = ends - starts
    carriage = np.zeros(ends.size, dtype=np.bool_)
    inside = lengths > 0
    carriage[inside] = raw[ends[inside] - 1] == ord("\r")
    return np.flatnonzero(lengths - carriage > 0).astype(np.int64) + 1


def _numbers(table: pa.Table, name: str, *, whole: bool, lines: npt.NDArray[np.int64]) -> pa.Array:
    text = pc.utf8_trim_whitespace(table.column(name).combine_chunks())
    empty = pc.equal(text, "")
    good = pc.or_(empty, pc.match_substring_regex(text, _WHOLE if whole else _NUMBER))
    bad = np.flatnonzero(~np.asarray(good.to_numpy(zero_copy_only=False), dtype=np.bool_))
    if bad.size:
        line = int(lines[bad[0] + 1])
        what = "a whole number of 0 or more" if whole else "a number"
        raise OutputInvalid(
            f"line {line}, column {name!r}: the value is not {what}", line=line, column=name
        )
    values = pc.if_else(empty, pa.scalar(None, pa.string()), text)
    return values.cast(pa.int64() if whole else pa.float64())


def parse_output_csv(data: bytes | str, *, layout: Layout) -> pa.Table:
    """A submitted CSV file (UTF-8, a header line) as a table: the layout's count and
    contributors columns as whole numbers, its magnitude columns as numbers (an empty
    field is a null, an already suppressed cell), every other column as text."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = _line_numbers(raw)
    if not lines.size:
        raise OutputInvalid("the file is empty")
    if int(lines[0]) != 1:
        raise OutputInvalid("line 1: the file must start with its header line", line=1)
    first_end = raw.find(b"\n")
    try:
        header_text = (raw if first_end < 0 else raw[:first_end]).decode("utf-8")
        header = next(csv.reader(io.StringIO(header_text.strip("\r\n"))))
    except (UnicodeDecodeError, csv.Error, StopIteration) as error:
        raise OutputInvalid("line 1: the header cannot be read as UTF-8 CSV", line=1) from error
    names = [name.strip() for name in header]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise OutputInvalid("line 1: a column name is empty or repeated", line=1)
    invalid: list[tuple[int, int, int]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number or 0, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(raw),
            read_options=pa_csv.ReadOptions(use_threads=False, column_names=header),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as error:
        raise OutputInvalid("the file is not UTF-8 CSV text") from error
    if invalid:
        number, expected, actual = invalid[0]
        # the reader counts the non-empty lines from 1, the header (read as data) first
        line = int(lines[number - 1]) if 0 < number <= lines.size else 0
        raise OutputInvalid(
            f"line {line}: {actual} fields where the header has {expected}", line=line
        )
    table = table.slice(1).rename_columns(names)
    if table.num_rows == 0:
        raise OutputInvalid("the file has a header but no rows")
    missing = [name for name in (*_evidence(layout), *layout.label_columns) if name not in names]
    if missing:
        raise OutputInvalid(f"line 1: the file has no column {missing[0]!r}", line=1)
    for name in _evidence(layout):
        whole = isinstance(layout, FrequencyLayout) or name == layout.contributors_column
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, _numbers(table, name, whole=whole, lines=lines))
    return _validated(table, layout)


def _evidence(layout: Layout) -> tuple[str, ...]:
    if isinstance(layout, FrequencyLayout):
        return layout.count_columns
    return layout.evidence_columns


def _floats(table: pa.Table, name: str) -> FloatArray:
    column = table.column(name)
    return np.array(column.cast(pa.float64()).to_numpy(), dtype=np.float64)


def _validated(table: pa.Table, layout: Layout) -> pa.Table:
    """The table itself when it fits the layout; names the first problem otherwise."""
    for name in (*_evidence(layout), *layout.label_columns):
        if name not in table.column_names:
            raise OutputInvalid(f"the table has no column {name!r}", column=name)
    for name in _evidence(layout):
        data_type = table.schema.field(name).type
        whole = isinstance(layout, FrequencyLayout) or name == layout.contributors_column
        if whole and not pa.types.is_integer(data_type):
            raise OutputInvalid(f"column {name!r} must hold whole numbers", column=name)
        if not (pa.types.is_integer(data_type) or pa.types.is_floating(data_type)):
            raise OutputInvalid(f"column {name!r} must hold numbers", column=name)
        negative = np.flatnonzero(_floats(table, name) < 0)
        if whole and negative.size:
            row = int(negative[0])
            raise OutputInvalid(f"row {row}, column {name!r}: a negative count", column=name)
    if isinstance(layout, MagnitudeLayout):
        value = _floats(table, layout.value_column)
        contributors = _floats(table, layout.contributors_column)
        largest = _floats(table, layout.largest_column)
        second = _floats(table, layout.second_largest_column)
        checks = (
            (~np.isnan(value) & np.isnan(contributors), "a value without its contributors"),
            (
                (contributors > 0) & ~np.isnan(value) & np.isnan(largest),
                "a value without its largest contribution",
            ),
            (second > largest, "a second-largest contribution above the largest"),
        )
        for mask, problem in checks:
            if mask.any():
                row = int(np.flatnonzero(mask)[0])
                raise OutputInvalid(f"row {row}: {problem}", row=row)
    return table


# --------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------


def _counts(table: pa.Table, layout: Layout) -> list[tuple[str, FloatArray]]:
    """(flagged column, counts) per cell column: the counts, or a magnitude cell's
    contributors (NaN where the cell is null)."""
    if isinstance(layout, FrequencyLayout):
        return [(name, _floats(table, name)) for name in layout.count_columns]
    counts = _floats(table, layout.contributors_column)
    counts[np.isnan(_floats(table, layout.value_column)) & (counts > 0)] = np.nan
    return [(layout.value_column, counts)]


def check_threshold(table: pa.Table, layout: Layout, rules: OutputRules) -> RuleResult:
    """Cells of 1 to threshold−1 records fail."""
    cells: list[Cell] = []
    for name, counts in _counts(table, layout):
        cells += _cells((counts >= 1) & (counts < rules.threshold), name)
    if cells:
        summary = f"{len(cells)} cells count fewer than {rules.threshold} records"
        return RuleResult("threshold", "fail", summary, tuple(cells))
    return RuleResult(
        "threshold", "pass", f"every cell counts {rules.threshold} or more records or none"
    )


def check_zero_cells(table: pa.Table, layout: Layout, rules: OutputRules) -> RuleResult:
    """Cells of no records, listed; their status follows ``rules.zero_cells``."""
    cells: list[Cell] = []
    for name, counts in _counts(table, layout):
        cells += _cells(counts == 0, name)
    if not cells:
        return RuleResult("zero_cells", "pass", "no cell is zero")
    status: Status = "pass" if rules.zero_cells == "allow" else rules.zero_cells
    summary = f"{len(cells)} cells are zero" + (
        " (allowed; check that no zero discloses something about a group)"
        if status == "pass"
        else ""
    )
    return RuleResult("zero_cells", status, summary, tuple(cells))


def _magnitudes(
    table: pa.Table, layout: MagnitudeLayout
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray]:
    """Total, contributors, largest, second-largest (0 for none) and the cells to check
    (non-null, with contributors) of a magnitude table."""
    value = _floats(table, layout.value_column)
    contributors = _floats(table, layout.contributors_column)
    largest = _floats(table, layout.largest_column)
    second = np.nan_to_num(_floats(table, layout.second_largest_column), nan=0.0)
    total = value if layout.statistic == "sum" else value * contributors
    checked = ~np.isnan(value) & (contributors > 0)
    return total, contributors, largest, second, checked


def _negative(table: pa.Table, layout: MagnitudeLayout) -> BoolArray:
    total, _, largest, second, checked = _magnitudes(table, layout)
    with np.errstate(invalid="ignore"):
        return checked & ((total < 0) | (largest < 0) | (second < 0))


def check_nk_dominance(table: pa.Table, layout: MagnitudeLayout, rules: OutputRules) -> RuleResult:
    """Cells whose n largest contributions make at least k of the total fail."""
    total, _, largest, second, checked = _magnitudes(table, layout)
    if rules.nk_n == 1:
        top = largest
    elif rules.nk_n == 2:
        top = largest + second
    elif layout.top_n_sum_column is not None:
        top = _floats(table, layout.top_n_sum_column)
    else:
        raise OutputInvalid(
            f"the (n, k) rule with n={rules.nk_n} needs the layout's top_n_sum_column"
        )
    negative = _negative(table, layout)
    with np.errstate(invalid="ignore", divide="ignore"):
        dominated = checked & ~negative & (total > 0) & (top / total >= rules.nk_k)
    return _dominance(
        "nk_dominance",
        layout,
        dominated,
        negative,
        f"the {rules.nk_n} largest contributions make {rules.nk_k:.0%} or more",
    )


def check_p_percent(table: pa.Table, layout: MagnitudeLayout, rules: OutputRules) -> RuleResult:
    """Cells where the second-largest contributor could estimate the largest to within
    p% fail: (total − largest − second) < p × largest, or the largest is 0."""
    total, _, largest, second, checked = _magnitudes(table, layout)
    negative = _negative(table, layout)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(largest == 0, 0.0, (total - largest - second) / largest)
        exposed = checked & ~negative & (ratio < rules.p)
    return _dominance(
        "p_percent",
        layout,
        exposed,
        negative,
        f"the rest of the total is under {rules.p:.0%} of the largest contribution",
    )


def _dominance(
    rule: str, layout: MagnitudeLayout, failed: BoolArray, negative: BoolArray, what: str
) -> RuleResult:
    cells = _cells(failed, layout.value_column)
    if cells:
        return RuleResult(rule, "fail", f"{len(cells)} cells: {what}", tuple(cells))
    if negative.any():
        flagged = _cells(negative, layout.value_column)
        summary = f"{len(flagged)} cells have negative contributions: dominance is undefined there"
        return RuleResult(rule, "review", summary, tuple(flagged))
    return RuleResult(rule, "pass", "no cell is dominated")


def check_record_level(table: pa.Table, layout: Layout, rules: OutputRules) -> RuleResult:
    """Refuses tables of individual records: every non-zero count 1, or an identifier
    column (by name, or text that is all long hexadecimal strings)."""
    identifiers = []
    for name in table.column_names:
        column = table.column(name)
        if name.lower() in rules.identifier_columns:
            identifiers.append(name)
        elif (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)) and (
            column.null_count < len(column)
        ):
            looks = pc.match_substring_regex(column, _HEX_IDENTIFIER)
            if pc.all(pc.fill_null(looks, True)).as_py():
                identifiers.append(name)
    cells: list[Cell] = []
    counted = _counts(table, layout)
    nonzero = sum(int(np.count_nonzero(counts > 0)) for _, counts in counted)
    if nonzero and all(np.all((counts[counts > 0]) == 1) for _, counts in counted):
        for name, counts in counted:
            cells += _cells(counts == 1, name)
    if identifiers or cells:
        reasons = []
        if identifiers:
            reasons.append(f"identifier columns {', '.join(identifiers)}")
        if cells:
            reasons.append("every non-zero cell counts exactly one record")
        summary = "the rows are individual records: " + "; ".join(reasons)
        return RuleResult("record_level", "fail", summary, tuple(cells), tuple(identifiers))
    return RuleResult("record_level", "pass", "the table aggregates records")


def _paired(
    table: pa.Table, earlier: pa.Table, labels: tuple[str, ...]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | str:
    """Row indices of ``table`` and ``earlier`` that describe the same cell, or why the
    two cannot be paired."""
    if not labels:
        if table.num_rows != earlier.num_rows:
            return "it has another number of rows and no label columns pair them"
        rows = np.arange(table.num_rows, dtype=np.int64)
        return rows, rows
    for name, candidate in (("this table", table), ("it", earlier)):
        keys = candidate.select(list(labels)).group_by(list(labels)).aggregate([])
        if keys.num_rows != candidate.num_rows:
            return f"the label columns do not identify the rows of {name}"
    left = table.select(list(labels)).append_column("__new", pa.array(np.arange(table.num_rows)))
    right = earlier.select(list(labels)).append_column(
        "__old", pa.array(np.arange(earlier.num_rows))
    )
    joined = left.join(right, keys=list(labels), join_type="inner")
    return (
        np.asarray(joined.column("__new").to_numpy(), dtype=np.int64),
        np.asarray(joined.column("__old").to_numpy(), dtype=np.int64),
    )


def check_differencing(
    table: pa.Table, earlier: Mapping[str, pa.Table], layout: Layout, rules: OutputRules
) -> RuleResult:
    """Cells that differ from the same cell of an earlier release by 1 to threshold−1
    records fail (see the module docstring for the pairing and the reviews)."""
    cells: list[Cell] = []
    notes: list[str] = []
    needed = (*_evidence(layout), *layout.label_columns)
    for release in sorted(earlier):
        before = earlier[release]
        missing = [name for name in needed if name not in before.column_names]
        if missing:
            notes.append(f"release {release} lacks column {missing[0]!r}")
            continue
        try:
            before = _validated(before, layout)
        except OutputInvalid as error:
            notes.append(f"release {release} does not fit the layout: {error.message}")
            continue
        paired = _paired(table, before, layout.label_columns)
        if isinstance(paired, str):
            notes.append(f"release {release} not compared: {paired}")
            continue
        new_rows, old_rows = paired
        found = 0
        for (name, now), (_, then) in zip(
            _counts(table, layout), _counts(before, layout), strict=True
        ):
            gap = np.abs(now[new_rows] - then[old_rows])
            small = (gap >= 1) & (gap < rules.threshold)
            flagged = np.zeros(table.num_rows, dtype=np.bool_)
            flagged[new_rows[small]] = True
            found += int(np.count_nonzero(small))
            cells += _cells(flagged, name, release)
            total_gap = abs(float(np.nansum(now)) - float(np.nansum(then)))
            if not small.any() and 1 <= total_gap < rules.threshold:
                notes.append(
                    f"the total of column {name!r} differs from release {release} by fewer "
                    f"than {rules.threshold} records"
                )
    if cells:
        summary = (
            f"{len(cells)} cells differ from an earlier release by fewer than "
            f"{rules.threshold} records"
        )
        return RuleResult("differencing", "fail", "; ".join([summary, *notes]), tuple(cells))
    if notes:
        return RuleResult("differencing", "review", "; ".join(notes))
    if not earlier:
        return RuleResult("differencing", "pass", "no earlier release to compare with")
    return RuleResult(
        "differencing",
        "pass",
        f"no cell differs from the {len(earlier)} earlier releases by a few records",
    )


def check_output(
    table: pa.Table,
    *,
    layout: Layout,
    rules: OutputRules | None = None,
    earlier: Mapping[str, pa.Table] | None = None,
) -> OutputCheck:
    """Every rule that applies to the table, with the overall outcome. ``earlier``: the
    project's released tables by release id, for the differencing rule."""
    rules = rules or OutputRules()
    table = _validated(table, layout)
    results = [
        check_record_level(table, layout, rules),
        check_threshold(table, layout, rules),
        check_zero_cells(table, layout, rules),
    ]
    if isinstance(layout, MagnitudeLayout):
        results += [check_nk_dominance(table, layout, rules), check_p_percent(table, layout, rules)]
    results.append(check_differencing(table, earlier or {}, layout, rules))
    outcome = _worst([result.status for result in results])
    flagged = [f"{r.rule}: {r.summary}" for r in results if r.status != "pass"]
    summary = "; ".join(flagged) if flagged else "every rule passes"
    return OutputCheck(
        outcome=outcome,
        summary=summary,
        rules=tuple(results),
        layout=layout.as_dict(),
        parameters=rules.as_dict(),
    )
