"""The whole spine for end-to-end tests: a hub database provisioned by
:func:`tests.fixtures.hub.provision_hub`, agency connectors publishing a synthetic
nation to a real broker, the ingest worker as a real `lmis-hub ingest run` process, and
the reconciliation.

Everything lives in one folder: the hub database (a SQLite file), the lake, the
connectors' state, the worker's log. The connectors run in the test's process, wired
as `lmis-hub connector run` wires them; the worker runs as its own process so it can
be killed.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow.compute as pc
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from connectors.sdk.config import ConnectorConfig, parse_config
from connectors.sdk.kit import packaged_code_lists
from connectors.sdk.linkkey import LinkKey
from connectors.sdk.outbox import Outbox
from connectors.sdk.pipeline import Pipeline, RunReport
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender
from connectors.sdk.receipt_reader import ReceiptReader
from connectors.sdk.receipts import ReceiptApplier, ReceiptReport, resend_due
from connectors.sdk.state import StateDB
from governance.audit.services import AuditLog
from governance.db import make_engine
from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from governance.timestamps import utc_now
from hub_api.wiring import lake_catalog
from integration.lake.bronze import bronze_identifier, committed_batch_ids
from lmis_hub.kafka import librdkafka_config
from schemas.catalog import SchemaCatalog
from schemas.receipts import receipt_topic
from synth import nation as nation_mod
from synth.config import load_config as load_synth_config
from tests.connectors.agencies.deployment import AGENCIES, deployment_document
from tests.fixtures.hub import ProvisionedHub

LINK_KEY = LinkKey(b"L" * 32, key_id=1)


def make_nation(folder: Path, *, persons: int, months: int, seed: int = 7) -> Path:
    """A synthetic nation (SQLite sources) in ``folder``."""
    config = load_synth_config(None, persons=persons, seed=seed, months=months)
    nation_mod.make(config, nation_mod.Targets(folder, None, "synth_"))
    return folder


def source_rows(nation: Path, dataset: str) -> int:
    """Rows the agency's source system holds for ``agency/dataset`` (what must land)."""
    sources = nation / "sources"
    if dataset == "nis/contribution":
        table, db = "contributions", sources / "nis" / "nis.db"
    elif dataset == "nis/employer":
        table, db = "employers", sources / "nis" / "nis.db"
    elif dataset == "nso/business_register":
        with (sources / "nso" / "business_register.csv").open(encoding="utf-8") as f:
            return sum(1 for _ in csv.DictReader(f))
    else:
        raise ValueError(f"no source count for {dataset}")
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


# The connectors ------------------------------------------------------------------------


class Connector:
    """One agency connector wired as `lmis-hub connector run` wires it."""

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        hub: ProvisionedHub,
        schemas: SchemaCatalog,
        resend_after_s: float,
        send_timeout_s: float,
    ) -> None:
        self.config = config
        self.key = f"{config.agency}/{config.dataset}"
        self.resend_after = timedelta(seconds=resend_after_s)
        self.state = StateDB.open(config.state_db_path)
        self.kafka = librdkafka_config(config.kafka.settings())
        code_lists = packaged_code_lists()
        self.pipeline = Pipeline.from_config(
            config,
            state=self.state,
            link_key=LINK_KEY,
            clock=utc_now,
            code_lists=code_lists,  # type: ignore[arg-type]
            regions=frozenset(code_lists["region"]),
        )
        schema = schemas.get(config.agency, config.dataset, config.schema_major)
        self._schema = schema
        self._signer = hub.signers[config.agency]
        self._sender = KafkaSender(self.kafka, timeout_s=send_timeout_s)
        self.publisher = self._publisher()
        applier = ReceiptApplier(
            self.state,
            catalog=schemas,
            hub_keys=[hub.hub_key],
            agency=config.agency,
            dataset=config.dataset,
            clock=utc_now,
            max_skew=timedelta(minutes=5),
        )
        self.reader = ReceiptReader(
            self.state,
            topic=receipt_topic(config.agency),
            consumer_config=self.kafka,
            applier=applier,
        )

    def _publisher(self) -> EnvelopePublisher:
        return EnvelopePublisher(
            schema=self._schema,
            topic=self._schema.topic,
            agreement_id=self.config.agreement_id or "",
            agreement_version=self.config.agreement_version,
            signer=self._signer,
            state=self.state,
            sender=self._sender,
            clock=utc_now,
        )

    def publish(self) -> RunReport:
        """Read the source after the watermark and publish every new batch."""
        return self.pipeline.run(self.publisher)

    def receipts(self, timeout_s: float = 1.0) -> ReceiptReport:
        return self.reader.poll(timeout_s=timeout_s, max_messages=10_000)

    def resend(self) -> list[str]:
        return resend_due(self.publisher, self.state, now=utc_now(), timeout=self.resend_after)

    def outbox_states(self) -> Counter[str]:
        return Counter(b.state for b in Outbox(self.state).batches())

    def part_ids(self) -> set[str]:
        rows = self.state.connection.execute("SELECT part_id FROM batch_parts").fetchall()
        return {str(r[0]) for r in rows}

    def close(self) -> None:
        self.reader.close()
        self._sender.close()
        self.state.close()


