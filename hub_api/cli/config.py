"""`lmis-hub config …`: the settings in force and the references generated from the code
(every HUB_ setting, every command, every error code)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from hub_api.cli import cli_reference
from hub_api.cli.context import get_context
from lmis_hub import config_reference, error_reference
from lmis_hub.errors import ConfigurationError

app = typer.Typer(
    help="Configuration: the settings in force, and the references generated from the code "
    "(every HUB_ setting, every command, every error code)."
)


@app.command()
def reference(
    ctx: typer.Context,
    write: Path | None = typer.Option(
        None,
        help=f"Rewrite the reference block of this file ({config_reference.DOCUMENT}) "
        "instead of printing it.",
    ),
) -> None:
    """Print the configuration reference generated from the settings classes
    (a Markdown table; with --json one object per variable)."""
    cli = get_context(ctx)
    if write is not None:
        _rewrite(write, config_reference.START, config_reference.END, config_reference.write_into)
        cli.emit(
            {"updated": str(write)},
            lambda c: c.print(f"updated the configuration reference in {write}", markup=False),
        )
    else:
        cli.emit(
            config_reference.entries(),
            lambda c: typer.echo(config_reference.render(), nl=False),
        )


@app.command(name="cli-reference")
def cli_reference_command(
    ctx: typer.Context,
    write: Path | None = typer.Option(
        None,
        help=f"Rewrite the reference block of this file ({cli_reference.DOCUMENT}) "
        "instead of printing it.",
    ),
) -> None:
    """Print the command-line reference generated from the command tree.

    Every command and group with its help, usage, arguments and options, as Markdown;
    with --json one object per command or group."""
    cli = get_context(ctx)
    root = ctx.find_root().command

    def write_into(path: Path) -> None:
        cli_reference.write_into(path, root)

    if write is not None:
        _rewrite(write, cli_reference.START, cli_reference.END, write_into)
        cli.emit(
            {"updated": str(write)},
            lambda c: c.print(f"updated the command-line reference in {write}", markup=False),
        )
    else:
        cli.emit(
            cli_reference.as_data(root),
            lambda c: typer.echo(cli_reference.render(root), nl=False),
        )


def _rewrite(path: Path, start: str, end: str, write_into: Callable[[Path], None]) -> None:
    """Rewrite the generated block of ``path``; a file that cannot be rewritten, or has no
    such block, is a usage error."""
    try:
        write_into(path)
    except OSError as exc:
        raise ConfigurationError(f"--write: cannot rewrite {path} ({exc.strerror})") from exc
    except ValueError as exc:  # no markers in the file
        raise ConfigurationError(
            f"--write: {path} has no {start} … {end} block to rewrite"
        ) from exc


@app.command(name="error-codes")
def error_codes(
    ctx: typer.Context,
    write: Path | None = typer.Option(
        None,
        help=f"Write the reference to this file ({error_reference.DOCUMENT}) instead of "
        "printing it.",
    ),
) -> None:
    """Print the reference of every error code: where it arises and what to do (Markdown,
    grouped by area; with --json one object per code)."""
    cli = get_context(ctx)
    if write is not None:
        try:
            error_reference.write(write)
        except OSError as exc:
            raise ConfigurationError(f"--write: cannot write {write} ({exc.strerror})") from exc
        cli.emit(
            {"updated": str(write)},
            lambda c: c.print(f"updated the error-code reference in {write}", markup=False),
        )
    else:
        cli.emit(
            error_reference.as_data(),
            lambda c: typer.echo(error_reference.render(), nl=False),
        )


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the settings in force (secrets masked)."""
    cli = get_context(ctx)
    data = cli.settings.model_dump(mode="json")
    cli.emit(data, lambda console: console.print_json(data=data))
