"""The source contract every kind of agency system implements.

A source yields rows in ascending (watermark value, key) order, in chunks of at most
``chunk_size`` rows, starting strictly after a given :class:`Watermark`. Each row
carries its own watermark, so the pipeline can store exactly how far it got. Sources
are chosen by the ``type`` key of their configuration (:func:`load_source`).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from connectors.sdk.errors import SourceDataInvalid
from connectors.sdk.watermark import Watermark

if TYPE_CHECKING:
    from connectors.sdk.config import SourceConfig

#: type key -> "module:Class" (imported on first use).
SOURCE_TYPES: dict[str, str] = {
    "csv": "connectors.sdk.sources.csv:CsvSource",
    "sql": "connectors.sdk.sources.sql:SqlSource",
    "http": "connectors.sdk.sources.http:HttpSource",
}


class SourceRow(NamedTuple):
    """One source row (column -> value) and the watermark it carries."""

    values: dict[str, Any]
    watermark: Watermark


class Source(ABC):
    """Reads an agency system incrementally, in watermark order, in bounded chunks."""

    type: ClassVar[str]

    def __init__(self, *, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.chunk_size = chunk_size

    @abstractmethod
    def describe(self) -> str:
        """The source for messages: its type and location (no secrets)."""

    @abstractmethod
    def read(self, after: Watermark | None = None) -> Iterator[list[SourceRow]]:
        """Chunks of rows strictly after ``after``, ascending by (watermark, key)."""

    def close(self) -> None:  # noqa: B027 - a no-op unless the source holds connections
        """Release what the source opened (connection pools, clients)."""


def is_after(mark: Watermark, after: Watermark | None) -> bool:
    """True when ``mark`` comes strictly after ``after`` (None: everything does)."""
    return after is None or (mark.value, mark.key) > (after.value, after.key)


def check_ascending(previous: Watermark | None, mark: Watermark, where: str) -> None:
    """Refuse a source that does not deliver rows in (watermark, key) order."""
    if previous is not None and (mark.value, mark.key) <= (previous.value, previous.key):
        raise SourceDataInvalid(
            f"{where}: row ({mark.value!r}, key {mark.key!r}) is not after the previous "
            f"row ({previous.value!r}, key {previous.key!r}); the source must be ordered "
            "by watermark then key, with unique keys"
        )


def load_source(config: SourceConfig, **dependencies: Any) -> Source:
    """Build the source named by ``config.type`` (extra keyword dependencies passed on)."""
    module_name, class_name = SOURCE_TYPES[config.type].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    source: Source = cls.from_config(config, **dependencies)
    return source
