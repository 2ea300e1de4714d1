"""A table of cells read as cubes with margins: the shape cell suppression works on.

A table of cells has one row per cell and one string column of codes per dimension; the
margin code (``_T``) marks the total along a dimension, so a table by sex and region
holds sex in {1, 2, _T} × region in {R1, …, _T}. The columns that are neither a
dimension, nor a measure (``contributors``, ``value``, ``largest``, ``second_largest``,
``standard_error``, any floating-point column), nor a status (``conf_status``,
``obs_status``) split the rows into separate tables — one per time period and indicator,
say —, each read as its own cube. Every table uses the same codes along a dimension,
those found in the whole input; a combination of codes without a row is an empty cell
(no contributor, value 0), as a ``GROUP BY CUBE`` that skips empty cells leaves it.

A cube is stored flat in C order, the margin code last along every dimension, and its
additivity — along every dimension, the margin is the sum of the other cells of its
line — is one sparse matrix with a row per line, ``+1`` at the margin and ``-1`` at
the parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import csr_matrix

from governance.disclosure.errors import CellTableInvalid

#: Columns that measure a cell: never a dimension, never a key that splits the tables.
MEASURES = ("contributors", "value", "largest", "second_largest", "standard_error")
#: The columns cell suppression adds (SDMX observation attributes).
STATUSES = ("conf_status", "obs_status")
#: Largest cube (cells of one table) read; the audit solves linear programs over it.
MAX_CELLS = 100_000

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Cube:
    """The rows of a table of cells placed in cubes: which table and which cell each is."""

    dimensions: tuple[str, ...]
    #: Per dimension, its codes in cube order, the margin code last.
    codes: tuple[tuple[str, ...], ...]
    #: The columns whose distinct values make separate tables.
    keys: tuple[str, ...]
    #: Per row, the index of its table.
    table: Ints
    #: Per row, the flat index of its cell in its table's cube.
    cell: Ints
    #: Per table, a label naming it in messages (``time_period=2023Q1``).
    labels: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(c) for c in self.codes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def tables(self) -> int:
        return len(self.labels)

    def scatter(self, column: Floats, *, fill: float = 0.0) -> Floats:
        """A per-row column as one row of cells per table, ``fill`` in the empty cells."""
        out = np.full((self.tables, self.size), fill, dtype=np.float64)
        out[self.table, self.cell] = column
        return out

    def present(self) -> Mask:
        """Which cells of each table have a row."""
        out = np.zeros((self.tables, self.size), dtype=np.bool_)
        out[self.table, self.cell] = True
        return out

    def margins(self) -> Ints:
        """Per cell, how many of its coordinates are a margin code (0 for an inner cell)."""
        grid = np.indices(self.shape).reshape(len(self.shape), -1)
        last = np.array(self.shape, dtype=np.int64)[:, None] - 1
        return np.asarray((grid == last).sum(axis=0), dtype=np.int64)

    def cell_name(self, cell: int) -> str:
        """The codes of a cell, as ``sex=_T, region=R1``."""
        coordinates = np.unravel_index(cell, self.shape)
        return ", ".join(
            f"{d}={codes[int(i)]}"
            for d, codes, i in zip(self.dimensions, self.codes, coordinates, strict=True)
        )

    def where(self, table: int, cell: int) -> str:
        """A cell of a table, named for a message."""
        label = self.labels[table]
        return f"cell {self.cell_name(cell)}" + (f" of the table {label}" if label else "")


@dataclass(frozen=True)
class Additivity:
    """The margins' equations of a cube: ``matrix @ cells == 0`` for an additive table."""

    #: One row per line: +1 at the line's margin, -1 at each other cell of the line.
    matrix: csr_matrix
    #: Per row, the flat index of the line's margin.
    margin: Ints
    #: Per row, the dimension (index) the line runs along.
    axis: Ints


