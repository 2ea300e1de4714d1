"""`lmis-hub demo`: the main job on the embedded default, end to end.

Each stage of the hub adds its step here; the demo prints what runs and where to look.
"""

from __future__ import annotations

import typer
from rich.console import Console

from hub_api.cli.context import get_context
from hub_api.cli.stack import render_status
from infra.stack import EmbeddedStack


def demo(ctx: typer.Context) -> None:
    """Bring the embedded stack up, run the main job and print where to look."""
    cli = get_context(ctx)
    settings = cli.settings
    status = EmbeddedStack(settings).up()
    summary = {
        "stack": status.as_dict(),
        "data_dir": str(settings.data_dir.resolve()),
        "broker_log": str((settings.log_dir / "broker.log").resolve()),
        "stop_with": "lmis-hub stack down",
    }

    def draw(console: Console) -> None:
        render_status(status)(console)
        console.print(f"data directory: {summary['data_dir']}")
        console.print(f"broker log:     {summary['broker_log']}")
        console.print("stop the stack: [bold]lmis-hub stack down[/] (or `make stack-down`)")

    cli.emit(summary, draw)
    if not status.running:
        raise typer.Exit(1)
