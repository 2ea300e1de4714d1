"""`lmis-hub audit …`: read, verify, checkpoint and export the audit log."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from governance.audit.chain import Verification
from governance.audit.export import hub_keys_from_pem, read_pem_file, verify_export, write_export
from governance.audit.views import verification_view
from governance.errors import AuditTampered
from hub_api.cli.context import (
    ACTOR_OPTION,
    CliContext,
    get_context,
    governance,
    parse_instant,
)
from hub_api.wiring import Governance
from lmis_hub.errors import ConfigurationError
from schemas.keys import load_public_pem

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


def _coverage_warnings(cli: CliContext, result: Verification) -> list[str]:
    limit = cli.settings.audit.checkpoint_every_entries
    if result.ok and result.uncovered > limit:
        return [
            f"{result.uncovered} entries are not covered by a signature, more than "
            f"HUB_AUDIT__CHECKPOINT_EVERY_ENTRIES ({limit}): checkpoints may have been "
            "deleted, or the writers ran without the hub key"
        ]
    return []


def _trusted_keys(hub_key: Path | None) -> dict[str, Ed25519PublicKey] | None:
    if hub_key is None:
        return None
    try:
        pems = read_pem_file(hub_key)
    except OSError as exc:
        raise ConfigurationError(f"--hub-key: cannot read {hub_key}") from exc
    return hub_keys_from_pem(pems, where=f"--hub-key {hub_key.name}")


def _show(cli: CliContext, result: Verification, data: dict[str, Any]) -> None:
    def draw(console: Console) -> None:
        console.print(f"[green]{escape(result.summary())}[/]")
        console.print(f"hub keys: {data['keys']}")
        for warning in data["warnings"]:
            console.print(f"[yellow]warning[/] {escape(warning)}")

    cli.emit(data, draw)


@app.command()
def verify(
    ctx: typer.Context,
    actor: str | None = ACTOR_OPTION,
    file: Path | None = typer.Option(
        None,
        "--file",
        help="Verify an export made by `audit export` (jsonl) offline: no database, no KEK.",
    ),
    hub_key: Path | None = typer.Option(
        None,
        "--hub-key",
        help="PEM file with the hub's public key(s), obtained from the hub operators; only "
        "these keys are trusted (default: the keys in the export or the hub database).",
    ),
) -> None:
    """Recompute the chain and check signed checkpoints; exit 2 with audit.tampered if broken.

    Names the first rewritten entry, even when later hashes were recomputed, if a signed
    checkpoint covers it; entries after the last checkpoint rest on the chain alone.
    """
    cli = get_context(ctx)
    trusted = _trusted_keys(hub_key)
    if file is not None:
        try:
            checked = verify_export(file, trusted_keys=trusted)
        except OSError as exc:
            raise ConfigurationError(f"--file: cannot read {file}") from exc
        result = checked.result
        data = verification_view(
            result,
            file=str(file),
            exported_at=checked.exported_at,
            keys=checked.key_source,
            warnings=checked.warnings + _coverage_warnings(cli, result),
        )
        if not result.ok:
            raise AuditTampered(f"{file.name}: {result.summary()}")
        _show(cli, result, data)
        return
    with governance(cli, actor) as gov:
        warnings: list[str] = []
        if trusted is None:
            trusted = {
                k.key_id: load_public_pem(k.public_key_pem, where=k.key_id)
                for k in gov.keys.list("hub")
            }
            source = "hub database"
            warnings.append(
                "the hub keys were read from the hub database, which whoever can rewrite the "
                "audit tables can also change; pass --hub-key with the hub's public key"
            )
        else:
            source = "trusted key file"
        result = gov.audit.verify(public_keys=trusted)
        data = verification_view(result)
        if result.ok:
            gov.audit.record("audit:verify", gov.actor, "audit", data)
        data |= {"keys": source, "warnings": warnings + _coverage_warnings(cli, result)}
    if not result.ok:
        raise AuditTampered(result.summary())
    _show(cli, result, data)


@app.command()
def checkpoint(
    ctx: typer.Context,
    actor: str | None = ACTOR_OPTION,
    if_due: bool = typer.Option(
        False,
        "--if-due",
        help="Sign only if HUB_AUDIT__CHECKPOINT_EVERY_ENTRIES or _EVERY_S says one is due "
        "(run it periodically, e.g. hourly, so idle periods are covered too).",
    ),
) -> None:
    """Sign the entries since the last checkpoint with the hub key (needs the KEK)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        hub = gov.secrets().hub_signing_key()
        if if_due:
            cp = gov.audit.checkpoint_if_due(actor=gov.actor)
        else:
            cp = gov.audit.sign_checkpoint(hub, actor=gov.actor)
    if cp is None:
        cli.emit({"signed": False}, lambda c: c.print("no checkpoint due"))
        return
    data = {
        "signed": True,
        "seq": cp.seq,
        "first_seq": cp.first_seq,
        "hash": cp.hash,
        "key_id": cp.key_id,
        "at": cp.at.isoformat(),
    }
    cli.emit(
        data,
        lambda c: c.print(f"checkpoint of entries {cp.covers} signed by {cp.key_id}"),
    )


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


