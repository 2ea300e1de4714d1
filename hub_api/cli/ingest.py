"""`lmis-hub ingest …`: run the ingest worker and inspect its quarantine."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import typer
from confluent_kafka import Consumer, Producer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.db import make_engine, migrate
from governance.keys.envelope import KeyEncryptionKey
from governance.keys.secrets import HubSecrets
from governance.keys.services import KeyService
from governance.timestamps import utc_now
from hub_api.cli.context import get_context
from integration.ingest.ledger import Ledger
from integration.ingest.models import QuarantinedMessage
from integration.ingest.rekey import TokenRekeyer
from integration.ingest.worker import TOPIC_PATTERN, IngestWorker, Outcome, run
from integration.lake.catalog import open_catalog
from lmis_hub.kafka import librdkafka_config, librdkafka_group_config
from schemas.catalog import Catalog
from schemas.signing import Signer

app = typer.Typer(help="Run the ingest worker; list and show quarantined messages.")
quarantine_app = typer.Typer(help="Messages the worker refused, with their reason codes.")
app.add_typer(quarantine_app, name="quarantine")

ACTOR = "ingest"


@app.command("run")
def run_command(
    ctx: typer.Context,
    once: bool = typer.Option(
        False, "--once", help="Stop when no message arrived for --idle-timeout seconds."
    ),
    group: str = typer.Option("lmis-hub-ingest", help="Kafka consumer group of the workers."),
    idle_timeout: float = typer.Option(10.0, help="Seconds without messages that end --once."),
) -> None:
    """Consume every agency dataset topic; accept, dedupe or quarantine each batch."""
    cli = get_context(ctx)
    settings = cli.settings
    kek = KeyEncryptionKey.from_setting(settings.key_encryption_key)
    database_url = settings.database_url_value()
    engine = make_engine(database_url)
    stop = {"requested": False}

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop["requested"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    counts: dict[str, int] = {"accepted": 0, "duplicate": 0, "quarantined": 0}

    def count(outcome: Outcome) -> None:
        counts[outcome.status] += 1
        if not cli.json_output:
            detail = f" [{outcome.reason_code}]" if outcome.reason_code else ""
            cli.err_console.print(f"{outcome.status} {outcome.batch_id[:16]}{detail}")

    consumer = Consumer(librdkafka_group_config(settings.kafka, group))
    producer = Producer(librdkafka_config(settings.kafka))
    try:
        migrate(engine)
        with Session(engine) as session:
            audit = AuditLog(session, clock=utc_now)
            keys = KeyService(session, clock=utc_now, audit=audit)
            secrets = HubSecrets(session, kek=kek, keys=keys, clock=utc_now, audit=audit)
            hub_key = secrets.hub_signing_key()
            k_hub = secrets.pseudonymisation_key()
            session.commit()
            worker = IngestWorker(
                session,
                schemas=Catalog.load(),
                lake=open_catalog(
                    database_url=database_url,
                    warehouse=settings.lake_warehouse,
                    lake=settings.lake,
                ),
                keys=keys,
                agreements=AgreementService(session, clock=utc_now, audit=audit, keys=keys),
                audit=audit,
                ledger=Ledger(session, kek=kek),
                rekeyer=TokenRekeyer(k_hub.key, version=k_hub.version),
                signer=Signer(hub_key.key_id, hub_key.private_key),
                clock=utc_now,
                max_skew=timedelta(seconds=settings.envelope.max_clock_skew_s),
                max_message_bytes=settings.envelope.max_message_bytes,
                actor=ACTOR,
            )
            consumer.subscribe([TOPIC_PATTERN])
            processed = run(
                worker,
                consumer=consumer,
                producer=producer,
                once=once,
                idle_timeout_s=idle_timeout,
                on_outcome=count,
                should_stop=lambda: stop["requested"],
            )
    finally:
        consumer.close()
        engine.dispose()
    data = {"processed": processed, **counts}
    cli.emit(data, lambda c: c.print(f"processed {processed} message(s): {counts}"))


def _row(q: QuarantinedMessage) -> dict[str, Any]:
    return {
        "id": q.id,
        "received_at": q.received_at.isoformat(),
        "reason_code": q.reason_code,
        "message": q.message,
        "agency": q.agency,
        "dataset": q.dataset,
        "batch_id": q.batch_id,
        "topic": q.topic,
        "partition": q.partition,
        "offset": q.offset,
    }


def _ledger_session(ctx: typer.Context) -> tuple[Any, Session, Ledger]:
    cli = get_context(ctx)
    kek = KeyEncryptionKey.from_setting(cli.settings.key_encryption_key)
    engine = make_engine(cli.settings.database_url_value())
    migrate(engine)
    session = Session(engine)
    return engine, session, Ledger(session, kek=kek)


@quarantine_app.command("list")
def list_command(
    ctx: typer.Context,
    reason: str | None = typer.Option(None, help="Only this reason code."),
    agency: str | None = typer.Option(None, help="Only messages of this agency."),
    limit: int = typer.Option(50, min=1, help="At most this many, newest first."),
) -> None:
    """Quarantined messages, newest first."""
    cli = get_context(ctx)
    engine, session, ledger = _ledger_session(ctx)
    try:
        rows = [_row(q) for q in ledger.quarantined(reason_code=reason, agency=agency, limit=limit)]
    finally:
        session.close()
        engine.dispose()

    def render(console: Console) -> None:
        table = Table("id", "received", "reason", "agency", "dataset", "topic@offset")
        for r in rows:
            table.add_row(
                r["id"],
                r["received_at"],
                r["reason_code"],
                r["agency"] or "",
                r["dataset"] or "",
                f"{r['topic']}[{r['partition']}]@{r['offset']}",
            )
        console.print(table)

    cli.emit(rows, render)


@quarantine_app.command("show")
def show_command(
    ctx: typer.Context,
    quarantine_id: str = typer.Argument(..., help="Id from `ingest quarantine list`."),
    out: Path | None = typer.Option(
        None, help="Write the original message value (decrypted) to this file."
    ),
) -> None:
    """One quarantined message: reason, origin and its decrypted headers."""
    cli = get_context(ctx)
    engine, session, ledger = _ledger_session(ctx)
    try:
        row = ledger.get_quarantined(quarantine_id)
        original = ledger.original(row)
        data = _row(row) | {
            "value_bytes": len(original.value),
            "headers": {k: v.decode("ascii", "replace") for k, v in original.headers},
        }
    finally:
        session.close()
        engine.dispose()
    if out is not None:
        out.write_bytes(original.value)
        data["written_to"] = str(out)

    def render(console: Console) -> None:
        for key, item in data.items():
            console.print(f"[bold]{key}[/bold]: {item}")

    cli.emit(data, render)
