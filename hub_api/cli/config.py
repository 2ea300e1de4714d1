"""`lmis-hub config …`: the configuration reference and the settings in force."""

from __future__ import annotations

from pathlib import Path

import typer

from hub_api.cli.context import get_context
from lmis_hub import config_reference
from lmis_hub.errors import ConfigurationError

app = typer.Typer(help="Configuration: the reference of every HUB_ setting.")


@app.command()
def reference(
    ctx: typer.Context,
    write: Path | None = typer.Option(
        None, help="Rewrite the reference block of this README instead of printing it."
    ),
) -> None:
    """Print the configuration reference generated from the settings classes
    (a Markdown table; with --json one object per variable)."""
    cli = get_context(ctx)
    if write is not None:
        try:
            config_reference.write_into(write)
        except OSError as exc:
            raise ConfigurationError(f"--write: cannot rewrite {write} ({exc.strerror})") from exc
        except ValueError as exc:  # no reference markers in the file
            raise ConfigurationError(
                f"--write: {write} has no {config_reference.START} … "
                f"{config_reference.END} block to rewrite"
            ) from exc
        cli.emit(
            {"updated": str(write)},
            lambda c: c.print(f"updated the configuration reference in {write}", markup=False),
        )
    else:
        cli.emit(
            config_reference.entries(),
            lambda c: typer.echo(config_reference.render(), nl=False),
        )


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the settings in force (secrets masked)."""
    cli = get_context(ctx)
    data = cli.settings.model_dump(mode="json")
    cli.emit(data, lambda console: console.print_json(data=data))
