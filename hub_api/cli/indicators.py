"""`lmis-hub indicators …`: the indicator package — its definitions, releases built from
the lake and published as SDMX, and each release's lineage."""

from __future__ import annotations

import getpass
from typing import Any

import typer
from rich.console import Console

from governance.indicators.views import lineage_view, release_view
from hub_api.cli.agreements import table
from hub_api.cli.context import ACTOR_OPTION, get_context, governance
from hub_api.wiring import governance_in_steps, indicator_releases
from integration.indicators.definition import load_definitions

app = typer.Typer(help="Published indicators: definitions, releases (build, publish), lineage.")


def _say_release(data: dict[str, Any]) -> Any:
    def render(console: Console) -> None:
        console.print(
            f"release {data['id']} ({data['state']}): {data['observations']:,} observations "
            f"of {len(data['indicators'])} indicators"
        )
        for indicator, reason in data["withheld"].items():
            console.print(f"  withheld {indicator}: {reason}")
        if data["folder"]:
            console.print(f"  published in {data['folder']}")

    return render


def _say_lineage(data: dict[str, Any]) -> Any:
    def render(console: Console) -> None:
        _say_release(data)(console)
        console.print(f"  gold snapshot {data['gold_snapshot']}, linkage run {data['linkage_run']}")
        for name, snapshot in data["lake_snapshots"].items():
            console.print(f"  read {name} at snapshot {snapshot}")
        for indicator, used in data["agreements"].items():
            versions = ", ".join(f"{a['id']} v{a['version']}" for a in used) or "none"
            flow = data["flows"].get(indicator, "not published")
            console.print(f"  {indicator}: {flow}; agreements {versions}")

    return render


@app.command("list")
def list_command(ctx: typer.Context) -> None:
    """The package's indicator definitions (withheld ones say why)."""
    cli = get_context(ctx)
    rows = [
        {
            "id": d.id,
            "version": d.version,
            "frequency": d.frequency,
            "unit": d.unit,
            "sources": ", ".join(d.sources),
            "withheld": d.withheld,
        }
        for d in load_definitions(schemas=cli.catalog())
    ]
    cli.emit(
        rows,
        table("indicators", rows, ("id", "version", "frequency", "unit", "sources", "withheld")),
    )


@app.command("build")
def build_command(ctx: typer.Context, actor: str | None = ACTOR_OPTION) -> None:
    """Build a release from the lake as it is now: the sources at their current
    snapshots (silver at the last committed linkage run's), computed, protected and
    appended to gold.indicators; refused when a source is empty."""
    cli = get_context(ctx)
    with governance_in_steps(cli.settings, actor=actor or getpass.getuser()) as gov:
        view = release_view(indicator_releases(gov).build(actor=gov.actor))
    cli.emit(view, _say_release(view))


@app.command("publish")
def publish_command(
    ctx: typer.Context,
    release: str = typer.Argument(..., help="The release id, e.g. 2026-12-03.1."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Publish a built release as SDMX with a manifest signed by the hub (needs the
    key-encryption key); indicators whose agreement is not active and in force are
    withheld."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        view = release_view(indicator_releases(gov).publish(release, actor=gov.actor))
    cli.emit(view, _say_release(view))


@app.command("releases")
def releases_command(ctx: typer.Context) -> None:
    """Every release, built or published."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [release_view(r) for r in indicator_releases(gov).releases()]
    cli.emit(
        rows,
        table(
            "indicator releases",
            rows,
            ("id", "state", "built_at", "published_at", "observations", "folder"),
        ),
    )


@app.command("show")
def show_command(
    ctx: typer.Context, release: str = typer.Argument(..., help="The release id.")
) -> None:
    """A release's lineage: the lake snapshots and linkage run read, the gold snapshot,
    per indicator its published flow version and the agreement versions it rests on."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        view = lineage_view(indicator_releases(gov).get(release))
    cli.emit(view, _say_lineage(view))
