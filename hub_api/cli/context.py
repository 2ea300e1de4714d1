"""What every CLI command receives: the settings, built once, and the output mode."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from hub_api.wiring import Governance, governance_session, schema_catalog
from lmis_hub.errors import ConfigurationError
from lmis_hub.settings import Settings
from schemas.catalog import SchemaCatalog


@dataclass
class CliContext:
    settings: Settings
    json_output: bool = False
    console: Console = field(default_factory=Console)
    err_console: Console = field(default_factory=lambda: Console(stderr=True))

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Print ``data`` as JSON in --json mode, otherwise let ``render`` draw it."""
        if self.json_output:
            typer.echo(json.dumps(data, default=str, indent=2, ensure_ascii=False))
        else:
            render(self.console)

    def catalog(self) -> SchemaCatalog:
        """The schema catalog: the packaged schemas and those of HUB_SCHEMAS__EXTRA_DIR."""
        return schema_catalog(self.settings)

    @contextmanager
    def progress(self) -> Iterator[Progress]:
        """A progress display for long work; silent in --json mode."""
        with Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err_console,
            disable=self.json_output,
            transient=False,
        ) as bar:
            yield bar


@contextmanager
def file_errors(option: str, path: Path, doing: str) -> Iterator[None]:
    """Turn an OSError of reading or writing ``path`` into a usage error naming the option."""
    try:
        yield
    except OSError as exc:
        raise ConfigurationError(
            f"{option}: cannot {doing} {path} ({exc.strerror or type(exc).__name__})"
        ) from exc


def get_context(ctx: typer.Context) -> CliContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliContext):  # pragma: no cover - the root callback always sets it
        raise RuntimeError("CLI context missing")
    return obj


ACTOR_OPTION = typer.Option(
    None, "--actor", help="Who acts (recorded in the audit log); default: your login name."
)


@contextmanager
def governance(cli: CliContext, actor: str | None) -> Iterator[Governance]:
    """The composition root's governance services for one command: one session, one
    transaction, committed when the command body returns (its change and its audit
    entry together)."""
    with governance_session(cli.settings, actor=actor or getpass.getuser()) as gov:
        yield gov


def parse_instant(value: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; without a timezone it is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(f"{option}: {value!r} is not an ISO date or date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
