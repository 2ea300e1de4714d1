"""The spine on the embedded stack: parties, connectors, ingest, receipts, reconciliation.

:func:`run_spine` is what ``lmis-hub demo`` runs once the stack is up and the nation
made. Every stage is idempotent, so a second run publishes nothing new and prints the
same table: the connectors' watermarks and outboxes remember what was sent, the worker
deduplicates by batch id, and the parties already exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from sqlalchemy.orm import Session

from governance.audit.chain import Verification
from governance.audit.services import AuditLog
from governance.db import make_engine, migrate
from governance.keys.secrets import HubSecrets
from governance.keys.services import KeyService
from governance.keys.wrapping import KeyEncryptionKey
from governance.timestamps import utc_now
from hub_api.demo.connectors import (
    ConnectorRun,
    agency_config_files,
    demo_kit,
    deploy,
    jobboard_api,
    run_connector,
    take_receipts,
    unsettled_parts,
)
from hub_api.demo.indicators import IndicatorsReport, run_indicators
from hub_api.demo.linkage import LinkageReport, run_linkage
from hub_api.demo.parties import PartiesReport, demo_secrets, ensure_link_key, ensure_parties
from hub_api.demo.reconciliation import Reconciliation, reconcile
from hub_api.demo.research import ResearchReport, run_research
from hub_api.wiring import group_limits, subscription
from hub_api.wiring import ingest_worker as build_worker
from integration.ingest.decisions import Outcome
from integration.ingest.loop import run
from integration.lake.catalog import open_catalog
from lmis_hub.kafka import librdkafka_config, librdkafka_group_config
from lmis_hub.settings import Settings
from schemas.keys import load_public_pem

INGEST_GROUP = "lmis-hub-ingest"
Say = Callable[[str], None]


@dataclass
class SpineResult:
    parties: PartiesReport
    connectors: list[ConnectorRun]
    ingest: dict[str, int]
    receipts_waiting: dict[str, int]
    reconciliation: Reconciliation
    audit: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    linkage: LinkageReport = field(default_factory=LinkageReport)
    research: ResearchReport = field(default_factory=ResearchReport)
    indicators: IndicatorsReport = field(default_factory=IndicatorsReport)

    def as_dict(self) -> dict[str, Any]:
        return {
            "parties": self.parties.as_dict(),
            "connectors": [vars(c) for c in self.connectors],
            "ingest": self.ingest,
            "receipts_waiting": self.receipts_waiting,
            "reconciliation": self.reconciliation.as_dict(),
            "audit": self.audit,
            "linkage": self.linkage.as_dict(),
            "research": self.research.as_dict(),
            "indicators": self.indicators.as_dict(),
            "seconds": self.seconds,
        }


class _SkipOtherDatasetsReceipts(logging.Filter):
    """The connectors of one agency share its receipts topic, so each sees the others'
    receipts and skips them; in the demo that is expected, not worth a warning each."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("receipt skipped")


def drain(
    settings: Settings, expected: set[str], *, idle_timeout_s: float = 30.0, say: Say
) -> dict[str, int]:
    """Run the ingest worker until every part in ``expected`` (each sent in this run) has
    an outcome, or nothing arrived for ``idle_timeout_s``; then stop it. Returns counts of
    outcomes and of parts that ``never_arrived``."""
    counts = {"accepted": 0, "duplicate": 0, "quarantined": 0, "processed": 0}
    waiting = set(expected)
    if not waiting:
        return counts | {"never_arrived": 0}
    engine = make_engine(settings.database_url_value())
    try:
        migrate(engine)
        with Session(engine) as session:
            worker, _ = build_worker(session, settings, actor="ingest")
            consumer = Consumer(librdkafka_group_config(settings.kafka, INGEST_GROUP))
            producer = Producer(librdkafka_config(settings.kafka))
            say(f"ingest: {len(waiting)} message(s) to decide")

            def count(outcome: Outcome) -> None:
                counts[outcome.status] += 1
                waiting.discard(outcome.batch_id)

            try:
                counts["processed"] = run(
                    worker,
                    consumer=consumer,
                    producer=producer,
                    once=True,
                    idle_timeout_s=idle_timeout_s,
                    on_outcome=count,
                    should_stop=lambda: not waiting,
                    limits=group_limits(settings),
                    quarantine_topic=settings.ingest.quarantine_topic,
                    subscription=subscription(engine, settings),
                )
            finally:
                consumer.close()
    finally:
        engine.dispose()
    counts["never_arrived"] = len(waiting)
    return counts


