"""What every CLI command receives: the settings, built once, and the output mode."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
        return SchemaCatalog.load(extra_dir=self.settings.schemas.extra_dir)

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
