"""The column-wise history materialises exactly what the row-wise one does."""

from datetime import date, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synth.history import Calendar, ColumnTable, Row, timestamps, to_seconds

START = datetime(2024, 1, 1)
# A row: (month written, second written); a change: (row, months later, second, column, value).
rows_st = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 50)), min_size=1, max_size=30)
changes_st = st.lists(
    st.lists(
        st.tuples(
            st.integers(0, 29),
            st.integers(0, 3),
            st.integers(0, 50),
            st.sampled_from(["count", "amount"]),
            st.integers(-5, 5),
        ),
        min_size=1,
        max_size=4,
    ),
    max_size=12,
)


def _both(
    rows: list[tuple[int, int]], changes: list[list[tuple[int, int, int, str, int]]]
) -> tuple[list[Row], ColumnTable]:
    """The same history kept as Rows and as a ColumnTable (rows written month by month;
    each inner list of changes recorded as one columnar batch per column)."""
    order = sorted(range(len(rows)), key=lambda i: rows[i][0])  # batches go in month order
    table = ColumnTable(("count", "amount"))
    objects: list[Row] = []
    index: dict[int, int] = {}
    for month in sorted({m for m, _ in rows}):
        mine = [i for i in order if rows[i][0] == month]
        at = np.array([to_seconds(START) + rows[i][1] for i in mine], dtype=np.int64)
        ids = table.append(
            key=np.array(mine, dtype=np.int64),
            month=month,
            at=at,
            values={
                "count": np.array(mine, dtype=np.int64),
                "amount": np.array([i / 2 for i in mine]),
            },
        )
        for i, row_id in zip(mine, ids.tolist(), strict=True):
            index[i] = row_id
    for i, (month, second) in enumerate(rows):
        values: dict[str, object] = {"count": i, "amount": i / 2}
        objects.append(Row(str(i), month, START + timedelta(seconds=second), values))
    for batch in changes:
        for column in ("count", "amount"):
            picked = [(r % len(rows), later, s, v) for r, later, s, c, v in batch if c == column]
            if not picked:
                continue
            months = [rows[r][0] + later for r, later, _, _ in picked]
            seconds = [s for _, _, s, _ in picked]
            new = [v if column == "count" else v / 4 for _, _, _, v in picked]
            table.change(
                np.array([index[r] for r, _, _, _ in picked], dtype=np.int64),
                month=np.array(months, dtype=np.int64),
                at=np.array([to_seconds(START) + s for s in seconds], dtype=np.int64),
                column=column,
                values=np.array(new, dtype=np.int64 if column == "count" else np.float64),
            )
            for (r, _, _, _), m, s, v in zip(picked, months, seconds, new, strict=True):
                objects[r].change(m, START + timedelta(seconds=s), **{column: v})
    return objects, table


def _from_rows(objects: list[Row], last: int, only: int | None) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for row in objects:
        state = row.as_of(last)
        if state is None or (only is not None and state[2] != only):
            continue
        values, at, month = state
        out[row.key] = (values["count"], values["amount"], at.isoformat(sep=" "), month)
    return out


def _from_columns(table: ColumnTable, last: int, only: int | None) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for snap in table.as_of(last, only_month=only):
        stamps = timestamps(snap.at)
        for i, key in enumerate(snap.key.tolist()):
            values = (snap.values["count"][i].item(), snap.values["amount"][i].item())
            out[str(key)] = (*values, stamps[i], int(snap.month[i]))
    return out


@settings(max_examples=150, deadline=None)
@given(rows_st, changes_st, st.integers(0, 9), st.booleans())
def test_column_table_materialises_like_rows(rows, changes, last, only_last):
    objects, table = _both(rows, changes)
    only = last if only_last else None
    expected = _from_rows(objects, last, only)
    assert _from_columns(table, last, only) == expected
    assert table.count(last) == sum(row.month <= last for row in objects)


def test_moments_fall_in_their_month_and_print_like_datetimes():
    cal = Calendar(date(2024, 1, 1))
    rng = np.random.default_rng(3)
    months = np.repeat(np.arange(14), 200)
    moments = cal.moments(rng, months)
    for m, text in zip(months.tolist(), timestamps(moments), strict=True):
        at = datetime.fromisoformat(text)
        assert at.date().replace(day=1) == cal.month_start(m)
    assert timestamps(np.array([to_seconds(datetime(2024, 2, 29, 23, 59, 59))])) == [
        "2024-02-29 23:59:59"
    ]
