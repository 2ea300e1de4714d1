"""The HTTP source against the synthetic job board's real API: opaque cursors, an
exclusive ``updated_since`` and a joined reference resource."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk.sources.http import HttpSource, HttpSourceConfig
from connectors.sdk.watermark import Watermark
from synth.agencies.sql import LAYOUTS, write_tables
from synth.jobboard_api import JobBoardServer, serve

# Five vacancies, three of them written in the same second (a tie on the watermark).
VACANCIES: list[dict[str, object]] = [
    {"vacancy_id": f"V{i}", "title": f"title {i}", "isco_code": "7212" if i % 2 else None,
     "updated_at": ts}
    for i, ts in enumerate(
        ["2024-01-01 10:00:00", "2024-01-02 09:00:00", "2024-01-02 09:00:00",
         "2024-01-02 09:00:00", "2024-01-03 08:00:00"]
    )
]  # fmt: skip
PLACEMENTS: list[dict[str, object]] = [
    {"placement_id": "P1", "vacancy_id": "V1", "updated_at": "2024-02-01 00:00:00"},
    {"placement_id": "P2", "vacancy_id": "V9", "updated_at": "2024-02-02 00:00:00"},
]


def in_layout(table: str, rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    """Rows as ``write_tables`` takes them: the layout's column order, then ``updated_at``."""
    columns = [name for name, _ in LAYOUTS["jobboard"][table]] + ["updated_at"]
    return [tuple(row.get(c) for c in columns) for row in rows]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("board")
    db = folder / "jobboard.db"
    tables = {"vacancies": VACANCIES, "placements": PLACEMENTS}
    write_tables(
        f"sqlite:///{db}", "jobboard", {t: [in_layout(t, rows)] for t, rows in tables.items()}
    )
    server: JobBoardServer = serve(Path(db), "127.0.0.1", 0)
    server.start_background()
    try:
        yield f"{server.url}/api/v1"
    finally:
        server.stop()


def source(url: str, **extra: object) -> HttpSource:
    config = HttpSourceConfig.model_validate(
        {
            "type": "http",
            "url": url,
            "pagination": "cursor",
            "updated_since_exclusive": True,
            "watermark_field": "updated_at",
            "key_field": extra.pop("key_field", "vacancy_id"),
            "chunk_size": 2,
            "max_retries": 0,
            **extra,
        }
    )
    return HttpSource(config)


def keys(src: HttpSource, after: Watermark | None = None) -> list[str]:
    return [row.values[src.config.key_field] for chunk in src.read(after) for row in chunk]


def test_cursor_pages_read_everything_once(board: str) -> None:
    assert keys(source(f"{board}/vacancies")) == ["V0", "V1", "V2", "V3", "V4"]


def test_resuming_inside_a_tie_skips_and_repeats_nothing(board: str) -> None:
    src = source(f"{board}/vacancies")
    after = Watermark("2024-01-02 09:00:00", "V1")
    assert keys(src, after) == ["V2", "V3", "V4"]


def test_an_inclusive_reading_of_an_exclusive_api_would_lose_the_tie(board: str) -> None:
    src = source(f"{board}/vacancies", updated_since_exclusive=False)
    assert keys(src, Watermark("2024-01-02 09:00:00", "V1")) == ["V4"]


def test_a_joined_resource_adds_its_fields(board: str) -> None:
    src = source(
        f"{board}/placements",
        key_field="placement_id",
        join={
            "url": f"{board}/vacancies",
            "key_field": "vacancy_id",
            "item_field": "vacancy_id",
            "fields": {"isco_code": "vacancy_isco", "title": "vacancy_title"},
        },
    )
    rows = [row.values for chunk in src.read() for row in chunk]
    assert [(r["placement_id"], r["vacancy_isco"], r["vacancy_title"]) for r in rows] == [
        ("P1", "7212", "title 1"),
        ("P2", None, None),  # a vacancy the board no longer lists
    ]
