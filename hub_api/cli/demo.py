"""`lmis-hub demo`: the main job on the embedded default, end to end.

It brings the stack up, makes the synthetic nation (kept between runs: a second demo
reuses it), then runs the spine (:mod:`hub_api.demo.spine`): the five agencies, their
keys and signed agreements, all sixteen connectors once, the ingest worker until every
published batch has an outcome, the connectors' receipts, and a reconciliation table
with the audit-chain verification. A second demo publishes nothing new.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hub_api.cli.context import CliContext, get_context
from hub_api.cli.stack import render_status
from hub_api.demo.reconciliation import render_rows
from infra.stack import EmbeddedStack
from synth import nation as nation_mod
from synth.config import load_config

if TYPE_CHECKING:
    from hub_api.demo.api import ApiReport
    from hub_api.demo.spine import SpineResult

#: A first demo on two cores finishes in about the time the README states.
DEFAULT_PERSONS = 20_000


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
        for (a, t), rows in sorted(made.history.tables.items())
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
    persons: int = typer.Option(
        DEFAULT_PERSONS, "--persons", help="Population of the synthetic nation."
    ),
) -> None:
    """Bring the embedded stack up, run the whole spine on it and reconcile."""
    # The spine wires the ingest worker from hub_api.cli; imported here, not at the top,
    # so that hub_api.demo can be imported on its own (the benchmarks do).
    from hub_api.demo.api import start_api
    from hub_api.demo.parties import demo_secrets
    from hub_api.demo.spine import run_spine

    cli = get_context(ctx)
    settings = cli.settings
    load_config(None, persons=persons)  # a wrong --persons is refused before anything starts
    status = EmbeddedStack(settings).up()
    if not status.running:
        cli.emit({"stack": status.as_dict()}, render_status(status))
        raise typer.Exit(1)
    nation = _nation(cli, persons)
    bootstrap = f"{settings.stack.broker_host}:{settings.stack.broker_port}"
    say = (lambda _: None) if cli.json_output else cli.err_console.print
    spine = run_spine(settings, nation=Path(str(nation["folder"])), bootstrap=bootstrap, say=say)
    api = start_api(settings, demo_secrets(settings))
    summary = {
        "stack": status.as_dict(),
        "nation": nation,
        "spine": spine.as_dict(),
        "api": api.as_dict(),
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
        _draw_spine(console, spine)
        console.print(f"nation (agency sources + truth): {nation['folder']}")
        console.print(f"data directory: {summary['data_dir']}")
        console.print(f"broker log:     {summary['broker_log']}")
        _draw_api(console, api)
        console.print("stop the stack: [bold]lmis-hub stack down[/] (or `make stack-down`)")

    cli.emit(summary, draw)
    if not (spine.reconciliation.ok and spine.audit["ok"]) or api.error:
        raise typer.Exit(1)


def _draw_spine(console: Console, spine: SpineResult) -> None:
    parties = spine.parties
    console.print(
        f"parties: agencies added {parties.agencies_added or 'none'}; keys registered "
        f"{sorted(parties.keys_registered) or 'none'} "
        f"(reused {sorted(parties.keys_reused) or 'none'}); "
        f"agreements activated {parties.agreements_activated or 'none'} "
        f"(already in force {parties.agreements_in_force or 'none'})"
    )
    ingest = spine.ingest
    console.print(
        f"ingest: {ingest.get('processed', 0)} message(s) decided: "
        f"{ingest.get('accepted', 0)} accepted, {ingest.get('duplicate', 0)} duplicate, "
        f"{ingest.get('quarantined', 0)} quarantined"
    )
    table = Table(
        title="reconciliation: source -> connector -> hub -> lake", box=box.SIMPLE, pad_edge=False
    )
    table.add_column("agency/dataset", no_wrap=True)
    for name in ("source", "published", "accepted", "quarantined", "in lake"):
        table.add_column(name, justify="right", no_wrap=True)
    rows = list(render_rows(spine.reconciliation))
    for i, (agency, dataset, *counts, _check) in enumerate(rows):
        name = f"{agency}/{dataset}" if dataset else agency
        table.add_row(name, *counts, end_section=i == len(rows) - 2)
    console.print(table)
    result = spine.reconciliation
    if result.ok:
        console.print(
            "reconciliation: [green]every dataset adds up[/] (source = published = "
            "accepted = in lake, nothing quarantined, every batch receipted)"
        )
    for line in result.lines:
        if not line.ok:
            console.print(f"[red]{line.agency}/{line.dataset}[/]: {'; '.join(line.problems)}")
    _draw_linkage(console, spine)
    _draw_research(console, spine)
    _draw_indicators(console, spine)
    audit = spine.audit
    mark = "[green]verified[/]" if audit["ok"] else "[red]FAILED[/]"
    console.print(f"audit chain: {mark} ({audit['summary']})")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in spine.seconds.items())
    console.print(f"time: {timing}")


def _draw_indicators(console: Console, spine: SpineResult) -> None:
    report = spine.indicators
    if report.error:
        console.print(f"indicators: [red]not published[/] {escape(report.error)}")
        return
    console.print(
        f"indicators: release {report.release} published, {report.published} indicators, "
        f"{report.observations:,} observations ({report.suppressed:,} suppressed), "
        f"{len(report.withheld)} withheld; files in {report.folder}"
    )
    for h in report.headlines:
        value, se = h["value"], h["standard_error"]
        if isinstance(value, dict):  # by period; None where suppressed
            shown = ", ".join(
                f"{p} {'suppressed' if v is None else f'{v:.1f}'}" for p, v in value.items()
            )
        else:
            shown = f"{value:.1f}" + (f" (SE {se:.1f})" if se else "")
        truth = "unknown" if h["truth"] is None else f"{h['truth']:.1f}"
        console.print(f"  {h['indicator']} {h['period']}: {shown}; true value {truth}")


def _draw_research(console: Console, spine: SpineResult) -> None:
    report = spine.research
    if report.error:
        console.print(f"research: [red]not run[/] {escape(report.error)}")
        return
    x = report.extract
    suppressed = ", ".join(f"{c} {n}" for c, n in x["values_suppressed"].items() if n) or "none"
    console.print(
        f"research: project {report.project} applied, approved by two; extract {x['id']}: "
        f"{x['rows']:,} rows in {len(x['files'])} files, k {x['k_achieved']} achieved "
        f"(asked {x['k_requested']}, {x['k_before']} before suppression); values suppressed: "
        f"{suppressed}; persons dropped {x['persons_dropped']}; generalised: "
        f"{', '.join(x['generalised'])}"
    )
    for output in report.outputs:
        console.print(f"  output {output['name']}: {output['state']} ({escape(output['summary'])})")
    if report.closed:
        console.print(f"  closed earlier demo projects: {', '.join(report.closed)}")


def _draw_linkage(console: Console, spine: SpineResult) -> None:
    report = spine.linkage
    if report.error:
        console.print(f"linkage: [red]not run[/] {escape(report.error)}")
        return
    counts = report.counts
    changes = counts.get("key_changes", {})
    how = "reused (nothing new in bronze since)" if report.reused else "committed"
    console.print(
        f"linkage: run {report.run_id} {how}: {counts.get('records', 0):,} records, "
        f"{counts.get('persons', 0):,} persons; keys issued {changes.get('issued', 0):,}, "
        f"merged {changes.get('merged', 0):,}, split {changes.get('split', 0):,}; "
        f"{counts.get('review_queued', 0):,} pair(s) for clerical review"
    )
    q = report.quality
    if q is None:
        return
    console.print(
        f"linkage quality against the nation's truth ({q.records:,} person records): "
        f"precision {q.precision:.4f}, recall {q.recall:.4f}, F1 {q.f1:.4f}; persons "
        f"exactly recovered {q.persons_exact:,} of {q.true_persons:,}, split "
        f"{q.persons_split:,}, merged {q.persons_merged:,}"
    )
    for kind, tally in q.errors_by_noise.items():
        if tally:
            detail = ", ".join(f"{noise} {n}" for noise, n in tally.items())
            console.print(f"  records {kind.replace('_', ' ')}: {detail}")


def _draw_api(console: Console, api: ApiReport) -> None:
    if api.error:
        console.print(f"[red]API: {escape(api.error)}[/]")
        return
    console.print(f"web site: [bold]{api.url}/[/] (the published indicators, no sign-in)")
    console.print(f"API: {api.server}; OpenAPI document at {api.url}/api/v1/openapi.json")
    table = Table(
        title="demo accounts (passwords kept in the data directory's keys/)", box=box.SIMPLE
    )
    for name in ("user", "role", "password"):
        table.add_column(name, no_wrap=True)
    for account in api.accounts:
        role = account["role"] + (f" ({account['agency']})" if account["agency"] else "")
        table.add_row(account["user"], role, account["password"])
    console.print(table)
    console.print(
        f"sign in at {api.url}/login with a user and password above; roles other than the "
        "analyst and the agency operator set up an authenticator app at their first sign-in "
        "(the key is shown once, as a QR code and as text). Over HTTP: POST "
        "/api/v1/auth/login (docs/guide/api.md). Published indicators need no account: "
        f"{api.url}/indicators, {api.url}/api/v1/public/releases and {api.url}/sdmx/rest/… "
        "Airflow with the hub's DAGs on this stack: `make airflow` (docs/guide/airflow.md)"
    )