def connector(
    dataset: str,
    *,
    nation: Path,
    data_dir: Path,
    bootstrap: str,
    hub: ProvisionedHub,
    schemas: SchemaCatalog,
    batch_size: int,
    resend_after_s: float = 600.0,
    send_timeout_s: float = 30.0,
) -> Connector:
    """The agency config ``connectors/agencies/<dataset>.yaml`` deployed in ``data_dir``."""
    path = AGENCIES / f"{dataset}.yaml"
    document = deployment_document(path, nation=nation, data_dir=data_dir, bootstrap=bootstrap)
    document["batch_size"] = batch_size
    config = parse_config(document, origin=str(path))
    return Connector(
        config,
        hub=hub,
        schemas=schemas,
        resend_after_s=resend_after_s,
        send_timeout_s=send_timeout_s,
    )


# The worker ----------------------------------------------------------------------------


@dataclass
class WorkerProcess:
    """`lmis-hub ingest run` as a real process, started again after every kill."""

    env: dict[str, str]
    log_path: Path
    group: str = "lmis-hub-ingest"
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0
    seen_at_start: int = 0
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.seen_at_start = self.outcomes() if self.log_path.exists() else 0
        self._log = self.log_path.open("ab")
        exe = Path(sys.executable).with_name("lmis-hub")
        self.proc = subprocess.Popen(
            [str(exe), "ingest", "run", "--group", self.group],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.starts += 1

    def outcomes(self) -> int:
        """Outcome lines the worker processes have written so far (all lives)."""
        words = (b"accepted", b"duplicate", b"quarantined")
        lines = self.log_path.read_bytes().splitlines()
        return sum(1 for line in lines if line.split(b" ", 1)[0] in words)

    def worked(self) -> bool:
        """Whether this life of the worker has decided on a group yet."""
        return self.outcomes() > self.seen_at_start

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or committed."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.kills += 1
        self._close_log()

    def stop(self) -> None:
        """SIGTERM: the worker finishes its group and exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_until(condition: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


# The reconciliation --------------------------------------------------------------------


@dataclass
class Reconciliation:
    """Per dataset: source rows, rows in the lake; and what must be empty or true."""

    source: dict[str, int]
    lake: dict[str, int]
    lake_batches_doubled: list[str]
    snapshot_batches: dict[str, set[str]]
    ledger_batches: dict[str, int]
    ledger_records: dict[str, int]
    ledger_ids: set[str]
    quarantined: int
    audit_intact: bool
    audit_entries: int


def reconcile(hub: ProvisionedHub, nation: Path, datasets: list[str]) -> Reconciliation:
    """What the hub holds after the load, read from the lake and the hub database."""
    lake = lake_catalog(hub.settings)
    engine = make_engine(hub.database_url)
    source: dict[str, int] = {}
    rows: dict[str, int] = {}
    doubled: list[str] = []
    in_snapshots: dict[str, set[str]] = {}
    ledger_batches: dict[str, int] = {}
    ledger_records: dict[str, int] = {}
    try:
        with Session(engine) as session:
            ledger = {b.batch_id: b.records for b in session.scalars(select(IngestedBatch)).all()}
            for key in datasets:
                agency, dataset = key.split("/")
                source[key] = source_rows(nation, key)
                table = lake.load_table(bronze_identifier(agency, dataset))
                ids = table.scan(selected_fields=("_batch_id",)).to_arrow()["_batch_id"]
                rows[key] = len(ids)
                per_batch = {
                    str(v["values"]): int(v["counts"]) for v in pc.value_counts(ids).to_pylist()
                }
                # A batch appended twice has twice the rows the ledger says it carries.
                doubled += [b for b, n in per_batch.items() if ledger.get(b) != n]
                in_snapshots[key] = committed_batch_ids(table)
                mine = session.scalars(
                    select(IngestedBatch).where(
                        IngestedBatch.agency == agency, IngestedBatch.dataset == dataset
                    )
                ).all()
                ledger_batches[key] = len(mine)
                ledger_records[key] = sum(b.records for b in mine)
            quarantined = session.scalar(select(func.count()).select_from(QuarantinedMessage))
            verification = AuditLog(session, clock=utc_now).verify()
    finally:
        engine.dispose()
    return Reconciliation(
        source=source,
        lake=rows,
        lake_batches_doubled=doubled,
        snapshot_batches=in_snapshots,
        ledger_batches=ledger_batches,
        ledger_records=ledger_records,
        ledger_ids=set(ledger),
        quarantined=int(quarantined or 0),
        audit_intact=verification.ok,
        audit_entries=verification.checked,
    )


def describe(value: Any) -> str:
    """A one-line summary for assertion messages."""
    return repr(value)[:2000]


def ledger_size(hub: ProvisionedHub) -> int:
    """Batches the hub has recorded so far (read while the worker writes)."""
    if hub.database_url.startswith("sqlite:///"):
        path = hub.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM ingested_batches").fetchone()[0])
    engine = make_engine(hub.database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(IngestedBatch)) or 0)
    finally:
        engine.dispose()
