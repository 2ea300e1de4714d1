"""The records an agency's SQL tables hold as of a month, in batches of tuples in the
table's layout order (primary key, columns, ``updated_at``), ready for the writers.

Dates are ISO strings and ``updated_at`` is ``YYYY-MM-DD HH:MM:SS``; the writer turns
them into what each database keeps. Batches keep memory flat however large the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from synth import contribution_schedule
from synth.agencies.sql import LAYOUTS, TABLES
from synth.history import Int64s, Snapshot, timestamps
from synth.simulation import Nation

Batch = list[tuple[object, ...]]
BATCH_ROWS = 50_000


def sql_batches(
    nation: Nation, agency: str, table: str, last: int, *, only_month: int | None = None
) -> Iterator[Batch]:
    """The table's rows as of month ``last`` (only those written or changed in
    ``only_month`` when given), in batches."""
    columnar = nation.history.columnar.get((agency, table))
    if columnar is not None:
        for snap in columnar.as_of(last, only_month=only_month):
            for i in range(0, len(snap), BATCH_ROWS):
                yield contributions(nation, snap, i, i + BATCH_ROWS)
        return
    pk = TABLES[agency][table]
    names = [c for c, _ in LAYOUTS[agency][table]][1:]
    rows = nation.history.stream(agency, table, last, only_month=only_month)
    while batch := [
        (row.get(pk, row["key"]), *(row.get(c) for c in names), row["updated_at"])
        for row in islice(rows, BATCH_ROWS)
    ]:
        yield batch


def contributions(nation: Nation, snap: Snapshot, start: int, stop: int) -> Batch:
    """NIS contributions ``start:stop`` of a snapshot as rows of ``nis.contributions``."""
    v = snap.values
    periods = [nation.calendar.period(m) for m in range(nation.months + 12)]
    employer_numbers = nation.employers.nis_employer_no[v["employer"][start:stop]].tolist()
    earnings, weeks = v["insurable_earnings"][start:stop], v["weeks"][start:stop]
    classes = contribution_schedule.earnings_class(earnings)  # type: ignore[arg-type]
    return list(
        zip(
            contributions_keys(snap.key[start:stop]),
            [f"{n:09d}" for n in v["nis_number"][start:stop].tolist()],
            employer_numbers,
            [periods[m] for m in v["period"][start:stop].tolist()],
            earnings.tolist(),
            weeks.tolist(),
            [contribution_schedule.CLASSES[c] for c in classes.tolist()],
            contribution_schedule.contribution(earnings, weeks).tolist(),  # type: ignore[arg-type]
            timestamps(snap.at[start:stop]),
            strict=True,
        )
    )


def contributions_keys(keys: Int64s) -> list[str]:
    """Contribution ids as the NIS writes them."""
    return [f"K{k:010d}" for k in keys.tolist()]
