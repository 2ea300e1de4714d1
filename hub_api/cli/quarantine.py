"""`lmis-hub quarantine …`: messages the ingest worker refused — list, show, replay."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.orm import Session

from governance.db import make_engine, migrate
from governance.deliveries.views import quarantine_view
from governance.keys.wrapping import KeyEncryptionKey
from hub_api.cli.context import CliContext, get_context
from hub_api.replay import replay_messages
from integration.ingest.errors import QuarantineAlreadyReplayed
from integration.ingest.ledger import Ledger
from lmis_hub.errors import ConfigurationError

app = typer.Typer(help="Messages the ingest worker refused: list, show, replay.")

STATES = ("quarantined", "replayed")


@contextmanager
def _session(cli: CliContext) -> Iterator[tuple[Session, Ledger]]:
    kek = KeyEncryptionKey.from_setting(cli.settings.key_encryption_key)
    engine = make_engine(cli.settings.database_url_value())
    try:
        migrate(engine)
        with Session(engine) as session:
            yield session, Ledger(session, kek=kek)
    finally:
        engine.dispose()


def _state(value: str | None) -> str | None:
    if value is not None and value not in STATES:
        raise ConfigurationError(f"--state must be one of {', '.join(STATES)}, not {value!r}")
    return value


@app.command("list")
def list_command(
    ctx: typer.Context,
    reason: str | None = typer.Option(None, help="Only this reason code."),
    agency: str | None = typer.Option(None, help="Only messages of this agency."),
    state: str | None = typer.Option(None, help="quarantined or replayed (default: both)."),
    limit: int = typer.Option(50, min=1, help="At most this many, newest first."),
) -> None:
    """Quarantined (and replayed) messages, newest first."""
    cli = get_context(ctx)
    with _session(cli) as (_, ledger):
        rows = [
            quarantine_view(q)
            for q in ledger.quarantined(
                reason_code=reason, agency=agency, state=_state(state), limit=limit
            )
        ]

    def render(console: Console) -> None:
        table = Table(
            Column("id", overflow="fold", min_width=len(rows[0]["id"]) if rows else None),
            "received",
            "state",
            Column("reason", overflow="fold"),
            "agency",
            "dataset",
            Column("topic@offset", overflow="fold"),
        )
        for r in rows:
            table.add_row(
                r["id"],
                r["received_at"],
                r["state"],
                r["reason_code"],
                r["agency"] or "",
                r["dataset"] or "",
                f"{r['topic']}[{r['partition']}]@{r['offset']}",
            )
        console.print(table)

    cli.emit(rows, render)


@app.command("show")
def show_command(
    ctx: typer.Context,
    quarantine_id: str = typer.Argument(..., help="Id from `quarantine list`."),
    out: Path | None = typer.Option(
        None, help="Write the original message value (decrypted) to this file."
    ),
) -> None:
    """One quarantined message: reason, origin, replays and its decrypted headers."""
    cli = get_context(ctx)
    with _session(cli) as (_, ledger):
        row = ledger.get_quarantined(quarantine_id)
        original = ledger.original(row)
        data = quarantine_view(row) | {
            "value_bytes": len(original.value),
            "headers": {k: v.decode("ascii", "replace") for k, v in original.headers},
        }
    if out is not None:
        out.write_bytes(original.value)
        data["written_to"] = str(out)

    def render(console: Console) -> None:
        for key, item in data.items():
            console.print(f"[bold]{key}[/bold]: {item}")

    cli.emit(data, render)


@app.command("replay")
def replay_command(
    ctx: typer.Context,
    quarantine_ids: list[str] = typer.Argument(None, help="Ids from `quarantine list`."),
    reason: str | None = typer.Option(None, help="Every quarantined message with this code."),
    agency: str | None = typer.Option(None, help="Every quarantined message of this agency."),
    actor: str | None = typer.Option(
        None, "--actor", help="Who replays (recorded in the audit log); default: your login."
    ),
    send: bool = typer.Option(
        True, "--send/--no-send", help="Send the receipts and notices to Kafka."
    ),
) -> None:
    """Put quarantined originals through the worker's decision again, after the cause
    is fixed. Accepted: lake, receipt, row marked replayed. Refused: stays quarantined
    with the new reason. Both are audited; rows are never deleted."""
    cli = get_context(ctx)
    settings = cli.settings
    if not quarantine_ids and reason is None and agency is None:
        raise ConfigurationError("name quarantine ids, --reason CODE or --agency A")
    with _session(cli) as (session, ledger):
        if quarantine_ids:
            rows = [ledger.get_quarantined(qid) for qid in quarantine_ids]
            done = [r.id for r in rows if r.state != "quarantined"]
            if done:
                raise QuarantineAlreadyReplayed(f"already replayed: {', '.join(done)}")
            rows = [
                r
                for r in rows
                if (reason is None or r.reason_code == reason)
                and (agency is None or r.agency == agency)
            ]
        else:
            rows = ledger.quarantined(
                reason_code=reason, agency=agency, state="quarantined", limit=None
            )
        results = replay_messages(
            session, settings, rows, actor=actor or getpass.getuser(), send=send
        )

    def render(console: Console) -> None:
        table = Table(
            Column("id", overflow="fold", min_width=len(results[0]["id"]) if results else None),
            "outcome",
            Column("reason", overflow="fold"),
            "snapshot",
        )
        for r in results:
            table.add_row(
                r["id"], r["outcome"], r["reason_code"] or "", str(r["snapshot_id"] or "")
            )
        console.print(table)
        landed = sum(1 for r in results if r["outcome"] != "quarantined")
        console.print(
            f"replayed {len(results)} message(s): {landed} landed, "
            f"{len(results) - landed} still quarantined"
        )

    cli.emit(results, render)
    if any(r["outcome"] == "quarantined" for r in results):
        raise typer.Exit(1)  # something is still refused: not a success
