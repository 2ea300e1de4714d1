"""Preflight: a connector config checked against its real source and its schema.

A misspelt column (``region: {column: regoin}``) does not fail a row: every row simply
has no such value, so the field goes out empty with no refusal at all. These checks,
run by ``lmis-hub connector validate`` over the whole source, find such mistakes
before anything is published:

* every column the mapping names (fields, templates, identifiers, the key column, the
  occupation coding's columns) must appear in the source's rows — a CSV header, an SQL
  query's columns, the keys of the HTTP items (a column present in no row at all is
  reported; one that is merely empty in some rows is not);
* every field the mapping fills must be a field of the schema version it writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.sdk.mapping import MappingSpec
from connectors.sdk.sources.base import Source, SourceRow
from connectors.sdk.watermark import Watermark
from schemas.catalog import SchemaVersion


class ObservedSource(Source):
    """A source that remembers every column its rows carried."""

    def __init__(self, inner: Source) -> None:
        super().__init__(chunk_size=inner.chunk_size)
        self.inner = inner
        self.type = inner.type  # type: ignore[misc]
        self.columns: set[str] = set()
        self.rows = 0

    def describe(self) -> str:
        return self.inner.describe()

    def read(self, after: Watermark | None = None) -> Iterator[list[SourceRow]]:
        for chunk in self.inner.read(after):
            for row in chunk:
                self.columns.update(row.values)
            self.rows += len(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def referenced_columns(mapping: MappingSpec) -> dict[str, str]:
    """Where each source column is named in the mapping (``fields.region.column``...)."""
    where: dict[str, str] = {"key_column": mapping.key_column}
    for name, spec in mapping.fields.items():
        origin = "template" if spec.template is not None else "column"
        for i, column in enumerate(spec.source_columns()):
            where[f"fields.{name}.{origin}" + (f"[{i}]" if origin == "template" else "")] = column
    for kind, column in mapping.identifiers.items():
        where[f"identifiers.{kind}"] = column
    coding = mapping.occupation_coding
    if coding is not None:
        where["occupation_coding.title_column"] = coding.title_column
        if coding.code_column is not None:
            where["occupation_coding.code_column"] = coding.code_column
    return where


def unknown_columns(mapping: MappingSpec, seen: set[str]) -> list[str]:
    """Each reference to a column that no row of the source carried."""
    return [
        f"{place}: column {column!r} is not in the source"
        for place, column in referenced_columns(mapping).items()
        if column not in seen
    ]


def unknown_fields(mapping: MappingSpec, schema: SchemaVersion) -> list[str]:
    """Each mapped field that the schema version does not have."""
    names = {f["name"] for f in schema.fields}
    filled = list(mapping.fields)
    coding = mapping.occupation_coding
    if coding is not None:
        filled += [f for f in (coding.field, coding.auto_coded_field, coding.confidence_field) if f]
    return [
        f"fields.{name}: {schema.key} v{schema.version} has no field {name!r}"
        for name in filled
        if name not in names
    ]
