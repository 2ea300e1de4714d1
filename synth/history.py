"""Source records with their history, and the calendar of the simulated period.

Every record an agency keeps has its values when first written, in the month it was
written, plus later changes (status moves, late corrections) each with its own month
and timestamp. Writers materialise a record *as of* the last generated month, so
making a nation for N months and extending it by one gives the same records as making
it for N+1 months.

Two stores keep that history. A :class:`Row` is one record as a Python object: fine
for the tables of thousands to a few hundred thousand rows whose values are built one
by one. A :class:`ColumnTable` keeps a table column-wise in numpy arrays, a batch per
month, with its changes in columnar batches of their own: the NIS contributions (ten
million rows for a million persons over two years) and the true job spells live
there. Both materialise the same as-of values (``tests/synth/test_history.py`` checks it
property-wise).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt

Int64s = npt.NDArray[np.int64]
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Calendar:
    """Month indexes of the period (0 = the first month) and their dates."""

    first: date

    @cached_property
    def _starts(self) -> list[date]:
        out = []
        for m in range(241 + 12):  # the configured maximum, plus changes scheduled after it
            y, mo = divmod(self.first.month - 1 + m, 12)
            out.append(date(self.first.year + y, mo + 1, 1))
        return out

    def month_start(self, m: int) -> date:
        return self._starts[m]

    @cached_property
    def _lengths(self) -> list[int]:
        return [calendar.monthrange(d.year, d.month)[1] for d in self._starts]

    def days_in(self, m: int) -> int:
        return self._lengths[m]

    def period(self, m: int) -> str:
        return self.month_start(m).strftime("%Y-%m")

    def epoch(self, m: int) -> int:
        """Seconds from 1970-01-01 to the start of month ``m``."""
        return int(
            (datetime.combine(self._starts[m], datetime.min.time()) - _EPOCH).total_seconds()
        )

    def day(self, rng: np.random.Generator, m: int) -> date:
        return self.month_start(m) + timedelta(days=int(rng.integers(0, self.days_in(m))))

    def moment(self, rng: np.random.Generator, m: int) -> datetime:
        start = datetime.combine(self.month_start(m), datetime.min.time())
        seconds = int(rng.integers(0, self.days_in(m) * 86_400))
        return start + timedelta(seconds=seconds)

    def moments(self, rng: np.random.Generator, months: Int64s) -> Int64s:
        """One random moment in each of ``months``, as seconds from 1970-01-01."""
        unique = np.unique(months)
        starts = np.array([self.epoch(int(m)) for m in unique], dtype=np.int64)
        lengths = np.array([self.days_in(int(m)) * 86_400 for m in unique], dtype=np.int64)
        where = np.searchsorted(unique, months)
        out: Int64s = starts[where] + rng.integers(0, lengths[where])
        return out

    def mondays(self, m: int) -> int:
        d = self.month_start(m)
        return sum(
            1 for day in range(1, self.days_in(m) + 1) if date(d.year, d.month, day).weekday() == 0
        )


def timestamps(seconds: Int64s) -> list[str]:
    """Seconds from 1970-01-01 as ``YYYY-MM-DD HH:MM:SS`` (what ``datetime.isoformat(" ")``
    gives for whole seconds)."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    return [t.replace("T", " ") for t in text.tolist()]


def to_seconds(at: datetime) -> int:
    return int((at - _EPOCH).total_seconds())


@dataclass(slots=True)
class Row:
    """One source record with its history."""

    key: str
    month: int
    at: datetime
    values: dict[str, object]
    changes: list[tuple[int, datetime, dict[str, object]]] = field(default_factory=list)
    person: int = -1
    employer: int = -1
    noise: tuple[str, ...] = ()

    def change(self, month: int, at: datetime, **updates: object) -> None:
        self.changes.append((month, at, updates))
        self.changes.sort(key=lambda c: (c[0], c[1]))

    def as_of(self, last: int) -> tuple[dict[str, object], datetime, int] | None:
        """(values, updated_at, month of the last change) at the end of month ``last``."""
        if self.month > last:
            return None
        values = dict(self.values)
        at, month = self.at, self.month
        for m, when, updates in self.changes:
            if m > last:
                break
            values.update(updates)
            at, month = when, m
        return values, at, month


@dataclass
class Snapshot:
    """A batch of a :class:`ColumnTable`'s rows as of a month: numpy columns of the same
    length. ``at`` and ``month`` are those of each row's last applied change (or of its
    writing)."""

    key: Int64s
    at: Int64s
    month: Int64s
    person: npt.NDArray[np.int32]
    employer: npt.NDArray[np.int32]
    values: dict[str, npt.NDArray[np.generic]]

    def __len__(self) -> int:
        return int(self.key.shape[0])


