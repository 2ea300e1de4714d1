"""The `lmis-hub` command line.

Settings are built once here, in the root callback, and reach every command through
the typer context. Every :class:`~lmis_hub.errors.HubError` ends the command with
its code and message (or the JSON error envelope with ``--json``) and exit status 2.
"""

from __future__ import annotations

import json
import sys

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from hub_api.cli import (
    agencies,
    agreements,
    audit,
    config,
    connector,
    demo,
    indicators,
    ingest,
    keys,
    lake,
    linkage,
    quarantine,
    research,
    schemas,
    serve,
    stack,
    synth,
    users,
)
from hub_api.cli.context import CliContext
from lmis_hub import __version__
from lmis_hub.errors import ConfigurationError, HubError
from lmis_hub.logging import configure_logging
from lmis_hub.settings import LogSettings, load_settings

app = typer.Typer(
    name="lmis-hub",
    help="LMIS Integration Hub: governed labour-market data sharing between agencies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lmis-hub {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    json_output: bool = typer.Option(
        False, "--json", help="Machine-readable JSON output instead of tables."
    ),
    log_format: str | None = typer.Option(
        None, "--log-format", help="text or json (overrides HUB_LOG__FORMAT)."
    ),
    log_level: str | None = typer.Option(
        None, "--log-level", help="DEBUG, INFO, WARNING or ERROR (overrides HUB_LOG__LEVEL)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    settings = load_settings()
    overrides = {k: v for k, v in (("format", log_format), ("level", log_level)) if v}
    if overrides:
        try:
            log_settings = LogSettings.model_validate(settings.log.model_dump() | overrides)
        except ValidationError as exc:
            raise ConfigurationError(f"--log-format/--log-level: {exc.errors()[0]['msg']}") from exc
        settings = settings.model_copy(update={"log": log_settings})
    configure_logging(settings.log)
    ctx.obj = CliContext(settings=settings, json_output=json_output)


app.add_typer(stack.app, name="stack")
app.add_typer(config.app, name="config")
app.add_typer(synth.app, name="synth")
app.add_typer(agencies.app, name="agencies")
app.add_typer(keys.app, name="keys")
app.add_typer(agreements.app, name="agreements")
app.add_typer(audit.app, name="audit")
app.add_typer(schemas.app, name="schemas")
app.add_typer(connector.app, name="connector")
app.add_typer(ingest.app, name="ingest")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(lake.app, name="lake")
app.add_typer(linkage.app, name="linkage")
app.add_typer(research.app, name="research")
app.add_typer(indicators.app, name="indicators")
app.add_typer(users.app, name="users")
app.command(name="serve")(serve.serve)
app.command(name="demo")(demo.demo)


def json_first(args: list[str]) -> list[str]:
    """``--json`` moved before the command, so that it works wherever it is typed
    (``lmis-hub agreements list --json`` as well as ``lmis-hub --json agreements list``);
    anything after a ``--`` is left alone."""
    end = args.index("--") if "--" in args else len(args)
    if "--json" not in args[:end]:
        return args
    rest = [a for a in args[:end] if a != "--json"]
    return ["--json", *rest, *args[end:]]


def main() -> None:
    """Console-script entry point."""
    args = json_first(sys.argv[1:])
    json_mode = args[:1] == ["--json"]
    try:
        app(args=args)
    except HubError as exc:
        if json_mode:
            typer.echo(json.dumps(exc.to_dict(), ensure_ascii=False))
        else:
            Console(stderr=True, soft_wrap=True).print(
                f"[bold red]error[/] {escape(f'[{exc.code}] {exc.message}')}"
            )
        sys.exit(2)
