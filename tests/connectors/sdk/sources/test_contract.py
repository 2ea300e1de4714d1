"""One contract for every source type: CSV files, SQLite, PostgreSQL, an HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.sdk.errors import SourceUnavailable
from tests.connectors.sdk.sources.harness import CsvHarness, HttpHarness, SqlHarness, ids

T0 = datetime(2026, 1, 5, 8, 0, 0)


def people(n: int, *, ties: int = 1, start: int = 1) -> list[dict[str, Any]]:
    """n rows; every ``ties`` consecutive rows share an updated_at."""
    return [
        {"id": i, "updated_at": T0 + timedelta(minutes=(i - start) // ties), "name": f"p{i}"}
        for i in range(start, start + n)
    ]


@pytest.fixture(params=["csv", "sqlite", "postgresql", "http"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "csv":
        h: Any = CsvHarness(tmp_path)
    elif request.param == "sqlite":
        h = SqlHarness(f"sqlite:///{tmp_path / 'agency.db'}")
    elif request.param == "postgresql":
        h = SqlHarness(request.getfixturevalue("postgres_url"))
    else:
        h = HttpHarness()
    try:
        yield h
    finally:
        h.close()


def test_full_read_is_complete_ordered_and_chunked(harness: Any) -> None:
    harness.write(people(23))
    chunks = list(harness.source(chunk_size=5).read())
    assert sorted(ids(chunks)) == list(range(1, 24))
    assert all(1 <= len(c) <= 5 for c in chunks)
    marks = [(r.watermark.value, r.watermark.key) for c in chunks for r in c]
    assert marks == sorted(marks) and len(set(marks)) == len(marks)


def test_incremental_read_starts_strictly_after_the_watermark(harness: Any) -> None:
    harness.write(people(12))
    source = harness.source(chunk_size=4)
    full = [row for chunk in source.read() for row in chunk]
    for k in (0, 5, 10, 11):
        rest = ids(list(source.read(after=full[k].watermark)))
        assert rest == [int(r.values["id"]) for r in full[k + 1 :]]


def test_ties_at_the_watermark_are_neither_skipped_nor_repeated(harness: Any) -> None:
    harness.write(people(20, ties=7))  # groups of 7 rows share a timestamp
    source = harness.source(chunk_size=3)  # pages break inside a tie group
    full = [row for chunk in source.read() for row in chunk]
    assert sorted(int(r.values["id"]) for r in full) == list(range(1, 21))
    # resume from every position inside the first tie group, as after a crash
    for k in range(7):
        rest = ids(list(source.read(after=full[k].watermark)))
        assert rest == [int(r.values["id"]) for r in full[k + 1 :]]


def test_updates_after_a_first_read_come_back(harness: Any) -> None:
    rows = people(10)
    harness.write(rows)
    source = harness.source(chunk_size=4)
    first = [row for chunk in source.read() for row in chunk]
    last = first[-1].watermark
    rows[2] = {"id": 3, "updated_at": T0 + timedelta(hours=5), "name": "p3 renamed"}
    rows.append({"id": 99, "updated_at": T0 + timedelta(hours=6), "name": "p99"})
    harness.write(rows)
    again = [row for chunk in source.read(after=last) for row in chunk]
    assert [(int(r.values["id"]), r.values["name"]) for r in again] == [
        (3, "p3 renamed"),
        (99, "p99"),
    ]
    assert list(source.read(after=again[-1].watermark)) == []


def test_empty_source_yields_nothing(harness: Any) -> None:
    harness.write([])
    assert list(harness.source(chunk_size=4).read()) == []


def test_bad_source_is_a_clear_error_naming_it(harness: Any) -> None:
    source = harness.broken()
    with pytest.raises(SourceUnavailable) as info:
        list(source.read())
    assert info.value.code == f"source.{harness.kind}_unavailable"
    assert source.describe() in info.value.message
