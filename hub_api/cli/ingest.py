"""`lmis-hub ingest run`: the ingest worker (`ingest quarantine …` is `quarantine …`)."""

from __future__ import annotations

import signal
from types import FrameType

import typer
from confluent_kafka import Consumer, Producer
from rich.markup import escape
from sqlalchemy.orm import Session

from governance.db import make_engine, migrate
from governance.keys.wrapping import KeyEncryptionKey
from hub_api.cli import quarantine
from hub_api.cli.context import get_context
from hub_api.wiring import (
    group_limits,
    subscription,
    worker_notice_sender,
)
from hub_api.wiring import ingest_worker as build_worker
from hub_api.wiring import notice_sender as build_notice_sender
from integration.ingest.decisions import Outcome
from integration.ingest.loop import run
from lmis_hub.kafka import librdkafka_config, librdkafka_group_config

app = typer.Typer(help="Run the ingest worker (quarantined messages: `lmis-hub quarantine`).")
# `ingest quarantine …` keeps working as a hidden alias of `quarantine …`.
app.add_typer(quarantine.app, name="quarantine", hidden=True)


@app.command("run")
def run_command(
    ctx: typer.Context,
    once: bool = typer.Option(
        False, "--once", help="Stop when no message arrived for --idle-timeout seconds."
    ),
    group: str = typer.Option("lmis-hub-ingest", help="Kafka consumer group of the workers."),
    idle_timeout: float = typer.Option(
        10.0,
        help="Seconds without messages that end --once, counted once the group has given "
        "this worker partitions (it waits up to 30 s for them while a topic exists).",
    ),
) -> None:
    """Consume every agency dataset topic; accept, dedupe or quarantine each batch."""
    cli = get_context(ctx)
    settings = cli.settings
    KeyEncryptionKey.from_setting(settings.key_encryption_key)  # refuse early without it
    engine = make_engine(settings.database_url_value())
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
            # escape: rich would read "[ingest.wrong_topic]" as markup and drop it
            cli.err_console.print(escape(f"{outcome.status} {outcome.batch_id}{detail}"))

    consumer = Consumer(librdkafka_group_config(settings.kafka, group))
    producer = Producer(librdkafka_config(settings.kafka))
    try:
        migrate(engine)
        with Session(engine) as session:
            worker, _ = build_worker(session, settings)
            processed = run(
                worker,
                consumer=consumer,
                producer=producer,
                once=once,
                idle_timeout_s=idle_timeout,
                on_outcome=count,
                should_stop=lambda: stop["requested"],
                limits=group_limits(settings),
                quarantine_topic=settings.ingest.quarantine_topic,
                subscription=subscription(engine, settings),
                agreement_notices=worker_notice_sender(worker),
            )
    finally:
        consumer.close()
        engine.dispose()
    data = {"processed": processed, **counts}
    listed = ", ".join(f"{n} {status}" for status, n in counts.items())
    cli.emit(data, lambda c: c.print(f"processed {processed} message(s): {listed}"))


@app.command("notices")
def notices_command(ctx: typer.Context) -> None:
    """Publish the pending agreement notices now (`ingest run` does so every few seconds):
    each tells an agency, on its receipts topic, that an agreement version it may still
    name is superseded."""
    cli = get_context(ctx)
    settings = cli.settings
    engine = make_engine(settings.database_url_value())
    producer = Producer(librdkafka_config(settings.kafka))
    try:
        migrate(engine)
        with Session(engine) as session:
            sent = build_notice_sender(session, settings).send_pending(producer)
    finally:
        engine.dispose()
    cli.emit({"sent": sent}, lambda c: c.print(f"{sent} agreement notice(s) sent"))
