"""`lmis-hub connector`: check a connector's config, run it, show its outbox."""

from __future__ import annotations

import logging
import signal
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from connectors.sdk.config import ConnectorConfig
from connectors.sdk.errors import ConnectorConfigInvalid, PublishFailed
from connectors.sdk.lookup import find_rows
from connectors.sdk.pipeline import Batch, Published
from connectors.sdk.preflight import ObservedSource, unknown_columns, unknown_fields
from connectors.sdk.publisher import EnvelopePublisher, KafkaSender
from connectors.sdk.receipt_reader import ReceiptReader
from connectors.sdk.receipts import (
    ReceiptApplier,
    ReceiptReport,
    load_hub_key,
    resend_due,
    resend_now,
)
from connectors.sdk.sources.base import load_source
from connectors.sdk.state import StateDB
from hub_api.cli.connector_common import CONFIG, Wiring, now, superseded_message, wiring
from hub_api.cli.connector_dag import dag_command
from hub_api.cli.connector_state import rewind_command, status
from hub_api.cli.context import CliContext, get_context
from lmis_hub.kafka import librdkafka_config
from schemas.receipts import receipt_topic
from schemas.record_ids import is_record_id
from schemas.signing import Signer

app = typer.Typer(help="Agency connectors: validate a config, run it, show its batches.")
log = logging.getLogger(__name__)

SAMPLE_SIZE = 3


def _shown(value: Any) -> Any:
    return value.hex()[:16] + "…" if isinstance(value, bytes) else value


class _Discard:
    """A sender that keeps nothing: the dry run seals but never sends."""

    def send(self, topic: str, messages: Any) -> None:
        return None


@app.command()
def validate(ctx: typer.Context, config: Path = CONFIG) -> None:
    """Dry run: read the whole source, map, check, tokenise and seal; publish nothing.

    Also checks what a row cannot show: every column the mapping names is in the
    source, every mapped field is in the schema, and the keys load as `run` loads them.
    Exit 0 when all is well, 1 when rows are refused or the config has problems.
    """
    cli = get_context(ctx)
    w = wiring(cli, config)
    schema = w.config.schema_version()
    problems = unknown_fields(w.config.mapping, schema)
    warnings: list[str] = []
    if w.config.signing_key_file is not None or w.config.agreement_id is not None:
        _require(w.config)  # as `run` does
        w.kit.signer(w.config)
        if w.config.hub_public_key_file is None:
            warnings.append("hub_public_key_file is not set: `run` cannot verify receipts")
        else:
            load_hub_key(w.config.hub_public_key_file)
    else:
        warnings.append("no signing_key_file or agreement_id: `run` will refuse this config")
    source = ObservedSource(load_source(w.config.source))
    rows = records = 0
    reasons: Counter[str] = Counter()
    refusals: list[dict[str, str]] = []
    sample: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        state = StateDB.open(Path(scratch) / "state.db")
        try:
            pipeline = w.kit.pipeline(w.config, state, source=source)
            private = Ed25519PrivateKey.generate()  # only to prove the records seal
            publisher = w.kit.publisher(w.config, state, _Discard(), Signer("dry-run", private))
            with cli.progress() as bar:
                task = bar.add_task(f"reading {w.config.dataset}", total=None)
                for batch in pipeline.batches(None):
                    rows += batch.row_count
                    records += len(batch.records)
                    if batch.records:
                        publisher.seal(batch)
                    for r in batch.refusals:
                        reasons[f"{r.field}: {r.reason}"] += 1
                        if len(refusals) < 20:
                            refusals.append(
                                {
                                    "row": r.row_key,
                                    "field": r.field,
                                    "reason": r.reason,
                                    "message": r.message,
                                }
                            )
                    if len(sample) < SAMPLE_SIZE:
                        sample.extend(
                            {k: _shown(v) for k, v in publisher.complete(rec).items()}
                            for rec in batch.records[: SAMPLE_SIZE - len(sample)]
                        )
                    bar.update(task, completed=rows)
        finally:
            state.close()
    if source.rows:
        problems += unknown_columns(w.config.mapping, source.columns)
    else:
        warnings.append("the source has no rows: the mapped columns could not be checked")
    data = {
        "topic": w.config.topic,
        "ok": not problems and rows == records,
        "problems": problems,
        "warnings": warnings,
        "rows_read": rows,
        "records": records,
        "refused_rows": rows - records,
        "refusal_reasons": dict(reasons.most_common()),
        "refusals": refusals,
        "sample": sample,
    }

    def render(c: Console) -> None:
        for problem in problems:
            c.print(f"[bold red]problem[/] {escape(problem)}")
        for warning in warnings:
            c.print(f"[yellow]warning[/] {escape(warning)}")
        c.print(f"{w.config.topic}: {rows} rows read, {records} records, {rows - records} refused")
        for reason, n in reasons.most_common():
            c.print(f"  refused {n:>6}  {reason}")
        for item in refusals[:10]:
            c.print(f"  row {item['row']}: {item['field']} {item['message']}")
        table = Table(title="sample of tokenised output")
        table.add_column("field")
        for i in range(len(sample)):
            table.add_column(f"#{i + 1}")
        for name in sample[0] if sample else []:
            table.add_row(name, *[str(s.get(name)) for s in sample])
        c.print(table)

    cli.emit(data, render)
    if not data["ok"]:
        raise typer.Exit(1)


