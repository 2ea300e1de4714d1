"""`lmis-hub config …`: the settings in force and the references generated from the code
(every HUB_ setting, every command, every error code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from hub_api.cli import cli_reference
from hub_api.cli.context import CliContext, get_context
from lmis_hub import config_reference, error_reference
from lmis_hub.errors import ConfigurationError

app = typer.Typer(
    help="Configuration: the settings in force, and the references generated from the code "
    "(every HUB_ setting, every command, every error code)."
)


def _reference(
    cli: CliContext,
    write: Path | None,
    *,
    what: str,
    write_into: Callable[[Path], None],
    data: Callable[[], Any],
    render: Callable[[], str],
    block: tuple[str, str] | None = None,
) -> None:
    """Print a generated reference (``data`` in --json mode), or write it into ``write``
    (only its ``block`` between markers, when given). A file that cannot be written, or
    has no such block, is a usage error."""
    if write is None:
        cli.emit(data(), lambda c: typer.echo(render(), nl=False))
        return
    try:
        write_into(write)
    except OSError as exc:
        raise ConfigurationError(f"--write: cannot write {write} ({exc.strerror})") from exc
    except ValueError as exc:  # no markers in the file
        start, end = block or ("", "")
        raise ConfigurationError(
            f"--write: {write} has no {start} … {end} block to rewrite"
        ) from exc
    cli.emit(
        {"updated": str(write)},
        lambda c: c.print(f"updated the {what} in {write}", markup=False),
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
    _reference(
        get_context(ctx),
        write,
        what="configuration reference",
        write_into=config_reference.write_into,
        data=config_reference.entries,
        render=config_reference.render,
        block=(config_reference.START, config_reference.END),
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
    root = ctx.find_root().command
    _reference(
        get_context(ctx),
        write,
        what="command-line reference",
        write_into=lambda path: cli_reference.write_into(path, root),
        data=lambda: cli_reference.as_data(root),
        render=lambda: cli_reference.render(root),
        block=(cli_reference.START, cli_reference.END),
    )


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
    _reference(
        get_context(ctx),
        write,
        what="error-code reference",
        write_into=error_reference.write,
        data=error_reference.as_data,
        render=error_reference.render,
    )


@app.command()
def show(ctx: typer.Context) -> None:
    """Print the settings in force (secrets masked)."""
    cli = get_context(ctx)
    data = cli.settings.model_dump(mode="json")
    cli.emit(data, lambda console: console.print_json(data=data))


OPENAPI_DOCUMENT = "docs/reference/openapi.json"


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _openapi_text(cli: CliContext) -> str:
    # Imported here: the web stack would add seconds to the start of every command.
    from hub_api.http.app import openapi_document

    return json.dumps(openapi_document(cli.settings), indent=2, sort_keys=True) + "\n"


@app.command(name="openapi")
def openapi_command(
    ctx: typer.Context,
    write: Path | None = typer.Option(
        None, help=f"Write the document to this file ({OPENAPI_DOCUMENT}) instead of printing it."
    ),
) -> None:
    """Print the HTTP API's OpenAPI document (as served at /api/v1/openapi.json)."""
    cli = get_context(ctx)
    _reference(
        cli,
        write,
        what="OpenAPI document",
        write_into=lambda path: _write_text(path, _openapi_text(cli)),
        data=lambda: json.loads(_openapi_text(cli)),
        render=lambda: _openapi_text(cli),
    )
