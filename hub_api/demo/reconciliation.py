"""Reconciliation: per agency dataset, the rows at the source against what reached the lake.

Each count comes from its own place, so a loss or a double anywhere shows:

* **source rows** from the source itself (``COUNT(*)`` of the table or query, the data
  rows of every CSV file the glob matches, the items the API lists), not from what the
  connector read;
* **published** records from the connector's outbox (every batch it sealed);
* **accepted** records and **quarantined** messages from the hub's ingest tables
  (``ingested_batches``, ``ingest_quarantine`` still quarantined);
* **in the lake**: rows of ``bronze.<agency>__<dataset>`` read by a table scan, and the
  distinct batch ids among them (a batch landed twice shows as more rows than accepted).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from pyiceberg.catalog import Catalog as LakeCatalog
from pyiceberg.exceptions import NoSuchTableError
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from connectors.sdk.config import ConnectorConfig
from connectors.sdk.sources.csv import CsvSourceConfig
from connectors.sdk.sources.http import HttpSourceConfig
from connectors.sdk.sources.sql import SqlSourceConfig
from connectors.sdk.state import StateDB
from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from integration.lake.bronze import bronze_identifier


@dataclass(frozen=True)
class Line:
    """One dataset's counts; ``problems`` says what does not add up."""

    agency: str
    dataset: str
    source_rows: int
    published: int
    accepted: int
    quarantined: int
    in_lake: int
    lake_batches: int = 0
    accepted_batches: int = 0
    unsettled: int = 0

    @property
    def problems(self) -> list[str]:
        out = []
        if self.published != self.source_rows:
            out.append(f"published {self.published} of {self.source_rows} source rows")
        if self.accepted != self.published:
            out.append(f"accepted {self.accepted} of {self.published} published")
        if self.quarantined:
            out.append(f"{self.quarantined} message(s) quarantined")
        if self.in_lake != self.accepted:
            out.append(f"{self.in_lake} rows in the lake for {self.accepted} accepted")
        if self.lake_batches != self.accepted_batches:
            out.append(
                f"{self.lake_batches} batch ids in the lake for {self.accepted_batches} accepted"
            )
        if self.unsettled:
            out.append(f"{self.unsettled} batch(es) without a receipt at the connector")
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "problems": self.problems}


@dataclass(frozen=True)
class Reconciliation:
    lines: list[Line]

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.lines)

    def totals(self) -> dict[str, int]:
        names = ("source_rows", "published", "accepted", "quarantined", "in_lake", "unsettled")
        return {n: sum(getattr(line, n) for line in self.lines) for n in names}

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "lines": [line.as_dict() for line in self.lines],
            "totals": self.totals(),
        }


# Sources -----------------------------------------------------------------------------


def count_csv(config: CsvSourceConfig) -> int:
    """Data rows of every file the glob matches (quoted newlines are one row)."""
    total = 0
    for path in sorted(p for p in config.directory.glob(config.glob) if p.is_file()):
        with path.open(encoding=config.encoding, newline="") as f:
            rows = csv.reader(f, delimiter=config.delimiter)
            total += max(sum(1 for _ in rows) - 1, 0)  # less the header
    return total


def count_sql(config: SqlSourceConfig) -> int:
    """``COUNT(*)`` of the configured table or query."""
    engine = create_engine(config.url.get_secret_value())
    try:
        if config.query is not None:
            sql = f"SELECT COUNT(*) FROM ({config.query}) AS source_rows"
        else:
            where = f'"{config.db_schema}".' if config.db_schema else ""
            sql = f'SELECT COUNT(*) FROM {where}"{config.table}"'
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def count_http(config: HttpSourceConfig, *, page_size: int = 1000) -> int:
    """Items the API lists from the beginning (no ``updated_since``), page by page."""
    total = 0
    params: dict[str, Any] = {config.page_size_param: page_size}
    url: str | None = config.url
    page = 1
    with httpx.Client(timeout=config.timeout_s) as client:
        while url is not None:
            if config.pagination == "page":
                params[config.page_param] = page
            body = client.get(url, params=params).raise_for_status().json()
            items = body.get(config.items_field) or []
            total += len(items)
            if config.pagination == "cursor":
                cursor = body.get(config.cursor_field)
                if not cursor:
                    break
                params[config.cursor_param] = cursor
            elif config.pagination == "next_link":
                url, params = body.get(config.next_field) or None, {}
            else:
                if not items:
                    break
                page += 1
    return total


