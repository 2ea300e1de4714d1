"""The tables an indicator may read, and the columns each offers.

A source is a bronze table (``bronze.<agency>__<dataset>``, a dataset of the schema
catalog) or a silver table of the linkage (``silver.person_links``, ``silver.persons``).
A bronze table offers every column of every version of its dataset's schema (the lake
evolves a table by adding columns) and the lineage columns, but no token column:
tokens are for linkage only, and an indicator that needs to follow a person joins the
person keys of ``silver.person_links`` instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from integration.indicators.errors import TableUnknown
from integration.lake.iceberg_schema import avro_to_iceberg
from integration.linkage import silver
from schemas.catalog import SchemaCatalog

BRONZE = "bronze"
#: Silver tables an indicator may read (the key changes are the linkage's own history).
SILVER_SOURCES = (silver.PERSON_LINKS, silver.PERSONS)


def bronze_dataset(name: str) -> tuple[str, str] | None:
    """(agency, dataset) of a ``bronze.<agency>__<dataset>`` name, else None."""
    namespace, _, table = name.partition(".")
    if namespace != BRONZE or "__" not in table:
        return None
    agency, dataset = table.split("__", 1)
    return (agency, dataset) if agency and dataset else None


def is_token_column(name: str, token_fields: Iterable[str] = ()) -> bool:
    """Whether a column holds tokens (only the linkage reads those)."""
    return name.endswith("_token") or name in set(token_fields)


def _plain(schema: pa.Schema) -> pa.Schema:
    """The schema without field metadata, every field nullable (a column of a version
    not delivered yet reads as NULL)."""
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])


def source_schema(name: str, *, schemas: SchemaCatalog) -> pa.Schema:
    """The Arrow schema of the source table ``name`` as indicators see it; an unknown
    name raises :class:`TableUnknown`."""
    if name in SILVER_SOURCES:
        return _plain(silver.SCHEMAS[name].as_arrow())
    found = bronze_dataset(name)
    known = set(schemas.datasets())
    if found is None or f"{found[0]}/{found[1]}" not in known:
        raise TableUnknown(
            f"table {name!r} is not a source indicators can read: name a dataset of the "
            f"schema catalog as bronze.<agency>__<dataset>, or one of {', '.join(SILVER_SOURCES)}"
        )
    agency, dataset = found
    fields: dict[str, pa.Field] = {}
    tokens: set[str] = set()
    for version in schemas.versions(agency, dataset):
        tokens.update(version.token_fields())
        for f in avro_to_iceberg(dict(version.raw)).as_arrow():
            fields[f.name] = f
    kept = [f for f in fields.values() if not is_token_column(f.name, tokens)]
    # Lineage columns come last in every version's schema; keep them last.
    ordered = [f for f in kept if not f.name.startswith("_")] + [
        f for f in kept if f.name.startswith("_")
    ]
    return _plain(pa.schema(ordered))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly the columns of ``schema``, in its order and types: missing
    columns (a schema version not delivered yet) are NULL, extra ones are dropped."""
    columns = []
    for f in schema:
        if f.name in table.column_names:
            columns.append(table[f.name].cast(f.type))
        else:
            columns.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=schema)