def read_cube(table: pa.Table, *, dimensions: Sequence[str], total_code: str) -> Cube:
    """Place every row of ``table`` in its table's cube.

    Raises :class:`CellTableInvalid` when a dimension is missing, is not a string column,
    has a null code or no margin code, when a key column cannot be grouped on, when two
    rows are the same cell of the same table, or when the cube exceeds ``MAX_CELLS``.
    """
    dims = tuple(dimensions)
    if not dims:
        raise CellTableInvalid("no dimension given; name the cross-classifying columns")
    if len(set(dims)) != len(dims):
        raise CellTableInvalid(f"a dimension is named twice in {list(dims)}")
    for name in dims:
        if name not in table.column_names:
            raise CellTableInvalid(f"the dimension column {name!r} is missing")
        if name in MEASURES or name in STATUSES:
            raise CellTableInvalid(f"the column {name!r} is a measure, not a dimension")
    codes: list[tuple[str, ...]] = []
    coordinates: list[Ints] = []
    for name in dims:
        column_codes, index = _dimension(table.column(name), name=name, total_code=total_code)
        codes.append(column_codes)
        coordinates.append(index)
    shape = tuple(len(c) for c in codes)
    size = int(np.prod(shape, dtype=np.int64))
    if size > MAX_CELLS:
        raise CellTableInvalid(
            f"the dimensions {list(dims)} make a cube of {size} cells, more than "
            f"{MAX_CELLS}; split the table or check that every dimension is a code list"
        )
    keys = tuple(
        name
        for name in table.column_names
        if name not in dims
        and name not in MEASURES
        and name not in STATUSES
        and not pa.types.is_floating(table.schema.field(name).type)
        and not pa.types.is_null(table.schema.field(name).type)
    )
    group, labels = _tables(table, keys)
    cell = (
        np.ravel_multi_index(tuple(coordinates), shape).astype(np.int64)
        if table.num_rows
        else np.zeros(0, dtype=np.int64)
    )
    cube = Cube(
        dimensions=dims, codes=tuple(codes), keys=keys, table=group, cell=cell, labels=labels
    )
    _refuse_duplicates(cube)
    return cube


def additivity(shape: tuple[int, ...]) -> Additivity:
    """The equations of every line of a cube of ``shape`` (margin code last along each
    dimension); a dimension holding only its margin code has no line."""
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.arange(size, dtype=np.int64).reshape(shape)
    rows: list[Ints] = []
    cols: list[Ints] = []
    vals: list[Floats] = []
    margins: list[Ints] = []
    axes: list[Ints] = []
    count = 0
    for axis, n in enumerate(shape):
        if n < 2:
            continue
        lines = np.moveaxis(flat, axis, -1).reshape(-1, n)
        number = lines.shape[0]
        rows.append(np.repeat(np.arange(count, count + number, dtype=np.int64), n))
        cols.append(lines.ravel())
        vals.append(np.tile(np.r_[-np.ones(n - 1), 1.0], number))
        margins.append(lines[:, -1])
        axes.append(np.full(number, axis, dtype=np.int64))
        count += number
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return Additivity(csr_matrix((0, size)), empty, empty)
    matrix = csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(count, size),
    )
    return Additivity(matrix, np.concatenate(margins), np.concatenate(axes))


def _dimension(
    column: pa.ChunkedArray, *, name: str, total_code: str
) -> tuple[tuple[str, ...], Ints]:
    kind = column.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise CellTableInvalid(f"the dimension column {name!r} must hold string codes")
    text = pc.cast(column, pa.string())
    if text.null_count:
        raise CellTableInvalid(f"the dimension column {name!r} has rows without a code")
    found = [str(c) for c in pc.unique(text).to_pylist()]
    if total_code not in found:
        raise CellTableInvalid(
            f"the dimension column {name!r} has no margin code {total_code!r}; "
            "the table must hold its totals along every dimension"
        )
    codes = (*sorted(c for c in found if c != total_code), total_code)
    index = pc.index_in(text, value_set=pa.array(codes, pa.string()))
    return codes, np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)


def _tables(table: pa.Table, keys: tuple[str, ...]) -> tuple[Ints, tuple[str, ...]]:
    rows = table.num_rows
    if not keys or rows == 0:
        return np.zeros(rows, dtype=np.int64), (("",) if rows else ())
    columns: list[Ints] = []
    for name in keys:
        try:
            encoded = pc.dictionary_encode(
                table.column(name).combine_chunks(), null_encoding="encode"
            )
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise CellTableInvalid(
                f"the column {name!r} is neither a dimension nor a measure and cannot "
                "split the rows into tables; drop it or name it as a dimension"
            ) from exc
        columns.append(np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64))
    stacked = np.stack(columns, axis=1)
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    labels = tuple(
        ", ".join(f"{name}={table.column(name)[int(i)].as_py()}" for name in keys) for i in first
    )
    return np.asarray(inverse, dtype=np.int64).reshape(-1), labels


def _refuse_duplicates(cube: Cube) -> None:
    combined = cube.table * cube.size + cube.cell
    order = np.argsort(combined, kind="stable")
    repeated = np.flatnonzero(combined[order][1:] == combined[order][:-1])
    if repeated.size:
        row = int(order[repeated[0] + 1])
        raise CellTableInvalid(
            f"two rows are the {cube.where(int(cube.table[row]), int(cube.cell[row]))}; "
            "a table holds each cell once (are all the cross-classifying columns named "
            "as dimensions?)"
        )
