"""`lmis-hub synth`: make, extend, describe and serve the synthetic nation."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.table import Table

from hub_api.cli.context import get_context
from synth import nation as nation_mod
from synth.config import load_config
from synth.errors import NationNotFound, SynthError
from synth.jobboard_api import serve

app = typer.Typer(help="The synthetic nation: agencies' source systems with known truth.")


def _out(ctx: typer.Context, out: Path | None) -> Path:
    return out if out is not None else get_context(ctx).settings.data_dir / "nation"


@app.command("make")
def make(
    ctx: typer.Context,
    persons: int | None = typer.Option(None, "--persons", help="Population size (default 20000)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (same seed, same nation)."),
    months: int | None = typer.Option(None, "--months", help="Months to generate (default 24)."),
    config: Path | None = typer.Option(None, "--config", help="YAML file of SynthConfig fields."),
    out: Path | None = typer.Option(
        None, "--out", help="Nation folder (default <data_dir>/nation)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="PostgreSQL URL for the NIS and DoL schemas (default SQLite)."
    ),
    schema_prefix: str = typer.Option("synth_", "--schema-prefix", help="Prefix of those schemas."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing nation."),
) -> None:
    """Generate a nation: every agency's source system and the ground truth."""
    cli = get_context(ctx)
    cfg = load_config(config, persons=persons, seed=seed, months=months)
    targets = nation_mod.Targets(_out(ctx, out), database_url, schema_prefix)
    with cli.progress() as bar:
        tasks: dict[str, object] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        try:
            made = nation_mod.make(cfg, targets, overwrite=overwrite, progress=report)
        except OSError as exc:
            raise SynthError(
                f"{targets.folder}: cannot write the nation there ({exc.strerror})"
            ) from exc
    summary = {
        "folder": str(targets.folder),
        "persons": len(made.persons),
        "employers": len(made.employers),
        "months": made.months,
        "records": made.record_counts(),
    }
    cli.emit(summary, lambda c: _render_summary(c, summary))


@app.command("extend")
def extend(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Nation folder (default <data_dir>/nation)."
    ),
    database_url: str | None = typer.Option(None, "--database-url", help="As given to make."),
) -> None:
    """Add the next month of activity (new rows, updates, late corrections)."""
    cli = get_context(ctx)
    made = nation_mod.extend(_out(ctx, out), database_url=database_url)
    summary = {
        "folder": str(_out(ctx, out)),
        "months": made.months,
        "period": made.calendar.period(made.months - 1),
    }
    cli.emit(
        summary, lambda c: c.print(f"extended to {summary['months']} months ({summary['period']})")
    )


@app.command("describe")
def describe(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Nation folder (default <data_dir>/nation)."
    ),
) -> None:
    """Show a nation's manifest and true headline indicators."""
    cli = get_context(ctx)
    folder = _out(ctx, out)
    manifest = nation_mod.read_manifest(folder)
    indicators = json.loads((folder / "truth" / "indicators.json").read_text(encoding="utf-8"))
    data = {
        "manifest": {k: v for k, v in manifest.items() if k != "config"},
        "indicators": indicators,
    }

    def render(c: Console) -> None:
        c.print(f"seed {manifest['seed']}, {manifest['months_generated']} months, {folder}")
        table = Table("quarter", "unemployment rate", "employment/population")
        for q, v in indicators["quarters"].items():
            table.add_row(
                q, f"{v['unemployment_rate']:.3f}", f"{v['employment_to_population']:.3f}"
            )
        c.print(table)

    cli.emit(data, render)


@app.command("serve-jobboard")
def serve_jobboard(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Nation folder (default <data_dir>/nation)."
    ),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8088, "--port"),
) -> None:
    """Serve the job board's API until interrupted (Ctrl-C or SIGTERM)."""
    cli = get_context(ctx)
    database = _out(ctx, out) / "sources" / "jobboard" / "jobboard.db"
    if not database.is_file():
        raise NationNotFound(f"{database}: no job-board database; run `lmis-hub synth make`")
    server = serve(database, host, port)

    def stop(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    cli.err_console.print(f"job board API on {server.url}/api/v1/vacancies")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _render_summary(c: Console, summary: dict[str, object]) -> None:
    c.print(
        f"nation in {summary['folder']}: {summary['persons']} persons, "
        f"{summary['employers']} employers, {summary['months']} months"
    )
    table = Table("records", "count")
    for k, v in summary["records"].items():  # type: ignore[attr-defined]
        table.add_row(k, str(v))
    c.print(table)
