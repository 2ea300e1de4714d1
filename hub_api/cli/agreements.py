"""`lmis-hub agreements …`: data-sharing agreements and their lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from governance.agreements.diff import diff as agreement_diff
from governance.agreements.document import load_yaml
from governance.agreements.lifecycle import STATES
from governance.agreements.services import document_of
from governance.agreements.views import detail, summary
from governance.errors import KeyInvalid
from hub_api.cli.context import ACTOR_OPTION, get_context, governance, parse_instant
from hub_api.cli.keys import read_passphrase
from schemas.keys import key_id_for, load_private_pem

app = typer.Typer(help="Create, sign, activate, suspend and monitor data-sharing agreements.")

VERSION_OPTION = typer.Option(None, "--version", help="Agreement version; default the latest.")
REASON_OPTION = typer.Option(..., help="Why (recorded with the transition).")


def table(title: str, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Any:
    def draw(console: Console) -> None:
        t = Table(title=title)  # columns fold rather than cut: ids are copied from here
        for col in columns:
            t.add_column(col, overflow="fold")
        for r in rows:
            t.add_row(*(str(r[c]) if r[c] is not None else "" for c in columns))
        console.print(t)

    return draw


@app.command()
def create(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="Agreement YAML (see governance/examples/)."),
    amend: bool = typer.Option(False, help="Store as the next version of an existing agreement."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Load an agreement from YAML as a draft (validated; errors name the key)."""
    cli = get_context(ctx)
    doc = load_yaml(file)
    with governance(cli, actor) as gov:
        store = gov.agreements.amend if amend else gov.agreements.create
        data = summary(store(doc, actor=gov.actor))
    cli.emit(data, lambda c: c.print(f"draft [bold]{data['id']}[/] v{data['version']} stored"))


@app.command()
def show(ctx: typer.Context, agreement_id: str, version: int | None = VERSION_OPTION) -> None:
    """Show an agreement version: terms, signatures, history."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        data = detail(gov.agreements, gov.agreements.get(agreement_id, version))
    cli.emit(data, lambda c: c.print_json(data=data))


@app.command()
def sign(
    ctx: typer.Context,
    agreement_id: str,
    agency: str = typer.Option(..., help="The signing party."),
    version: int | None = VERSION_OPTION,
    key: Path | None = typer.Option(
        None, help="Encrypted private key file of the agency; the hub signs with its own key."
    ),
    passphrase_file: Path | None = typer.Option(None, help="Passphrase file; default: prompt."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Sign the canonical JSON of an agreement version as one of its parties."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row = gov.agreements.get(agreement_id, version)
        if key is None and agency == "hub":
            hub = gov.secrets().hub_signing_key()
            key_id, private = hub.key_id, hub.private_key
        else:
            if key is None:
                raise typer.BadParameter("--key is required to sign for an agency")
            try:
                pem = key.read_bytes()
            except OSError as exc:
                raise KeyInvalid(f"--key {key}: cannot read ({exc.strerror})") from exc
            passphrase = read_passphrase(passphrase_file, confirm=False)
            private = load_private_pem(pem, passphrase, where=str(key))
            key_id = key_id_for(agency, private.public_key())
        gov.agreements.sign_with(
            row.id,
            row.version,
            agency=agency,
            key_id=key_id,
            private_key=private,
            actor=gov.actor,
        )
        data = summary(row) | {"signed_by": agency, "key_id": key_id}
    # The session is closed by now: print from ``data``, never from the detached row.
    cli.emit(
        data,
        lambda c: c.print(f"{agency} signed {data['id']} v{data['version']} ({data['state']})"),
    )


def _transition(
    ctx: typer.Context,
    method: str,
    agreement_id: str,
    version: int | None,
    reason: str,
    actor: str | None,
) -> None:
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row = gov.agreements.get(agreement_id, version)
        getattr(gov.agreements, method)(row.id, row.version, actor=gov.actor, reason=reason)
        data = summary(row)
    cli.emit(
        data, lambda c: c.print(f"{data['id']} v{data['version']} is now [bold]{data['state']}[/]")
    )


@app.command()
def activate(
    ctx: typer.Context,
    agreement_id: str,
    version: int | None = VERSION_OPTION,
    reason: str = REASON_OPTION,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Activate a signed version (or re-activate a suspended one)."""
    _transition(ctx, "activate", agreement_id, version, reason, actor)