def _write_jsonl(out: TextIO, gov: Governance) -> int:
    head = gov.audit.head()
    return write_export(
        out,
        exported_at=gov.audit.clock(),
        head=head,
        hub_keys={k.key_id: k.public_key_pem for k in gov.keys.list("hub")},
        checkpoints=gov.audit.list_checkpoints(),
        entries=gov.audit.iter_chain(head[0]),
    )


def _write_any(out: TextIO, fmt: str, gov: Governance) -> int:
    if fmt == "jsonl":
        return _write_jsonl(out, gov)
    return _write(out, fmt, gov.audit.iter_all())


@app.command()
def export(
    ctx: typer.Context,
    format: str = typer.Option(
        "jsonl",
        "--format",
        help="jsonl (entries, signed checkpoints and hub keys: verifiable with "
        "`audit verify --file`) or csv (entries only).",
    ),
    out: Path | None = typer.Option(None, help="Output file; default standard output."),
    sign: bool = typer.Option(
        False,
        "--checkpoint",
        help="First sign a checkpoint of the entries not yet covered (needs the KEK).",
    ),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Export every entry in order (for the steering committee or an external auditor)."""
    cli = get_context(ctx)
    if format not in ("csv", "jsonl"):
        raise ConfigurationError(f"--format: {format!r} is not csv or jsonl")
    with governance(cli, actor) as gov:
        if sign:
            gov.audit.sign_checkpoint(gov.secrets().hub_signing_key(), actor=gov.actor)
        if out is None:
            count = _write_any(sys.stdout, format, gov)
        else:
            try:
                handle = out.open("w", encoding="utf-8", newline="")
            except OSError as exc:
                raise ConfigurationError(f"--out: cannot write {out} ({exc.strerror})") from exc
            with handle:
                count = _write_any(handle, format, gov)
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


@app.command("hub-key")
def hub_key_file(
    ctx: typer.Context,
    out: Path = typer.Option(..., help="PEM file to write (every hub signing key, past too)."),
) -> None:
    """Write the hub's public signing keys for `audit verify --hub-key`.

    Do it right after `keys init-hub` and each `keys rotate-hub`, and keep the file where
    whoever can write the audit tables cannot change it.
    """
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = gov.keys.list("hub")
        try:
            out.write_text("".join(k.public_key_pem for k in rows), encoding="ascii")
        except OSError as exc:
            raise ConfigurationError(f"--out: cannot write {out} ({exc.strerror})") from exc
        ids = [k.key_id for k in rows]
    cli.emit(
        {"file": str(out), "key_ids": ids},
        lambda c: c.print(f"wrote {len(ids)} hub public key(s) to {out}"),
    )