def count_source(config: ConnectorConfig) -> int:
    source = config.source
    if isinstance(source, CsvSourceConfig):
        return count_csv(source)
    if isinstance(source, SqlSourceConfig):
        return count_sql(source)
    if isinstance(source, HttpSourceConfig):
        return count_http(source)
    raise TypeError(f"no row count for source type {type(source).__name__}")


# The connector's outbox ----------------------------------------------------------------


def outbox_counts(config: ConnectorConfig) -> tuple[int, int]:
    """(records in every stored batch, batches still waiting for a receipt)."""
    if not config.state_db_path.exists():
        return 0, 0
    state = StateDB.open(config.state_db_path)
    try:
        records, unsettled = state.connection.execute(
            "SELECT COALESCE(SUM(record_count), 0), "
            "COALESCE(SUM(state IN ('pending', 'sent')), 0) FROM batches WHERE dataset = ?",
            (config.dataset,),
        ).fetchone()
    finally:
        state.close()
    return int(records), int(unsettled)


# The hub ----------------------------------------------------------------------------------


def hub_counts(session: Session) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(agency, dataset) -> (records accepted, batches accepted, messages quarantined)."""
    out: dict[tuple[str, str], tuple[int, int, int]] = {}
    accepted = session.execute(
        select(
            IngestedBatch.agency,
            IngestedBatch.dataset,
            func.sum(IngestedBatch.records),
            func.count(),
        ).group_by(IngestedBatch.agency, IngestedBatch.dataset)
    )
    for agency, dataset, records, batches in accepted:
        out[(agency, dataset)] = (int(records or 0), int(batches), 0)
    quarantined = session.execute(
        select(QuarantinedMessage.agency, QuarantinedMessage.dataset, func.count())
        .where(QuarantinedMessage.state == "quarantined")
        .group_by(QuarantinedMessage.agency, QuarantinedMessage.dataset)
    )
    for q_agency, q_dataset, n in quarantined:
        key = (q_agency or "?", q_dataset or "?")
        records, batches, _ = out.get(key, (0, 0, 0))
        out[key] = (records, batches, int(n))
    return out


def lake_counts(lake: LakeCatalog, agency: str, dataset: str) -> tuple[int, int]:
    """(rows, distinct batch ids) of the dataset's bronze table, by a scan."""
    try:
        table = lake.load_table(bronze_identifier(agency, dataset))
    except NoSuchTableError:
        return 0, 0
    ids = table.scan(selected_fields=("_batch_id",)).to_arrow().column("_batch_id")
    return len(ids), len(ids.unique())


def reconcile(
    configs: Sequence[ConnectorConfig], *, session: Session, lake: LakeCatalog
) -> Reconciliation:
    """One line per connector config, in the order given."""
    hub = hub_counts(session)
    lines = []
    for config in configs:
        published, unsettled = outbox_counts(config)
        accepted, accepted_batches, quarantined = hub.get(
            (config.agency, config.dataset), (0, 0, 0)
        )
        rows, batches = lake_counts(lake, config.agency, config.dataset)
        lines.append(
            Line(
                agency=config.agency,
                dataset=config.dataset,
                source_rows=count_source(config),
                published=published,
                accepted=accepted,
                quarantined=quarantined,
                in_lake=rows,
                lake_batches=batches,
                accepted_batches=accepted_batches,
                unsettled=unsettled,
            )
        )
    return Reconciliation(lines)


def render_rows(result: Reconciliation) -> Iterable[list[str]]:
    """Table rows for people: agency, dataset and the counts, then the totals."""
    for line in result.lines:
        yield [
            line.agency,
            line.dataset,
            *(
                f"{n:,}"
                for n in (
                    line.source_rows,
                    line.published,
                    line.accepted,
                    line.quarantined,
                    line.in_lake,
                )
            ),
            "ok" if line.ok else "; ".join(line.problems),
        ]
    t = result.totals()
    yield [
        "all",
        "",
        *(f"{t[n]:,}" for n in ("source_rows", "published", "accepted", "quarantined", "in_lake")),
        "ok" if result.ok else "MISMATCH",
    ]
