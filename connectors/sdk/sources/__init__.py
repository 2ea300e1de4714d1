"""Sources: one module per kind of agency system, chosen by the ``type`` key."""

from connectors.sdk.sources.base import Source, SourceRow, load_source

__all__ = ["Source", "SourceRow", "load_source"]