@dataclass
class _Batch:
    first: int  # index of the batch's first row in the table
    key: Int64s
    month: Int64s
    at: Int64s
    person: npt.NDArray[np.int32]
    employer: npt.NDArray[np.int32]
    values: dict[str, npt.NDArray[np.generic]]


@dataclass
class _Changes:
    seq: int  # order of recording: ties of (month, at) apply in it, as Row.change does
    rows: Int64s
    month: Int64s
    at: Int64s
    column: str
    values: npt.NDArray[np.generic]


class ColumnTable:
    """A table kept column-wise: batches of rows (numeric key, month written, timestamp,
    true person and employer, value columns) and batches of changes to one column each.
    """

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self._batches: list[_Batch] = []
        self._changes: list[_Changes] = []
        self._size = 0
        # Rows and changes recorded one at a time, until :meth:`flush` makes them columns.
        self._rows: list[tuple[int, int, int, int, int, tuple[object, ...]]] = []
        self._pending: list[tuple[int, int, int, str, object]] = []

    def __len__(self) -> int:
        return self._size + len(self._rows)

    def add(
        self, key: int, month: int, at: int, person: int, employer: int, **values: object
    ) -> int:
        """Record one row (columns once :meth:`flush` is called); returns its index."""
        self._rows.append(
            (key, month, at, person, employer, tuple(values[c] for c in self.columns))
        )
        return len(self) - 1

    def change_one(self, row: int, month: int, at: int, column: str, value: object) -> None:
        """Record one change (columns once :meth:`flush` is called)."""
        self._pending.append((row, month, at, column, value))

    def flush(self) -> None:
        """Turn the rows and changes recorded one at a time into a batch of each."""
        if self._rows:
            key, month, at, person, employer, values = zip(*self._rows, strict=True)
            columns = list(zip(*values, strict=True))
            dtypes = (
                {c: self._batches[0].values[c].dtype for c in self.columns} if self._batches else {}
            )
            self._append(
                np.array(key, dtype=np.int64),
                np.array(month, dtype=np.int64),
                np.array(at, dtype=np.int64),
                {
                    c: np.array(v, dtype=dtypes.get(c))
                    for c, v in zip(self.columns, columns, strict=True)
                },
                np.array(person, dtype=np.int32),
                np.array(employer, dtype=np.int32),
            )
            self._rows = []
        for column in self.columns:
            mine = [c for c in self._pending if c[3] == column]
            if mine:
                rows, month, at, _, values = zip(*mine, strict=True)
                kind = self._batches[0].values[column].dtype if self._batches else None
                self.change(
                    np.array(rows, dtype=np.int64),
                    month=np.array(month, dtype=np.int64),
                    at=np.array(at, dtype=np.int64),
                    column=column,
                    values=np.array(values, dtype=kind),
                )
        self._pending = []

    def append(
        self,
        *,
        key: Int64s,
        month: int,
        at: Int64s,
        values: dict[str, npt.NDArray[np.generic]],
        person: npt.NDArray[np.int32] | None = None,
        employer: npt.NDArray[np.int32] | None = None,
    ) -> Int64s:
        """Add rows written in ``month``; returns their row indexes (for :meth:`change`)."""
        self.flush()
        n = int(key.shape[0])
        none = np.full(n, -1, dtype=np.int32)
        return self._append(
            key,
            np.full(n, month, dtype=np.int64),
            at,
            values,
            none if person is None else person,
            none if employer is None else employer,
        )

    def _append(
        self,
        key: Int64s,
        month: Int64s,
        at: Int64s,
        values: dict[str, npt.NDArray[np.generic]],
        person: npt.NDArray[np.int32],
        employer: npt.NDArray[np.int32],
    ) -> Int64s:
        n = int(key.shape[0])
        if set(values) != set(self.columns) or any(v.shape[0] != n for v in values.values()):
            raise ValueError("every column, each with one value per row")
        batch = _Batch(
            self._size,
            key.astype(np.int64),
            month,
            at.astype(np.int64),
            person.astype(np.int32),
            employer.astype(np.int32),
            dict(values),
        )
        self._batches.append(batch)
        self._size += n
        return np.arange(batch.first, self._size, dtype=np.int64)

    def change(
        self,
        rows: Int64s,
        *,
        month: Int64s,
        at: Int64s,
        column: str,
        values: npt.NDArray[np.generic],
    ) -> None:
        """Change ``column`` of ``rows`` in ``month`` (per row) at ``at`` (per row)."""
        if column not in self.columns:
            raise KeyError(column)
        seq = len(self._changes)
        self._changes.append(
            _Changes(
                seq,
                rows.astype(np.int64),
                month.astype(np.int64),
                at.astype(np.int64),
                column,
                values,
            )
        )

    def count(self, last: int) -> int:
        """Rows written by the end of month ``last``."""
        self.flush()
        return sum(int((b.month <= last).sum()) for b in self._batches)

    def _applied(self, last: int) -> tuple[Int64s, Int64s, Int64s, Int64s, Int64s, Int64s]:
        """Changes made by ``last``, ordered by (row, month, at, seq, position)."""
        parts = [c for c in self._changes if c.rows.size]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty, empty, empty
        rows = np.concatenate([c.rows for c in parts])
        month = np.concatenate([c.month for c in parts])
        at = np.concatenate([c.at for c in parts])
        part = np.concatenate(
            [np.full(c.rows.size, i, dtype=np.int64) for i, c in enumerate(parts)]
        )
        pos = np.concatenate([np.arange(c.rows.size, dtype=np.int64) for c in parts])
        keep = month <= last
        rows, month, at, part, pos = rows[keep], month[keep], at[keep], part[keep], pos[keep]
        seq = np.array([c.seq for c in parts], dtype=np.int64)[part]
        order = np.lexsort((pos, seq, at, month, rows))
        return rows[order], month[order], at[order], part[order], pos[order], seq[order]

    def as_of(self, last: int, *, only_month: int | None = None) -> Iterator[Snapshot]:
        """The rows written by ``last`` with every change made by ``last`` applied, one
        :class:`Snapshot` per batch written; with ``only_month``, only the rows whose last
        write or change falls in that month."""
        self.flush()
        parts = [c for c in self._changes if c.rows.size]
        rows, month, at, part, pos, _ = self._applied(last)
        # The last change of each row sets its timestamp; per column, its last change
        # of that column sets the value.
        is_last = np.ones(rows.size, dtype=bool)
        is_last[:-1] = rows[1:] != rows[:-1]
        for batch in self._batches:
            written = batch.month <= last
            if not written.any():
                continue
            lo, hi = batch.first, batch.first + batch.key.shape[0]
            a, b = np.searchsorted(rows, [lo, hi])
            values = {c: v.copy() for c, v in batch.values.items()}
            stamp, eff = batch.at.copy(), batch.month.copy()
            final = np.flatnonzero(is_last[a:b]) + a
            stamp[rows[final] - lo] = at[final]
            eff[rows[final] - lo] = month[final]
            for column in self.columns:
                ids = [i for i, c in enumerate(parts) if c.column == column]
                if not ids:
                    continue
                sel = np.flatnonzero(np.isin(part[a:b], ids)) + a
                if not sel.size:
                    continue
                r = rows[sel]
                tail = np.ones(r.size, dtype=bool)
                tail[:-1] = r[1:] != r[:-1]
                sel = sel[tail]
                new = np.empty(sel.size, dtype=values[column].dtype)
                for i in ids:
                    mine = part[sel] == i
                    new[mine] = parts[i].values[pos[sel[mine]]]
                values[column][rows[sel] - lo] = new
            keep = written if only_month is None else written & (eff == only_month)
            if not keep.any():
                continue
            yield Snapshot(
                batch.key[keep],
                stamp[keep],
                eff[keep],
                batch.person[keep],
                batch.employer[keep],
                {c: v[keep] for c, v in values.items()},
            )


