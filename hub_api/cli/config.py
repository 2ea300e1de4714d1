"""`lmis-hub config …`: the configuration reference and the settings in force."""

from __future__ import annotations

from pathlib import Path

import typer

from hub_api.cli.context import get_context
from lmis_hub import config_reference

app = typer.Typer(help="Configuration: the reference of every HUB_ setting.")


@app.command()
def reference(
    write: Path | None = typer.Option(
        None, help="Rewrite the reference block of this README instead of printing it."
    ),
) -> None:
    """Print the configuration reference generated from the settings classes."""
    if write is not None:
        config_reference.write_into(write)
        typer.echo(f"updated the configuration reference in {write}")
    else:
        typer.echo(config_reference.render(), nl=False)


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the settings in force (secrets masked)."""
    cli = get_context(ctx)
    data = cli.settings.model_dump(mode="json")
    cli.emit(data, lambda console: console.print_json(data=data))
