from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.sdk.errors import HttpSourceRefused, SourceDataInvalid
from connectors.sdk.sources.http import HttpSource
from tests.connectors.sdk.sources.harness import HttpHarness, ids

T0 = datetime(2026, 2, 1, 9, 0)


@pytest.fixture
def api() -> Iterator[HttpHarness]:
    h = HttpHarness()
    h.write(
        [{"id": i, "updated_at": T0 + timedelta(minutes=i // 3), "name": "x"} for i in range(10)]
    )
    try:
        yield h
    finally:
        h.close()


def test_next_link_pagination(api: HttpHarness) -> None:
    api.state.pagination = "next_link"
    source = HttpSource(api.config(pagination="next_link", chunk_size=4))
    rows = [r for c in source.read() for r in c]
    assert [r.values["id"] for r in rows] == list(range(10))
    assert len(api.state.requests) == 3
    rest = ids(list(source.read(after=rows[4].watermark)))
    assert rest == list(range(5, 10))
    assert api.state.requests[-1]["updated_since"] == [rows[4].watermark.value]


def test_5xx_and_429_are_retried_with_backoff(api: HttpHarness) -> None:
    api.state.failures = [503, 429]
    waits: list[float] = []
    source = HttpSource(api.config(backoff_s=0.5, max_retries=3), sleep=waits.append)
    assert ids(list(source.read())) == list(range(10))
    assert waits == [0.5, 1.0]


def test_5xx_beyond_the_retries_is_unavailable(api: HttpHarness) -> None:
    api.state.failures = [500, 500, 500]
    source = HttpSource(api.config(max_retries=2), sleep=lambda s: None)
    with pytest.raises(Exception, match=r"no answer after 3 attempts \(HTTP 500\)") as info:
        list(source.read())
    assert info.value.code == "source.http_unavailable"  # type: ignore[attr-defined]


def test_4xx_is_a_clear_error_without_retry(api: HttpHarness) -> None:
    api.state.failures = [403]
    source = HttpSource(api.config(), sleep=lambda s: pytest.fail("must not retry"))
    with pytest.raises(HttpSourceRefused, match="HTTP 403") as info:
        list(source.read())
    assert info.value.code == "source.http_refused"
    assert len(api.state.requests) == 1


def test_an_api_out_of_order_is_refused(api: HttpHarness) -> None:
    api.state.shuffle = True
    with pytest.raises(SourceDataInvalid, match="must be ordered by watermark then key"):
        list(HttpSource(api.config()).read())


def test_bearer_token_is_read_from_its_file(api: HttpHarness, tmp_path: Path) -> None:
    token = tmp_path / "api.token"
    token.write_text("tok-123\n")
    assert ids(list(HttpSource(api.config(auth_token_file=str(token))).read())) == list(range(10))
    assert api.state.authorization == ["Bearer tok-123", "Bearer tok-123"]
    with pytest.raises(HttpSourceRefused, match=r"cannot read source\.auth_token_file"):
        list(HttpSource(api.config(auth_token_file=str(tmp_path / "none"))).read())
