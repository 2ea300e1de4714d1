"""A paginated HTTP JSON API read through httpx.

The API is asked for rows updated since the watermark value (``updated_since``,
inclusive, so rows sharing the last timestamp come back) and must return them ordered
by (watermark field, key field); rows at or before the stored (value, key) are
dropped here, so ties are neither skipped nor repeated. An API whose ``updated_since``
is exclusive (rows strictly later) is asked for one microsecond before the watermark
(``updated_since_exclusive: true``), so rows sharing the last timestamp still come back.
Pagination is by page number (``page`` / ``page_size`` parameters, an empty page
ends), by a next link in the body, or by an opaque cursor (``cursor_field`` in the
body, sent back as ``cursor_param``; null or absent at the end). Timeouts,
connection errors, 429 and 5xx are retried with exponential backoff; any other 4xx
stops with a clear error naming the URL and status.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from connectors.sdk.errors import HttpSourceRefused, HttpSourceUnavailable, SourceDataInvalid
from connectors.sdk.sources.base import Source, SourceRow, check_ascending, is_after
from connectors.sdk.watermark import Watermark

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


class HttpJoin(BaseModel):
    """`source.join:` fields of another resource of the same API added to each item.

    The other resource is read in full (same pagination) once per run and indexed by
    ``key_field``; each item gets ``fields`` (joined field -> new column) of the entry
    whose key equals its ``item_field``, or nulls when there is none. For a small
    reference resource, such as the vacancies a placement names.
    """

    model_config = ConfigDict(extra="forbid")

    url: str
    key_field: str
    item_field: str
    fields: dict[str, str] = Field(min_length=1)


class HttpSourceConfig(BaseModel):
    """`source:` of a connector reading a JSON API."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http"]
    url: str
    items_field: str = "items"
    pagination: Literal["page", "next_link", "cursor"] = "page"
    page_param: str = "page"
    page_size_param: str = "page_size"
    next_field: str = "next"
    cursor_field: str = "next_cursor"
    cursor_param: str = "cursor"
    updated_since_param: str = "updated_since"
    updated_since_exclusive: bool = Field(
        False, description="The API returns rows strictly after updated_since."
    )
    watermark_field: str
    key_field: str
    chunk_size: int = Field(500, ge=1, description="Rows per page asked of the API.")
    timeout_s: float = Field(30.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; doubles each time.")
    auth_token_file: Path | None = Field(
        None, description="File holding a bearer token sent as the Authorization header."
    )
    join: HttpJoin | None = None


class HttpSource(Source):
    """Incremental reads of a paginated JSON API."""

    type = "http"

    def __init__(
        self,
        config: HttpSourceConfig,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(chunk_size=config.chunk_size)
        self.config = config
        self._client = client
        self._sleep = sleep

    @classmethod
    def from_config(
        cls,
        config: HttpSourceConfig,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> HttpSource:
        return cls(config, client=client, sleep=sleep)

    def describe(self) -> str:
        return f"http source {self.config.url}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        token_file = self.config.auth_token_file
        if token_file is not None:
            try:
                token = token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise HttpSourceRefused(
                    f"{self.describe()}: cannot read source.auth_token_file {token_file} "
                    f"({exc.strerror})"
                ) from exc
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _get(self, client: httpx.Client, url: str, params: dict[str, Any] | None) -> Any:
        cfg = self.config
        delay = cfg.backoff_s
        problem = ""
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                self._sleep(delay)
                delay *= 2
            try:
                response = client.get(url, params=params)
            except httpx.TransportError as exc:  # timeouts, refused connections, DNS
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code in RETRYABLE_STATUS:
                problem = f"HTTP {response.status_code}"
                continue
            if response.is_error:
                raise HttpSourceRefused(
                    f"{self.describe()}: GET {response.url} answered HTTP "
                    f"{response.status_code} {response.reason_phrase}",
                    status=response.status_code,
                )
            try:
                return response.json()
            except ValueError as exc:
                raise SourceDataInvalid(
                    f"{self.describe()}: GET {response.url} did not return JSON"
                ) from exc
        raise HttpSourceUnavailable(
            f"{self.describe()}: no answer after {cfg.max_retries + 1} attempts ({problem})",
            source=cfg.url,
        )

    def _pages(
        self, client: httpx.Client, after: Watermark | None, *, url: str | None = None
    ) -> Iterator[list[Any]]:
        cfg = self.config
        base = url or cfg.url
        params: dict[str, Any] = {cfg.page_size_param: self.chunk_size}
        if after is not None:
            params[cfg.updated_since_param] = self._since(after.value)
        if cfg.pagination == "cursor":
            cursor: str | None = None
            while True:
                query = params if cursor is None else {**params, cfg.cursor_param: cursor}
                body = self._get(client, base, query)
                items = self._items(body)
                if items:
                    yield items
                following = body.get(cfg.cursor_field) if isinstance(body, dict) else None
                if not following or not items:
                    return
                cursor = str(following)
        elif cfg.pagination == "page":
            page = 1
            while True:
                body = self._get(client, base, {**params, cfg.page_param: page})
                items = self._items(body)
                if not items:
                    return
                yield items
                page += 1
        else:
            link: str | None = base
            first = True
            while link:
                body = self._get(client, link, params if first else None)
                first = False
                items = self._items(body)
                if items:
                    yield items
                next_url = body.get(cfg.next_field) if isinstance(body, dict) else None
                link = str(httpx.URL(base).join(next_url)) if next_url else None

    def _joined(self, client: httpx.Client) -> dict[str, dict[str, Any]] | None:
        join = self.config.join
        if join is None:
            return None
        out: dict[str, dict[str, Any]] = {}
        for items in self._pages(client, None, url=join.url):
            for item in items:
                if isinstance(item, dict) and item.get(join.key_field) is not None:
                    out[str(item[join.key_field])] = {
                        column: item.get(field) for field, column in join.fields.items()
                    }
        return out

    def _join_values(
        self, item: dict[str, Any], joined: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        join = self.config.join
        assert join is not None
        found = joined.get(str(item.get(join.item_field)))
        return found if found is not None else dict.fromkeys(join.fields.values())

    def _since(self, value: Any) -> str:
        """The updated_since value for a stored watermark value."""
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        if not self.config.updated_since_exclusive:
            return text
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as exc:
            raise SourceDataInvalid(
                f"{self.describe()}: watermark {text!r} is not an ISO 8601 timestamp, "
                "needed with updated_since_exclusive"
            ) from exc
        sep = " " if " " in text else "T"
        return (moment - timedelta(microseconds=1)).isoformat(sep=sep)

    def _items(self, body: Any) -> list[Any]:
        items = body.get(self.config.items_field) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise SourceDataInvalid(
                f"{self.describe()}: response has no list in {self.config.items_field!r}"
            )
        return items

    def read(self, after: Watermark | None = None) -> Iterator[list[SourceRow]]:
        cfg = self.config
        client = self._client or httpx.Client(timeout=cfg.timeout_s, headers=self._headers())
        try:
            joined = self._joined(client)
            previous: Watermark | None = None
            for items in self._pages(client, after):
                chunk = []
                for item in items:
                    if not isinstance(item, dict):
                        raise SourceDataInvalid(f"{self.describe()}: an item is not an object")
                    value, key = item.get(cfg.watermark_field), item.get(cfg.key_field)
                    if value is None or key is None:
                        raise SourceDataInvalid(
                            f"{self.describe()}: item with key {key!r} lacks "
                            f"{cfg.watermark_field!r} or {cfg.key_field!r}"
                        )
                    if joined is not None:
                        item = {**item, **self._join_values(item, joined)}
                    mark = Watermark(value, key)
                    check_ascending(previous, mark, self.describe())
                    previous = mark
                    if is_after(mark, after):
                        chunk.append(SourceRow(item, mark))
                if chunk:
                    yield chunk
        finally:
            if self._client is None:
                client.close()
