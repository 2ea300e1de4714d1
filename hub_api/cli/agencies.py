"""`lmis-hub agencies add|list|init`: the agencies that share data through the hub."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from hub_api.cli.context import ACTOR_OPTION, get_context, governance

app = typer.Typer(help="Register and list agencies.")


@app.command()
def add(
    ctx: typer.Context,
    code: str = typer.Argument(
        ..., help="Agency code: 2-32 lower-case letters, digits or _, e.g. moe."
    ),
    name: str | None = typer.Option(None, help="Full name; default for the contract's codes."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Register an agency."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        agency = gov.agencies.add(code, name, actor=gov.actor)
        data = {"code": agency.code, "name": agency.name}
    cli.emit(data, lambda c: c.print(f"registered agency [bold]{code}[/] ({data['name']})"))


@app.command()
def init(ctx: typer.Context, actor: str | None = ACTOR_OPTION) -> None:
    """Register the agencies of governance/agencies/contract.yaml (the five and the hub)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        added = gov.agencies.ensure_known(actor=gov.actor)
    cli.emit({"added": added}, lambda c: c.print(f"added: {', '.join(added) or 'none'}"))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List registered agencies."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [
            {"code": a.code, "name": a.name, "created_at": a.created_at.isoformat()}
            for a in gov.agencies.list()
        ]

    def draw(console: Console) -> None:
        table = Table(title="Agencies")
        for col in ("code", "name", "created_at"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["code"], r["name"], r["created_at"])
        console.print(table)

    cli.emit(rows, draw)