@app.command()
def find(
    ctx: typer.Context,
    record_ids: list[str] = typer.Argument(..., help="Record ids (32 hex characters)."),
    config: Path = CONFIG,
) -> None:
    """Which source rows carry these record ids (from `status` or a receipt's problems).

    Record ids are keyed with the linkage key, so only the agency can map them back: the
    source is read again and every row mapped as `run` would. Exit 1 when an id is not
    found.
    """
    cli = get_context(ctx)
    w = wiring(cli, config)
    bad = [rid for rid in record_ids if not is_record_id(rid)]
    if bad:
        raise typer.BadParameter(
            f"{len(bad)} value(s) are not record ids (32 lower-case hex characters)",
            param_hint="RECORD_IDS",
        )
    cfg = w.config
    mapper = w.kit.mapper(cfg)
    source = load_source(cfg.source)
    try:
        found = find_rows(source, mapper, cfg.mapping.record_id_field, set(record_ids))
    finally:
        source.close()
    missing = found.missing(record_ids)
    rows = {rid: found.rows[rid] for rid in record_ids if rid in found.rows}
    data = {
        "dataset": w.config.dataset,
        "rows_read": found.rows_read,
        "found": rows,
        "missing": missing,
    }

    def render(c: Console) -> None:
        table = Table("record id", f"row key ({w.config.mapping.key_column})", title="found")
        for rid, keys in rows.items():
            table.add_row(rid, ", ".join(keys))
        c.print(table)
        for rid in missing:
            c.print(f"{rid}: in none of the {found.rows_read} source rows", markup=False)

    cli.emit(data, render)
    if missing:
        raise typer.Exit(1)


def _require(config: ConnectorConfig) -> tuple[Path, str]:
    if config.signing_key_file is None:
        raise ConnectorConfigInvalid("signing_key_file: required to publish")
    if config.agreement_id is None:
        raise ConnectorConfigInvalid("agreement_id: required to publish")
    return config.signing_key_file, config.agreement_id


