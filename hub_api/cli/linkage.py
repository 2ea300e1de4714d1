"""`lmis-hub linkage …`: run the linkage, list its runs, review pairs, follow a key."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.linkage.models import LinkageRun
from governance.linkage.views import pair_view, run_view
from hub_api.cli.context import ACTOR_OPTION, get_context
from hub_api.wiring import database, governance, linkage_job
from integration.linkage.review import ReviewQueue, get_pair, key_history, open_pairs

app = typer.Typer(help="Link people across agencies on tokens: runs, clerical review, keys.")
review_app = typer.Typer(help="Pairs the model could not decide: list, show, decide.")
app.add_typer(review_app, name="review")


@app.command("run")
def run_command(
    ctx: typer.Context,
    incremental: bool = typer.Option(
        False,
        "--incremental",
        help="Compare only the records that landed since the last run, with its model "
        "(a full run when that cannot be done; the run says why).",
    ),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Link every bronze table with tokens into silver.person_links and silver.persons
    (all or nothing; the previous silver state stays if the run fails)."""
    cli = get_context(ctx)
    engine = database(cli.settings)
    try:
        with Session(engine) as session:
            job = linkage_job(session, cli.settings, actor=actor or getpass.getuser())
            run = job.run(incremental=incremental)
            view = run_view(run)
    finally:
        engine.dispose()

    def render(console: Console) -> None:
        changes = view["key_changes"] or {}
        counts = view["counts"]
        if view["mode"] == "incremental":
            console.print(f"incremental: {counts.get('new_records', 0):,} new record(s) compared")
        elif counts.get("full_because"):
            console.print(f"full run: {counts['full_because']}")
        console.print(
            f"linkage run {view['id']} committed: {view['records']:,} records, "
            f"{view['persons']:,} persons; keys issued {changes.get('issued', 0):,}, "
            f"merged {changes.get('merged', 0):,}, split {changes.get('split', 0):,}; "
            f"{view['review_queued']:,} pair(s) queued for review"
        )
        for source, c in sorted(view["counts"].get("by_source", {}).items()):
            console.print(
                f"  {source}: {c['person_records']:,} person, {c['reference_records']:,} "
                f"reference, {c['unlinkable_records']:,} unlinkable record(s)"
            )

    cli.emit(view, render)


@app.command("runs")
def runs_command(
    ctx: typer.Context,
    limit: int = typer.Option(20, min=1, help="At most this many, newest first."),
) -> None:
    """Linkage runs, newest first: state, counts, the error code of a failed run."""
    cli = get_context(ctx)
    engine = database(cli.settings)
    try:
        with Session(engine) as session:
            rows = session.scalars(select(LinkageRun).order_by(LinkageRun.id.desc()).limit(limit))
            views = [run_view(r) for r in rows]
    finally:
        engine.dispose()

    def render(console: Console) -> None:
        table = Table("run", "mode", "state", "started", "records", "persons", "review", "error")
        for v in views:
            table.add_row(
                str(v["id"]),
                v["mode"],
                v["state"],
                v["started_at"][:19],
                f"{v['records']:,}" if v["records"] is not None else "",
                f"{v['persons']:,}" if v["persons"] is not None else "",
                str(v["review_queued"] or ""),
                v["error_code"] or "",
            )
        console.print(table)

    cli.emit([{k: v for k, v in view.items() if k != "counts"} for view in views], render)


@review_app.command("list")
def review_list(
    ctx: typer.Context, limit: int = typer.Option(50, min=1, help="At most this many.")
) -> None:
    """Open pairs, the closest to the match weight first."""
    cli = get_context(ctx)
    engine = database(cli.settings)
    try:
        with Session(engine) as session:
            views = [pair_view(p) for p in open_pairs(session, limit=limit)]
    finally:
        engine.dispose()

    def render(console: Console) -> None:
        table = Table("pair", "weight", "left", "right", "agreement")
        for v in views:
            agreement = ", ".join(f"{k}: {a}" for k, a in v["agreement"].items())
            table.add_row(
                str(v["id"]),
                f"{v['match_weight']:.2f}",
                v["left"]["source"],
                v["right"]["source"],
                agreement,
            )
        console.print(table)
        if not views:
            console.print("no open pairs")

    cli.emit(views, render)


@review_app.command("show")
def review_show(ctx: typer.Context, pair: int = typer.Argument(..., help="Pair id.")) -> None:
    """One pair: the records, the weight, which tokens agreed, non-identifying attributes."""
    cli = get_context(ctx)
    engine = database(cli.settings)
    try:
        with Session(engine) as session:
            view = pair_view(get_pair(session, pair))
    finally:
        engine.dispose()

    def render(console: Console) -> None:
        console.print(
            f"pair {view['id']} (run {view['run']}, {view['state']}): "
            f"weight {view['match_weight']}, probability {view['match_probability']}"
        )
        for side in ("left", "right"):
            attrs = view["attributes"].get(side, {})
            console.print(f"  {side}: {view[side]['source']} {view[side]['record_id']} {attrs}")
        for comparison, level in view["agreement"].items():
            console.print(f"  {comparison}: {level}")

    cli.emit(view, render)


@review_app.command("decide")
def review_decide(
    ctx: typer.Context,
    pair: int = typer.Argument(..., help="Pair id."),
    decision: str = typer.Argument(..., help="match or no_match."),
    note: str | None = typer.Option(None, help="Why (kept with the decision)."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Decide a pair; the decision binds every later linkage run and is audited."""
    cli = get_context(ctx)
    reviewer = actor or getpass.getuser()
    engine = database(cli.settings)
    try:
        with Session(engine) as session, session.begin():
            gov = governance(session, cli.settings, actor=reviewer)
            queue = ReviewQueue(session, audit=gov.audit, clock=gov.clock)
            row = queue.decide(pair, decision, reviewer=reviewer, note=note)
            view = {"pair": pair, "decision": row.decision, "reviewer": reviewer}
    finally:
        engine.dispose()
    cli.emit(
        view,
        lambda console: console.print(
            f"pair {pair}: {decision} (by {reviewer}); it applies from the next linkage run"
        ),
    )


@app.command("key")
def key_command(ctx: typer.Context, key: str = typer.Argument(..., help="A person key.")) -> None:
    """A person key's history: issued, merged into (forwards to), split."""
    cli = get_context(ctx)
    engine = database(cli.settings)
    try:
        with Session(engine) as session:
            view = key_history(session, key)
    finally:
        engine.dispose()

    def render(console: Console) -> None:
        console.print(f"{view['key']}: issued by run {view['issued_run']} at {view['issued_at']}")
        if view["forwards_to"]:
            console.print(f"  retired by run {view['retired_run']}; now {view['current_key']}")
        for c in view["changes"]:
            console.print(f"  run {c['run']}: {c['change']} {c['key']} {c['other'] or ''}")

    cli.emit(view, render)
