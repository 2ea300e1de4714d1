"""`lmis-hub stack up|down|status`: the embedded single-machine stack."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import typer
from rich.console import Console
from rich.table import Table

from hub_api.cli.context import get_context, governance
from infra.broker import port_is_free
from infra.errors import PortInUse
from infra.production.acls import acl_rules, render_commands
from infra.stack import EmbeddedStack, StackStatus
from lmis_hub.topics import HUB

app = typer.Typer(help="Start, stop and inspect the embedded stack (broker, database, lake).")


def render_status(status: StackStatus) -> Callable[[Console], None]:
    def draw(console: Console) -> None:
        table = Table(title="LMIS hub — embedded stack")
        table.add_column("component")
        table.add_column("state")
        table.add_column("where")
        colours = {"running": "green", "ready": "green", "stopped": "yellow"}
        for c in status.components:
            colour = colours.get(c.state, "red")
            table.add_row(c.name, f"[{colour}]{c.state}[/]", c.detail)
        console.print(table)

    return draw


@app.command()
def up(ctx: typer.Context) -> None:
    """Start the broker, migrate the hub database and create the lake folder."""
    cli = get_context(ctx)
    status = EmbeddedStack(cli.settings).up()
    cli.emit(status.as_dict(), render_status(status))


@app.command()
def down(ctx: typer.Context) -> None:
    """Stop the broker (topic data is in memory and is lost; files stay)."""
    cli = get_context(ctx)
    status = EmbeddedStack(cli.settings).down()
    cli.emit(status.as_dict(), render_status(status))


@app.command()
def airflow(
    ctx: typer.Context,
    port: int = typer.Option(8080, help="Port of Airflow's UI and API on 127.0.0.1."),
) -> None:
    """Run Airflow standalone with the hub's DAGs on this stack, until Ctrl-C (needs the
    airflow extra, which `make` installs)."""
    import os
    import subprocess

    from hub_api.demo.parties import demo_secrets
    from infra.airflow_standalone import airflow_environment, password_file, standalone_command
    from lmis_hub.settings import settings_environment

    cli = get_context(ctx)
    if not port_is_free("127.0.0.1", port):
        raise PortInUse(f"port 127.0.0.1:{port} is taken by another process; choose --port")
    settings = cli.settings
    if settings.key_encryption_key is None:  # the demo's own key, as `lmis-hub demo` made it
        settings = settings.model_copy(update={"key_encryption_key": demo_secrets(settings).kek})
    env = airflow_environment(
        settings, settings_environment(settings), port=port, path=os.environ.get("PATH", "")
    )
    cli.err_console.print(
        f"Airflow: http://127.0.0.1:{port}/ (user admin, password in {password_file(settings)} "
        "once it has started); the hub's DAGs are paused until you switch them on. Ctrl-C stops it."
    )
    done = subprocess.run(standalone_command(), env={**os.environ, **env}, check=False)
    raise typer.Exit(done.returncode)


@app.command()
def status(ctx: typer.Context) -> None:
    """Show what runs and where; exit status 1 when something is not running."""
    cli = get_context(ctx)
    result = EmbeddedStack(cli.settings).status()
    cli.emit(result.as_dict(), render_status(result))
    if not result.running:
        raise typer.Exit(1)


@app.command()
def acls(
    ctx: typer.Context,
    bootstrap: str = typer.Option(..., help="Bootstrap address of the production cluster."),
    command_config: str = typer.Option(
        "admin.properties", help="kafka-acls.sh --command-config file with admin credentials."
    ),
    agency: list[str] | None = typer.Option(
        None,
        "--agency",
        help="Agency codes (repeat the option); default: every agency registered at the hub.",
    ),
) -> None:
    """Print the kafka-acls.sh commands that give each agency access to its own topics only."""
    cli = get_context(ctx)
    if not agency:
        with governance(cli, None) as gov:
            agency = [a.code for a in gov.agencies.list() if a.code != HUB]
    try:
        rules = acl_rules(tuple(agency))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--agency") from None
    script = render_commands(rules, bootstrap=bootstrap, command_config=command_config)
    if not cli.json_output:
        typer.echo(script, nl=False)
        return
    data = {
        "agencies": list(agency),
        "rules": [dataclasses.asdict(r) for r in rules],
        "commands": [r.command(bootstrap, command_config) for r in rules],
    }
    cli.emit(data, lambda _c: None)