def _run_once(
    cli: CliContext,
    w: Wiring,
    state: StateDB,
    publisher: EnvelopePublisher,
    reader: ReceiptReader | None,
    stop: threading.Event,
) -> dict[str, Any]:
    pipeline = w.kit.pipeline(w.config, state)
    with cli.progress() as bar:
        task = bar.add_task(f"publishing {w.config.topic}", total=None)

        def publish(batch: Batch) -> Published:
            published = publisher(batch)
            bar.advance(task, len(batch.records))
            return published

        report = pipeline.run(publish, should_stop=stop.is_set)
    receipts = ReceiptReport()
    resent: list[str] = []
    if not stop.is_set():
        receipts = reader.poll(timeout_s=2.0) if reader is not None else ReceiptReport()
        resent = resend_due(
            publisher, state, now=now(), timeout=timedelta(seconds=w.config.resend_after_s)
        )
    return {
        "topic": publisher.topic,
        "rows_read": report.rows_read,
        "records_published": report.records_published,
        "batches": len(report.batches),
        "skipped_batches": len(report.skipped_batches),
        "refused_rows": len(report.refusals),
        "receipts_applied": receipts.applied,
        "receipts_invalid": len(receipts.invalid),
        "receipts_unverified": [
            {"batch_id": batch_id, "reason_code": code} for batch_id, code in receipts.unverified
        ],
        "broker_lost": receipts.broker_lost,
        "batches_settled": len(receipts.settled),
        "batches_resent": len(resent),
        "agreement_notices": receipts.notices,
        "superseded": superseded_message(w.config, state),
        "stopped": stop.is_set(),
    }


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT (the previous handlers come back afterwards).

    The run checks it after each committed batch and instead of sleeping, so a stop
    finishes the batch in hand, keeps it in the outbox with its watermark and exits 0.
    """
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@app.command()
def run(
    ctx: typer.Context,
    config: Path = CONFIG,
    follow: bool = typer.Option(
        False, "--follow/--once", help="Keep running (every --interval seconds) or run once."
    ),
    interval: float = typer.Option(60.0, "--interval", help="Seconds between runs with --follow."),
) -> None:
    """Publish new rows, apply receipts and resend batches that have none.

    With --follow a failed delivery (broker or link down) is reported and the run goes
    on at the next interval, sending the batch from the outbox; with --once it is an
    error (connector.publish_failed, exit code 2). SIGTERM or SIGINT (Ctrl-C) stops
    cleanly: the batch in hand is finished and kept with its watermark, and the command
    exits 0.
    """
    cli = get_context(ctx)
    w = wiring(cli, config)
    _require(w.config)
    signer = w.kit.signer(w.config)
    kafka = librdkafka_config(w.config.kafka.settings())
    state = StateDB.open(w.config.state_db_path)
    sender = KafkaSender(kafka)
    reader: ReceiptReader | None = None
    try:
        publisher = w.kit.publisher(w.config, state, sender, signer)
        if w.config.hub_public_key_file is not None:
            applier = ReceiptApplier(
                state,
                catalog=w.config.catalog(),
                hub_keys=[load_hub_key(w.config.hub_public_key_file)],
                agency=w.config.agency,
                dataset=w.config.dataset,
                clock=now,
                max_skew=timedelta(seconds=cli.settings.envelope.max_clock_skew_s),
                signing_key_id=signer.key_id,
                agreement=(w.config.agreement_id or "", w.config.agreement_version),
            )
            reader = ReceiptReader(
                state, topic=receipt_topic(w.config.agency), consumer_config=kafka, applier=applier
            )
        notice = superseded_message(w.config, state)
        if notice is not None:
            log.warning("%s (the hub refuses batches naming the old version)", notice)
        with _stop_on_signals() as stop:
            while True:
                try:
                    data = _run_once(cli, w, state, publisher, reader, stop)
                except PublishFailed as exc:
                    if not follow:
                        raise
                    # The batch in hand is in the outbox with its watermark: the next
                    # pass sends it again (the broker or the link may be back by then).
                    data = _failed_run(publisher.topic, exc, interval)
                    cli.emit(data, _render_failed_run(data))
                else:
                    cli.emit(data, _render_run(data))
                if not follow or stop.wait(interval):
                    break
    finally:
        if reader is not None:
            reader.close()
        sender.close()
        state.close()


@app.command()
def resend(
    ctx: typer.Context,
    config: Path = CONFIG,
    every: bool = typer.Option(
        False, "--all", help="Every batch the hub has not answered (pending or sent)."
    ),
    batch: list[str] = typer.Option(
        [], "--batch", help="A batch id from `connector status` (repeat for several)."
    ),
    rejected: bool = typer.Option(
        False,
        "--rejected",
        help="Also send batches the hub rejected, under the config's agreement as it is "
        "now (after fixing the cause); they wait for a new receipt.",
    ),
) -> None:
    """Send batches again now from the outbox, signed with the current key, without
    waiting for `resend_after_s` (the hub deduplicates by batch id)."""
    if every == bool(batch):
        raise typer.BadParameter("give either --all or --batch ID")
    cli = get_context(ctx)
    w = wiring(cli, config)
    _require(w.config)
    signer = w.kit.signer(w.config)
    state = StateDB.open(w.config.state_db_path)
    sender = KafkaSender(librdkafka_config(w.config.kafka.settings()))
    try:
        publisher = w.kit.publisher(w.config, state, sender, signer)
        sent = resend_now(
            publisher, state, batch_ids=None if every else list(batch), rejected=rejected
        )
    finally:
        sender.close()
        state.close()
    data = {"topic": publisher.topic, "resent": sent}

    def render(c: Console) -> None:
        c.print(f"{publisher.topic}: {len(sent)} batches sent again")
        for batch_id in sent:
            c.print(f"  {batch_id}")

    cli.emit(data, render)


def _render_run(data: dict[str, Any]) -> Callable[[Console], None]:
    def render(c: Console) -> None:
        c.print(
            f"{data['topic']}: {data['rows_read']} rows, {data['records_published']} records in "
            f"{data['batches']} batches, {data['refused_rows']} refused; receipts applied "
            f"{data['receipts_applied']}, settled {data['batches_settled']}, "
            f"resent {data['batches_resent']}" + ("; stopped on request" if data["stopped"] else "")
        )
        if data["broker_lost"]:
            c.print("  the broker had lost its topics: every batch without a receipt was resent")
        if data["superseded"]:
            c.print(f"  {data['superseded']}", style="yellow", markup=False)
        for item in data["receipts_unverified"]:
            c.print(
                f"  batch {item['batch_id']}: the hub could not verify this message: "
                f"{item['reason_code']}",
                style="yellow",
                markup=False,
            )

    return render


def _failed_run(topic: str, exc: PublishFailed, interval: float) -> dict[str, Any]:
    return {
        "topic": topic,
        "error": {"code": exc.code, "message": exc.message},
        "retry_in_s": interval,
    }


def _render_failed_run(data: dict[str, Any]) -> Callable[[Console], None]:
    def render(c: Console) -> None:
        error = data["error"]
        c.print(
            f"{data['topic']}: [{error['code']}] {error['message']}; the batch stays in the "
            f"outbox and is sent again in {data['retry_in_s']:g} s",
            style="yellow",
            markup=False,
        )

    return render


app.command()(status)
app.command(name="rewind")(rewind_command)
app.command(name="dag")(dag_command)
