from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.sdk.errors import SqlSourceUnavailable
from connectors.sdk.sources.sql import SqlSource, SqlSourceConfig
from tests.connectors.sdk.sources.memory import read_all_in_subprocess


def _config(url: str, **extra: object) -> SqlSourceConfig:
    return SqlSourceConfig.model_validate(
        {"type": "sql", "url": url, "watermark_column": "ts", "key_column": "id", **extra}
    )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'src.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, ts TEXT, active INTEGER)"))
        conn.execute(
            text("INSERT INTO t VALUES (:id, :ts, :a)"),
            [{"id": i, "ts": f"2026-01-0{1 + i // 4}", "a": i % 2} for i in range(1, 20)],
        )
    engine.dispose()
    return url


def test_query_mode_pages_over_a_subquery(sqlite_url: str) -> None:
    source = SqlSource(_config(sqlite_url, query="SELECT * FROM t WHERE active = 1", chunk_size=3))
    rows = [r for c in source.read() for r in c]
    assert [r.values["id"] for r in rows] == [i for i in range(1, 20) if i % 2]
    rest = [r.values["id"] for c in source.read(after=rows[2].watermark) for r in c]
    assert rest == [i for i in range(1, 20) if i % 2][3:]


def test_missing_column_is_named(sqlite_url: str) -> None:
    source = SqlSource(_config(sqlite_url, table="t", watermark_column="updated_at"))
    with pytest.raises(SqlSourceUnavailable, match="column 'updated_at' does not exist"):
        list(source.read())


def test_password_never_appears_in_the_description() -> None:
    source = SqlSource(_config("postgresql+psycopg://agency:s3cret@db.example/x", table="t"))
    assert "s3cret" not in source.describe()


def test_table_or_query_exactly_one() -> None:
    with pytest.raises(ValueError, match="exactly one of table or query"):
        _config("sqlite://", table="t", query="SELECT 1")


def test_memory_stays_flat_over_100k_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'big.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE big (id INTEGER PRIMARY KEY, ts TEXT, name TEXT)"))
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) "
            "INSERT INTO big SELECT i, printf('2026-01-01T%05d', i / 7), 'name ' || i FROM n"
        )
        conn.execute(text("CREATE INDEX ix_big ON big (ts, id)"))
    engine.dispose()
    config = {"type": "sql", "url": url, "table": "big", "watermark_column": "ts"}
    count, growth_kib = read_all_in_subprocess({**config, "key_column": "id", "chunk_size": 2000})
    assert count == 100_000
    assert growth_kib < 15_000, growth_kib
