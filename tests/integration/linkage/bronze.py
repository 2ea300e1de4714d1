"""Bronze tables for linkage-job tests: tokenised tables landed as the ingest lands them
(an Iceberg table per dataset in ``bronze``, with the lineage's ``_received_at``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError

from integration.lake.bronze import bronze_identifier
from integration.linkage.features import Source


def land(lake: Catalog, source: Source, rows: pa.Table, *, at: datetime | None = None) -> None:
    """Append ``rows`` to ``bronze.<agency>__<dataset>`` (created on first use)."""
    received = at or datetime.now(UTC)
    rows = rows.append_column(
        "_received_at", pa.array([received] * rows.num_rows, pa.timestamp("us", tz="UTC"))
    )
    name = bronze_identifier(source.agency, source.dataset)
    try:
        table = lake.load_table(name)
    except NoSuchTableError:
        table = lake.create_table(name, schema=rows.schema)
    table.append(rows.cast(table.schema().as_arrow()))
