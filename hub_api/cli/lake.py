"""`lmis-hub lake …`: maintenance of the governed lake."""

from __future__ import annotations

import getpass
from datetime import timedelta

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.db import make_engine, migrate
from governance.timestamps import utc_now
from hub_api.cli.context import get_context
from integration.lake.catalog import open_catalog
from integration.lake.retention import run_retention

app = typer.Typer(help="Maintain the lake: retention per agreement.")


@app.command("retention")
def retention_command(
    ctx: typer.Context,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Count what would be deleted and expired; change nothing."
    ),
    actor: str | None = typer.Option(
        None, "--actor", help="Who runs it (recorded in the audit log); default: your login."
    ),
) -> None:
    """Delete bronze rows older than their agreement's retention period (by event date,
    else received-at), expire old snapshots, delete the files only they referenced."""
    cli = get_context(ctx)
    settings = cli.settings
    database_url = settings.database_url_value()
    engine = make_engine(database_url)
    try:
        migrate(engine)
        lake = open_catalog(
            database_url=database_url, warehouse=settings.lake_warehouse, lake=settings.lake
        )
        with Session(engine) as session:
            results = run_retention(
                lake,
                session=session,
                audit=AuditLog(session, clock=utc_now),
                clock=utc_now,
                keep_snapshots=timedelta(hours=settings.lake.keep_snapshots_h),
                actor=actor or getpass.getuser(),
                dry_run=dry_run,
            )
    finally:
        engine.dispose()
    rows = [r.as_dict() for r in results]

    def render(console: Console) -> None:
        table = Table("table", "by", "rows", "deleted", "snapshots expired", "files deleted")
        for r in results:
            table.add_row(
                r.table,
                r.column,
                str(r.rows_before),
                str(r.rows_deleted),
                str(r.snapshots_expired),
                str(r.files_deleted),
            )
        console.print(table)
        if dry_run:
            console.print("dry run: nothing was changed")

    cli.emit(rows, render)
