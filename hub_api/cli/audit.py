"""`lmis-hub audit …`: read, verify, checkpoint and export the audit log."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import typer
from rich.console import Console
from rich.table import Table

from governance.errors import AuditTampered
from governance.keys.material import load_public_pem
from hub_api.cli.context import get_context
from hub_api.cli.governance_wiring import ACTOR_OPTION, governance, parse_instant
from lmis_hub.errors import ConfigurationError

app = typer.Typer(help="Read, search, verify and export the tamper-evident audit log.")

EXPORT_COLUMNS = ("seq", "at", "tag", "actor", "subject", "details", "hash")


def render(rows: list[dict[str, Any]], title: str) -> Any:
    def draw(console: Console) -> None:
        t = Table(title=title)
        for col in ("seq", "at", "tag", "actor", "subject", "details"):
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(
                str(r["seq"]),
                r["at"][:19],
                r["tag"],
                r["actor"],
                r["subject"],
                json.dumps(r["details"], ensure_ascii=False),
            )
        console.print(t)

    return draw


@app.command()
def tail(ctx: typer.Context, n: int = typer.Option(20, "-n", help="How many entries.")) -> None:
    """The latest entries."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [e.as_dict() for e in gov.audit.tail(n)]
    cli.emit(rows, render(rows, "Audit log (latest)"))


@app.command()
def search(
    ctx: typer.Context,
    tag: str | None = typer.Option(None, help="A tag, or a prefix ending in ':' (key:)."),
    actor: str | None = typer.Option(None),
    subject: str | None = typer.Option(None, help="e.g. agreement:nis-lmis-2026:v1"),
    since: str | None = typer.Option(None, help="From (ISO)."),
    until: str | None = typer.Option(None, help="Before (ISO)."),
    limit: int = typer.Option(1000),
) -> None:
    """Entries matching every given filter."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [
            e.as_dict()
            for e in gov.audit.search(
                tag=tag,
                actor=actor,
                subject=subject,
                since=parse_instant(since, "--since"),
                until=parse_instant(until, "--until"),
                limit=limit,
            )
        ]
    cli.emit(rows, render(rows, "Audit log"))


@app.command()
def verify(ctx: typer.Context, actor: str | None = ACTOR_OPTION) -> None:
    """Recompute the chain and check signed checkpoints; exit 2 with audit.tampered if broken."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        hub_keys = {
            k.key_id: load_public_pem(k.public_key_pem, where=k.key_id)
            for k in gov.keys.list("hub")
        }
        result = gov.audit.verify(public_keys=hub_keys)
        data = {
            "ok": result.ok,
            "intact_up_to": result.intact_up_to,
            "first_bad_entry": result.bad_seq,
            "reason": result.reason,
            "checkpoints_verified": result.checkpoints_verified,
        }
        if result.ok:
            gov.audit.record("audit:verify", gov.actor, "audit", data)
    if not result.ok:
        raise AuditTampered(result.summary())
    cli.emit(data, lambda c: c.print(f"[green]{result.summary()}[/]"))


@app.command()
def checkpoint(ctx: typer.Context, actor: str | None = ACTOR_OPTION) -> None:
    """Sign the current head of the chain with the hub key (needs the KEK)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        hub = gov.secrets().hub_signing_key()
        cp = gov.audit.checkpoint(signer=hub.private_key, key_id=hub.key_id, actor=gov.actor)
        data = {"seq": cp.seq, "hash": cp.hash, "key_id": cp.key_id, "at": cp.at.isoformat()}
    cli.emit(data, lambda c: c.print(f"checkpoint at entry {cp.seq} signed by {cp.key_id}"))


def _write(out: TextIO, fmt: str, rows: Any) -> int:
    count = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(EXPORT_COLUMNS)
    for entry in rows:
        record = entry.as_dict()
        if writer is not None:
            writer.writerow(
                [
                    json.dumps(record[c], ensure_ascii=False, sort_keys=True)
                    if c == "details"
                    else record[c]
                    for c in EXPORT_COLUMNS
                ]
            )
        else:
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        count += 1
    return count


@app.command()
def export(
    ctx: typer.Context,
    format: str = typer.Option("jsonl", "--format", help="csv or jsonl."),
    out: Path | None = typer.Option(None, help="Output file; default standard output."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Export every entry in order (for the steering committee or an external auditor)."""
    cli = get_context(ctx)
    if format not in ("csv", "jsonl"):
        raise ConfigurationError(f"--format: {format!r} is not csv or jsonl")
    with governance(cli, actor) as gov:
        if out is None:
            count = _write(sys.stdout, format, gov.audit.iter_all())
        else:
            with out.open("w", encoding="utf-8", newline="") as handle:
                count = _write(handle, format, gov.audit.iter_all())
        gov.audit.record(
            "audit:export",
            gov.actor,
            "audit",
            {"format": format, "entries": count, "to": out.name if out else "stdout"},
        )
    if out is not None:
        cli.emit(
            {"entries": count, "file": str(out)},
            lambda c: c.print(f"exported {count} entries to {out}"),
        )