def run_spine(
    settings: Settings, *, nation: Path, bootstrap: str, say: Say = lambda _: None
) -> SpineResult:
    """Parties, all connectors once, the worker until drained, receipts, the table."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    secrets = demo_secrets(settings)
    settings = settings.model_copy(
        update={
            "key_encryption_key": secrets.kek,
            "kafka": settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}),
        }
    )
    engine = make_engine(settings.database_url_value())
    try:
        migrate(engine)
        with Session(engine) as session, session.begin():
            parties = ensure_parties(session, secrets)
    finally:
        engine.dispose()
    seconds["parties"] = time.perf_counter() - started

    kit = demo_kit(
        link_key=ensure_link_key(secrets), signing_passphrase=secrets.passphrase, settings=settings
    )
    receipts_log = logging.getLogger("connectors.sdk.receipts")
    quiet = _SkipOtherDatasetsReceipts()
    receipts_log.addFilter(quiet)
    try:
        with jobboard_api(nation) as jobboard_url:
            configs = [
                deploy(
                    path,
                    data_dir=settings.data_dir,
                    nation=nation,
                    bootstrap=bootstrap,
                    jobboard_url=jobboard_url,
                )[1]
                for path in agency_config_files()
            ]
            t = time.perf_counter()
            runs = []
            for config in configs:
                done = run_connector(config, kit)
                say(
                    f"connector {config.agency}/{config.dataset}: {done.rows_read:,} rows, "
                    f"{done.records_published:,} records in {done.batches} batches, "
                    f"{done.batches_resent} resent ({done.seconds:.1f} s)"
                )
                runs.append(done)
            seconds["connectors"] = time.perf_counter() - t

            t = time.perf_counter()
            ingest = drain(settings, unsettled_parts(configs), say=say)
            seconds["ingest"] = time.perf_counter() - t

            t = time.perf_counter()
            waiting = take_receipts(configs, kit)
            seconds["receipts"] = time.perf_counter() - t

            t = time.perf_counter()
            engine = make_engine(settings.database_url_value())
            try:
                lake = open_catalog(
                    database_url=settings.database_url_value(),
                    warehouse=settings.lake_warehouse,
                    lake=settings.lake,
                )
                with Session(engine) as session:
                    table = reconcile(configs, session=session, lake=lake)
                    verified = _sign_and_verify_audit(session, settings)
                    audit: dict[str, Any] = {
                        "ok": verified.ok,
                        "intact_up_to": verified.intact_up_to,
                        "summary": verified.summary(),
                    }
            finally:
                engine.dispose()
            seconds["reconciliation"] = time.perf_counter() - t

            linkage = run_linkage(settings, configs, kit, nation)
            seconds["linkage"] = linkage.seconds
            workdir = settings.data_dir / "demo-research"
            workdir.mkdir(parents=True, exist_ok=True)
            research = (
                run_research(settings, workdir=workdir)
                if linkage.error is None
                else ResearchReport(error="no linkage, so no person keys to pseudonymise")
            )
            seconds["research"] = research.seconds
            indicators = (
                run_indicators(settings, nation=nation)
                if linkage.error is None
                else IndicatorsReport(error="no linkage, so no linked indicators")
            )
            seconds["indicators"] = indicators.seconds
    finally:
        receipts_log.removeFilter(quiet)
    seconds["total"] = time.perf_counter() - started
    return SpineResult(
        parties, runs, ingest, waiting, table, audit, seconds, linkage, research, indicators
    )


def _sign_and_verify_audit(session: Session, settings: Settings) -> Verification:
    """Sign a checkpoint over the run's entries (as `lmis-hub audit checkpoint` does),
    then verify the whole chain with the hub's public keys, so the demo shows the chain
    and its signatures checked, not only the hashes."""
    audit = AuditLog(session, clock=utc_now)
    keys = KeyService(session, clock=utc_now, audit=audit)
    secrets = HubSecrets(
        session,
        kek=KeyEncryptionKey.from_setting(settings.key_encryption_key),
        keys=keys,
        clock=utc_now,
        audit=audit,
    )
    hub = secrets.hub_signing_key()
    audit.sign_checkpoint(hub, actor="demo")
    session.commit()
    public = {k.key_id: load_public_pem(k.public_key_pem) for k in keys.list("hub")}
    return audit.verify(public_keys=public)
