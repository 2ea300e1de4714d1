"""`lmis-hub demo`: the main job on the embedded default, end to end.

Each stage of the hub adds its step here; the demo prints what runs and where to look.
Today it brings the stack up and makes the synthetic nation whose agency source
systems the connectors read (kept between runs: a second demo reuses it).
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from hub_api.cli.context import CliContext, get_context
from hub_api.cli.stack import render_status
from infra.stack import EmbeddedStack
from synth import nation as nation_mod
from synth.config import load_config


def _nation(cli: CliContext, persons: int) -> dict[str, object]:
    folder = cli.settings.data_dir / "nation"
    if (folder / nation_mod.MANIFEST).exists():
        manifest = nation_mod.read_manifest(folder)
        return {"folder": str(folder.resolve()), "made_now": False, "manifest": manifest}
    config = load_config(None, persons=persons)
    with cli.progress() as bar:
        tasks: dict[str, object] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)  # type: ignore[arg-type]

        made = nation_mod.make(config, nation_mod.Targets(folder), progress=report)
    records = {
        f"{a}.{t}": sum(row.month < made.months for row in rows)
        for (a, t), rows in sorted(made.ledger.tables.items())
    }
    return {
        "folder": str(folder.resolve()),
        "made_now": True,
        "persons": len(made.persons),
        "employers": len(made.employers),
        "months": made.months,
        "records": records,
    }


def demo(
    ctx: typer.Context,
    persons: int = typer.Option(20_000, "--persons", help="Population of the synthetic nation."),
) -> None:
    """Bring the embedded stack up, run the main job and print where to look."""
    cli = get_context(ctx)
    settings = cli.settings
    status = EmbeddedStack(settings).up()
    nation = _nation(cli, persons)
    summary = {
        "stack": status.as_dict(),
        "nation": nation,
        "data_dir": str(settings.data_dir.resolve()),
        "broker_log": str((settings.log_dir / "broker.log").resolve()),
        "stop_with": "lmis-hub stack down",
    }

    def draw(console: Console) -> None:
        render_status(status)(console)
        if nation["made_now"]:
            table = Table(
                title=f"synthetic nation: {nation['persons']} persons, "
                f"{nation['employers']} employers, {nation['months']} months"
            )
            table.add_column("agency.table")
            table.add_column("source rows", justify="right")
            for name, count in nation["records"].items():  # type: ignore[attr-defined]
                table.add_row(name, str(count))
            console.print(table)
        else:
            console.print("synthetic nation: reused (delete the folder to make a new one)")
        console.print(f"nation (agency sources + truth): {nation['folder']}")
        console.print(f"data directory: {summary['data_dir']}")
        console.print(f"broker log:     {summary['broker_log']}")
        console.print("stop the stack: [bold]lmis-hub stack down[/] (or `make stack-down`)")

    cli.emit(summary, draw)
    if not status.running:
        raise typer.Exit(1)
