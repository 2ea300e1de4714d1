from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.sdk.errors import SourceDataInvalid
from connectors.sdk.sources.csv import CsvSource, CsvSourceConfig
from tests.connectors.sdk.sources.memory import read_all_in_subprocess


def _write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_file_mode_reads_files_in_mtime_order_and_resumes_inside_a_file(tmp_path: Path) -> None:
    _write(tmp_path / "b.csv", "n\nb1\nb2\n", 1_000_000_000)
    _write(tmp_path / "a.csv", "n\na1\na2\na3\n", 2_000_000_000)
    source = CsvSource(CsvSourceConfig(type="csv", directory=tmp_path, incremental="file"))
    rows = [r for c in source.read() for r in c]
    assert [r.values["n"] for r in rows] == ["b1", "b2", "a1", "a2", "a3"]
    rest = [r.values["n"] for c in source.read(after=rows[3].watermark) for r in c]
    assert rest == ["a3"]
    # a re-exported file (newer mtime) is read again in full; older ones are not
    _write(tmp_path / "b.csv", "n\nb1\nb2\nb3\n", 3_000_000_000)
    again = [r.values["n"] for c in source.read(after=rows[-1].watermark) for r in c]
    assert again == ["b1", "b2", "b3"]


def test_delimiter_and_encoding_are_honoured(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_bytes("id;updated_at;name\n1;2026-01-01;Zoë\n".encode("latin-1"))
    cfg = CsvSourceConfig(
        type="csv",
        directory=tmp_path,
        glob="*.txt",
        encoding="latin-1",
        delimiter=";",
        watermark_column="updated_at",
        key_column="id",
    )
    rows = [r.values for c in CsvSource(cfg).read() for r in c]
    assert rows == [{"id": "1", "updated_at": "2026-01-01", "name": "Zoë"}]


def test_a_row_without_its_watermark_is_named_by_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("id,updated_at\n1,2026-01-01\n2,\n")
    cfg = CsvSourceConfig(
        type="csv", directory=tmp_path, watermark_column="updated_at", key_column="id"
    )
    with pytest.raises(SourceDataInvalid, match=r"e\.csv line 3: column 'updated_at'"):
        list(CsvSource(cfg).read())


def test_column_mode_memory_stays_flat_over_100k_rows(tmp_path: Path) -> None:
    with (tmp_path / "big.csv").open("w") as handle:
        handle.write("id,updated_at,name\n")
        for i in range(100_000):
            handle.write(f"{i:06d},2026-01-01T00:{i // 6000:02d}:00,name {i}\n")
    config = {
        "type": "csv",
        "directory": str(tmp_path),
        "watermark_column": "updated_at",
        "key_column": "id",
        "chunk_size": 1000,
    }
    count, growth_kib = read_all_in_subprocess(config)
    assert count == 100_000
    # all rows as dicts would take > 40 MB; a bounded reader holds a few chunks
    assert growth_kib < 15_000, growth_kib


def test_dated_sub_folders_give_a_row_reference_and_file_columns(tmp_path: Path) -> None:
    (tmp_path / "2024-01").mkdir()
    (tmp_path / "2024-02").mkdir()
    _write(tmp_path / "2024-01" / "t.csv", "id,updated_at\nA,2024-01-05\nB,2024-01-06\n", 1)
    _write(tmp_path / "2024-02" / "t.csv", "id,updated_at\nA,2024-02-01\n", 2)
    config = CsvSourceConfig(
        type="csv",
        directory=tmp_path,
        glob="*/t.csv",
        watermark_column="updated_at",
        key_column="id",
        row_ref_column="ref",
        file_column="file",
        modified_column="day",
    )
    rows = [r.values for chunk in CsvSource(config).read() for r in chunk]
    assert [(r["id"], r["ref"], r["file"]) for r in rows] == [
        ("A", "2024-01/t.csv:2", "2024-01/t.csv"),
        ("B", "2024-01/t.csv:3", "2024-01/t.csv"),
        ("A", "2024-02/t.csv:2", "2024-02/t.csv"),
    ]
    assert {r["day"] for r in rows} == {"1970-01-01"}