@app.command()
def suspend(
    ctx: typer.Context,
    agreement_id: str,
    version: int | None = VERSION_OPTION,
    reason: str = REASON_OPTION,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Suspend an active version: deliveries are quarantined until re-activated."""
    _transition(ctx, "suspend", agreement_id, version, reason, actor)


@app.command()
def terminate(
    ctx: typer.Context,
    agreement_id: str,
    version: int | None = VERSION_OPTION,
    reason: str = REASON_OPTION,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Terminate a version for good."""
    _transition(ctx, "terminate", agreement_id, version, reason, actor)


COLUMNS = ("id", "version", "provider", "state", "valid_from", "valid_until")


@app.command("list")
def list_(
    ctx: typer.Context,
    state: str | None = typer.Option(None, help="Only this state."),
    provider: str | None = typer.Option(None, help="Only this provider."),
) -> None:
    """List agreement versions."""
    cli = get_context(ctx)
    if state is not None and state not in STATES:
        raise typer.BadParameter(
            f"{state!r} is not one of {', '.join(STATES)}", param_hint="--state"
        )
    with governance(cli, None) as gov:
        rows = [summary(r) for r in gov.agreements.find(state=state, provider=provider)]
    cli.emit(rows, table("Agreements", rows, COLUMNS))


@app.command()
def expiring(
    ctx: typer.Context,
    days: int = typer.Option(30, help="Within this many days."),
    at: str | None = typer.Option(None, help="As of (ISO); default now."),
) -> None:
    """Active agreements whose validity ends within N days."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [summary(r) for r in gov.agreements.expiring(days, at=parse_instant(at, "--at"))]
    cli.emit(rows, table(f"Agreements expiring within {days} days", rows, COLUMNS))


@app.command()
def late(
    ctx: typer.Context, at: str | None = typer.Option(None, help="As of (ISO); default now.")
) -> None:
    """Expected deliveries (per periodicity) that are past due with nothing recorded."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [x.as_dict() for x in gov.agreements.late(at=parse_instant(at, "--at"))]
    cli.emit(
        rows,
        table(
            "Late deliveries",
            rows,
            (
                "agreement_id",
                "provider",
                "dataset",
                "period_start",
                "period_end",
                "due",
                "last_delivery",
            ),
        ),
    )


@app.command()
def diff(
    ctx: typer.Context,
    agreement_id: str,
    old: int = typer.Argument(..., help="The earlier version."),
    new: int = typer.Argument(..., help="The later version."),
) -> None:
    """What changed between two versions: datasets, fields, purposes, dates, parties."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        before = document_of(gov.agreements.get(agreement_id, old))
        after = document_of(gov.agreements.get(agreement_id, new))
    changes = agreement_diff(before, after)
    data = {
        "id": agreement_id,
        "from": old,
        "to": new,
        "changes": [c.as_dict() for c in changes],
    }

    def draw(console: Console) -> None:
        console.print(f"{agreement_id} v{old} -> v{new}: {len(changes)} change(s)")
        for change in changes:
            console.print(f"  {escape(change.describe())}")

    cli.emit(data, draw)


@app.command()
def datasets(ctx: typer.Context, agreement_id: str, version: int | None = VERSION_OPTION) -> None:
    """The datasets and exact fields an agreement version allows."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        doc = document_of(gov.agreements.get(agreement_id, version))
        data = {name: t.model_dump() for name, t in doc.datasets.items()}
    cli.emit(data, lambda c: c.print_json(data=data))


@app.command("expire-due")
def expire_due(
    ctx: typer.Context,
    at: str | None = typer.Option(None, help="As of (ISO); default now."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Mark active or suspended versions whose validity has ended as expired."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        rows = [
            summary(r)
            for r in gov.agreements.expire_due(actor=gov.actor, at=parse_instant(at, "--at"))
        ]
    cli.emit(rows, table("Expired now", rows, COLUMNS))
