"""CSV exports: a directory of files matched by a glob.

Two incremental modes:

- ``column``: each row carries a watermark column (e.g. ``updated_at``, ISO 8601 so it
  sorts as text) and a key column. Files may be in any order; the rows after the
  watermark are staged in a temporary SQLite file and read back ordered by
  (watermark, key) page by page, so memory stays flat whatever the export size.
  Values are compared as text.
- ``file``: whole files in order of (modification time, name) or of name; a row's
  watermark is its file's position and its key the row number, so a file that is
  changed (new mtime) is read again in full.

The glob may reach into sub-folders (``*/trainees.csv`` for one folder per export
date, ``lfs/lfs_*.csv``). Three optional columns can be added to every row, named
by the config: ``file_column`` (the file's path relative to the directory, e.g.
``2024-06/trainees.csv``), ``row_ref_column`` (that path and the line number,
``2024-06/trainees.csv:7``: a reference to the exported row that is not a personal
identifier) and ``modified_column`` (the file's modification date, ISO 8601).
"""

from __future__ import annotations

import csv
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.sdk.errors import CsvSourceUnavailable, SourceDataInvalid
from connectors.sdk.sources.base import Source, SourceRow, is_after
from connectors.sdk.watermark import Watermark


class CsvSourceConfig(BaseModel):
    """`source:` of a connector reading CSV exports."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["csv"]
    directory: Path
    glob: str = "*.csv"
    encoding: str = "utf-8-sig"
    delimiter: str = Field(",", min_length=1, max_length=1)
    incremental: Literal["column", "file"] = "column"
    watermark_column: str | None = None
    key_column: str | None = None
    file_order: Literal["mtime", "name"] = "mtime"
    chunk_size: int = Field(5000, ge=1)
    file_column: str | None = Field(
        None, description="Add the file's relative path as this column."
    )
    row_ref_column: str | None = Field(
        None, description="Add '<relative path>:<line>' as this column."
    )
    modified_column: str | None = Field(
        None, description="Add the file's modification date (YYYY-MM-DD, UTC) as this column."
    )

    @model_validator(mode="after")
    def _columns_for_column_mode(self) -> CsvSourceConfig:
        if self.incremental == "column":
            missing = [
                name for name in ("watermark_column", "key_column") if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required when incremental is 'column'")
        return self


class CsvSource(Source):
    """A directory of CSV exports."""

    type = "csv"

    def __init__(self, config: CsvSourceConfig) -> None:
        super().__init__(chunk_size=config.chunk_size)
        self.config = config

    @classmethod
    def from_config(cls, config: CsvSourceConfig) -> CsvSource:
        return cls(config)

    def describe(self) -> str:
        return f"csv source {self.config.directory / self.config.glob}"

    def _files(self) -> list[Path]:
        directory = self.config.directory
        if not directory.is_dir():
            raise CsvSourceUnavailable(
                f"{self.describe()}: directory {directory} does not exist",
                source=str(directory),
            )
        return sorted(p for p in directory.glob(self.config.glob) if p.is_file())

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            with path.open(encoding=self.config.encoding, newline="") as handle:
                reader = csv.DictReader(handle, delimiter=self.config.delimiter)
                extra = self._file_columns(path)
                ref_col = self.config.row_ref_column
                relative = path.relative_to(self.config.directory).as_posix()
                for number, row in enumerate(reader, start=2):
                    values = dict(row)
                    values.update(extra)
                    if ref_col is not None:
                        values[ref_col] = f"{relative}:{number}"
                    yield number, values
        except OSError as exc:
            raise CsvSourceUnavailable(
                f"{self.describe()}: cannot read {path.name} ({exc.strerror})"
            ) from exc
        except (UnicodeDecodeError, csv.Error) as exc:
            raise SourceDataInvalid(
                f"{self.describe()}: {path.name} is not {self.config.encoding} CSV ({exc})"
            ) from exc

    def _file_columns(self, path: Path) -> dict[str, str]:
        cfg = self.config
        extra: dict[str, str] = {}
        if cfg.file_column is not None:
            extra[cfg.file_column] = path.relative_to(cfg.directory).as_posix()
        if cfg.modified_column is not None:
            moment = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            extra[cfg.modified_column] = moment.date().isoformat()
        return extra

    def read(self, after: Watermark | None = None) -> Iterator[list[SourceRow]]:
        if self.config.incremental == "file":
            yield from self._read_files(after)
        else:
            yield from self._read_by_column(after)

    # -- file mode ------------------------------------------------------------------

    def _file_position(self, path: Path) -> str:
        if self.config.file_order == "name":
            return path.name
        return f"{path.stat().st_mtime_ns:020d} {path.name}"

    def _read_files(self, after: Watermark | None) -> Iterator[list[SourceRow]]:
        files = sorted((self._file_position(p), p) for p in self._files())
        chunk: list[SourceRow] = []
        for position, path in files:
            if after is not None and position < after.value:
                continue
            for number, row in self._rows(path):
                mark = Watermark(position, number)
                if not is_after(mark, after):
                    continue
                chunk.append(SourceRow(row, mark))
                if len(chunk) >= self.chunk_size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    # -- column mode ----------------------------------------------------------------

    def _read_by_column(self, after: Watermark | None) -> Iterator[list[SourceRow]]:
        wm_col = self.config.watermark_column
        key_col = self.config.key_column
        assert wm_col is not None and key_col is not None  # the config validator ensures it
        files = self._files()
        with tempfile.TemporaryDirectory(prefix="lmis-csv-") as tmp:
            stage = sqlite3.connect(Path(tmp) / "stage.db")
            try:
                stage.execute("PRAGMA journal_mode=OFF")
                stage.execute(
                    "CREATE TABLE rows (wm TEXT NOT NULL, key TEXT NOT NULL, row TEXT NOT NULL, "
                    "PRIMARY KEY (wm, key))"
                )
                for path in files:
                    self._stage_file(stage, path, wm_col, key_col, after)
                stage.commit()
                yield from self._page_staged(stage)
            finally:
                stage.close()

    def _stage_file(
        self,
        stage: sqlite3.Connection,
        path: Path,
        wm_col: str,
        key_col: str,
        after: Watermark | None,
    ) -> None:
        batch: list[tuple[str, str, str]] = []
        for number, row in self._rows(path):
            wm, key = row.get(wm_col), row.get(key_col)
            if not wm or not key:
                missing = wm_col if not wm else key_col
                raise SourceDataInvalid(
                    f"{self.describe()}: {path.name} line {number}: column {missing!r} "
                    "is missing or empty"
                )
            if is_after(Watermark(wm, key), after):
                batch.append((wm, key, json.dumps(row)))
            if len(batch) >= self.chunk_size:
                self._insert(stage, batch, path)
                batch = []
        if batch:
            self._insert(stage, batch, path)

    def _insert(
        self, stage: sqlite3.Connection, batch: list[tuple[str, str, str]], path: Path
    ) -> None:
        try:
            stage.executemany("INSERT INTO rows VALUES (?, ?, ?)", batch)
        except sqlite3.IntegrityError as exc:
            raise SourceDataInvalid(
                f"{self.describe()}: {path.name}: the same (watermark, key) appears twice; "
                f"keys in {self.config.key_column!r} must be unique per watermark value"
            ) from exc

    def _page_staged(self, stage: sqlite3.Connection) -> Iterator[list[SourceRow]]:
        last: tuple[str, str] | None = None
        while True:
            if last is None:
                cur = stage.execute(
                    "SELECT wm, key, row FROM rows ORDER BY wm, key LIMIT ?", (self.chunk_size,)
                )
            else:
                cur = stage.execute(
                    "SELECT wm, key, row FROM rows WHERE wm > ? OR (wm = ? AND key > ?) "
                    "ORDER BY wm, key LIMIT ?",
                    (last[0], last[0], last[1], self.chunk_size),
                )
            page = cur.fetchall()
            if not page:
                return
            yield [SourceRow(json.loads(row), Watermark(wm, key)) for wm, key, row in page]
            last = (page[-1][0], page[-1][1])