@dataclass
class History:
    """Every table of every agency: Row tables, and the column-wise ones."""

    tables: dict[tuple[str, str], list[Row]] = field(default_factory=dict)
    columnar: dict[tuple[str, str], ColumnTable] = field(default_factory=dict)

    def add(self, agency: str, table: str, row: Row) -> Row:
        self.tables.setdefault((agency, table), []).append(row)
        return row

    def rows(self, agency: str, table: str) -> list[Row]:
        return self.tables.get((agency, table), [])

    def record_counts(self, last: int) -> dict[str, int]:
        """Records written by the end of month ``last``, per ``agency.table``."""
        counts = {
            f"{a}.{t}": sum(row.month <= last for row in rows)
            for (a, t), rows in self.tables.items()
        }
        counts |= {f"{a}.{t}": table.count(last) for (a, t), table in self.columnar.items()}
        return dict(sorted(counts.items()))

    def materialise(
        self, agency: str, table: str, last: int, *, only_month: int | None = None
    ) -> list[dict[str, object]]:
        """Rows as of ``last`` (each with ``updated_at``), optionally only those written
        or changed in ``only_month``; in the order written."""
        return list(self.stream(agency, table, last, only_month=only_month))

    def stream(
        self, agency: str, table: str, last: int, *, only_month: int | None = None
    ) -> Iterator[dict[str, object]]:
        """:meth:`materialise` one row at a time."""
        for row in self.rows(agency, table):
            state = row.as_of(last)
            if state is None:
                continue
            values, at, month = state
            if only_month is not None and month != only_month:
                continue
            yield values | {"updated_at": at.isoformat(sep=" ")}
