"""`lmis-hub research …`: research access — people, project applications, two-person
approval, members and the project lifecycle.

The acting person is ``--actor`` (default: the login name) on the hub's own server; the
HTTP API authenticates people for the same services.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from governance.disclosure.errors import OutputInvalid
from governance.errors import ApplicationInvalid
from governance.research.application import parse_application
from governance.research.services import RESEARCH_ROLES
from governance.research.views import (
    extract_detail,
    extract_view,
    member_view,
    output_view,
    person_view,
    project_detail,
    project_view,
)
from hub_api.cli.agreements import table
from hub_api.cli.context import ACTOR_OPTION, get_context, governance
from hub_api.wiring import airlock as airlock_service
from hub_api.wiring import research as research_service
from hub_api.wiring import research_extracts
from integration.research.errors import ExtractUnknown

app = typer.Typer(help="Research access: people, project applications, approval, members.")
people_app = typer.Typer(help="The people research access knows: researchers, approvers, checkers.")
members_app = typer.Typer(help="Members of a project: add, approve (added after approval), remove.")
extract_app = typer.Typer(help="A project's extracts: build, list, show, download.")
app.add_typer(people_app, name="people")
app.add_typer(members_app, name="members")
output_app = typer.Typer(help="The airlock: submit result tables, check them, download them.")
app.add_typer(extract_app, name="extract")
app.add_typer(output_app, name="output")

REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")
COMMENT = typer.Option("", "--comment", help="A comment recorded with the decision.")


def _say_project(data: dict[str, Any]) -> Any:
    def render(console: Console) -> None:
        console.print(f"project [bold]{data['id']}[/]: {data['state']}")
        if data["refusal"]:
            console.print(f"refused: {data['refusal']}")
        waiting = data["waiting_for"]
        if waiting:
            agencies = ", ".join(waiting["agencies_missing"]) or "none"
            console.print(
                f"waiting for {waiting['lmis_approvals_missing']} LMIS approval(s) "
                f"(have: {', '.join(waiting['lmis_approvals']) or 'none'}); agencies: {agencies}"
            )
        if data["valid_until"]:
            console.print(f"valid until {data['valid_until']}")

    return render


@people_app.command("add")
def people_add(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="The person's user name."),
    role: str = typer.Option(..., "--role", help=f"One of {', '.join(RESEARCH_ROLES)}."),
    name: str = typer.Option(..., "--name", help="Full name."),
    institution: str = typer.Option(..., "--institution", help="Institution or unit."),
    accreditation_expires: str | None = typer.Option(
        None, "--accreditation-expires", help="Researchers: accreditation expiry (YYYY-MM-DD)."
    ),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Register a person for research access (again to renew an accreditation)."""
    cli = get_context(ctx)
    expires = None
    if accreditation_expires is not None:
        try:
            expires = date.fromisoformat(accreditation_expires)
        except ValueError as exc:
            raise typer.BadParameter(
                "not a date (YYYY-MM-DD)", param_hint="--accreditation-expires"
            ) from exc
    with governance(cli, actor) as gov:
        row = research_service(gov).register_person(
            user,
            role=role,  # type: ignore[arg-type]
            name=name,
            institution=institution,
            accreditation_expires=expires,
            actor=gov.actor,
        )
        data = {"user": row.user, "role": row.role, "accreditation_expires": accreditation_expires}
    cli.emit(data, lambda c: c.print(f"{data['user']} registered as {data['role']}"))


@people_app.command("list")
def people_list(ctx: typer.Context) -> None:
    """Everyone registered for research access."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [person_view(p) for p in research_service(gov).people()]
    cli.emit(
        rows,
        table(
            "research people",
            rows,
            ("user", "role", "name", "institution", "accreditation_expires"),
        ),
    )


@app.command("apply")
def apply_command(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ..., help="Project application YAML (see governance/examples/research/)."
    ),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Apply for a project; the policy engine refuses at once what an agreement does not
    allow (exit status 2, with its reason)."""
    cli = get_context(ctx)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ApplicationInvalid(f"{file}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ApplicationInvalid(f"{file}: not valid YAML ({exc})") from exc
    app_doc = parse_application(data, where=str(file))
    with governance(cli, actor) as gov:
        svc = research_service(gov)
        view = project_view(svc, svc.apply(app_doc, actor=gov.actor))
    cli.emit(view, _say_project(view))
    if view["state"] == "refused":
        raise typer.Exit(2)


@app.command("list")
def list_command(
    ctx: typer.Context,
    state: str | None = typer.Option(None, "--state", help="Only projects in this state."),
) -> None:
    """Projects and their state."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        svc = research_service(gov)
        rows = [
            {k: v for k, v in project_view(svc, p).items() if k != "scope"}
            for p in svc.projects(state)
        ]
    cli.emit(
        rows, table("research projects", rows, ("id", "state", "title", "applicant", "valid_until"))
    )


@app.command("show")
def show_command(ctx: typer.Context, project: str) -> None:
    """A project: its application, state, members, decisions and what it waits for."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        svc = research_service(gov)
        view = project_detail(svc, svc.project(project))
    cli.emit(view, _say_project(view))


def _step(ctx: typer.Context, actor: str | None, do: Any) -> None:
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        svc = research_service(gov)
        view = project_view(svc, do(svc, gov.actor))
    cli.emit(view, _say_project(view))


@app.command("approve")
def approve_command(
    ctx: typer.Context, project: str, comment: str = COMMENT, actor: str | None = ACTOR_OPTION
) -> None:
    """Approve as a member of the LMIS unit (two different approvers are needed)."""
    _step(ctx, actor, lambda svc, who: svc.approve(project, actor=who, comment=comment))


@app.command("refuse")
def refuse_command(
    ctx: typer.Context, project: str, reason: str = REASON, actor: str | None = ACTOR_OPTION
) -> None:
    """Refuse as a member of the LMIS unit."""
    _step(ctx, actor, lambda svc, who: svc.refuse(project, actor=who, reason=reason))


@app.command("agency-decide")
def agency_decide_command(
    ctx: typer.Context,
    project: str,
    agency: str = typer.Option(..., "--agency", help="The data-owning agency deciding."),
    approve: bool = typer.Option(..., "--approve/--refuse", help="The agency's decision."),
    comment: str = COMMENT,
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Record a data-owning agency's decision, where its agreement asks for one."""
    _step(
        ctx,
        actor,
        lambda svc, who: svc.agency_decide(
            project, agency=agency, approve=approve, actor=who, comment=comment
        ),
    )


@app.command("suspend")
def suspend_command(
    ctx: typer.Context, project: str, reason: str = REASON, actor: str | None = ACTOR_OPTION
) -> None:
    """Suspend an approved project (no extract, no access until resumed)."""
    _step(ctx, actor, lambda svc, who: svc.suspend(project, actor=who, reason=reason))


@app.command("resume")
def resume_command(
    ctx: typer.Context, project: str, reason: str = REASON, actor: str | None = ACTOR_OPTION
) -> None:
    """Resume a suspended project."""
    _step(ctx, actor, lambda svc, who: svc.resume(project, actor=who, reason=reason))


@app.command("close")
def close_command(
    ctx: typer.Context,
    project: str,
    reason: str = typer.Option("closed", "--reason", help="Why (recorded in the audit log)."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Close a project; its key is destroyed, so its pseudonyms can never be made again."""
    _step(ctx, actor, lambda svc, who: svc.close(project, actor=who, reason=reason))


@app.command("expire")
def expire_command(ctx: typer.Context) -> None:
    """Expire every project whose term has run out and destroy its key (run daily)."""
    cli = get_context(ctx)
    with governance(cli, "system") as gov:
        svc = research_service(gov)
        ended = [p.id for p in svc.expire_due()]
    cli.emit({"expired": ended}, lambda c: c.print(f"expired: {', '.join(ended) or 'none'}"))


def _member_step(ctx: typer.Context, actor: str | None, do: Any) -> None:
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        data = member_view(do(research_service(gov), gov.actor))
    cli.emit(data, lambda c: c.print(f"{data['user']}: {data['state']}"))


@members_app.command("add")
def members_add(
    ctx: typer.Context, project: str, user: str, actor: str | None = ACTOR_OPTION
) -> None:
    """Add a member (pending two approvals when the project is already approved)."""
    _member_step(ctx, actor, lambda svc, who: svc.add_member(project, user, actor=who))


@members_app.command("approve")
def members_approve(
    ctx: typer.Context, project: str, user: str, actor: str | None = ACTOR_OPTION
) -> None:
    """Approve a member added after the project's approval (two approvers)."""
    _member_step(ctx, actor, lambda svc, who: svc.approve_member(project, user, actor=who))


@members_app.command("remove")
def members_remove(
    ctx: typer.Context, project: str, user: str, actor: str | None = ACTOR_OPTION
) -> None:
    """Remove a member; they lose access at once."""
    _member_step(ctx, actor, lambda svc, who: svc.remove_member(project, user, actor=who))


def _say_extract(data: dict[str, Any]) -> Any:
    def render(console: Console) -> None:
        console.print(
            f"extract {data['id']} of {data['project']} ({data['state']}): {data['rows']:,} "
            f"rows, k achieved {data['k_achieved']} (asked {data['k_requested']})"
        )
        for name, rows in data["files"].items():
            console.print(f"  {name}: {rows:,} rows")

    return render


@extract_app.command("build")
def extract_build(ctx: typer.Context, project: str, actor: str | None = ACTOR_OPTION) -> None:
    """Build the project's extract (an approved member asks): the approved fields of the
    approved period, project pseudonyms, consent applied, k-anonymity; earlier extracts
    of the project are superseded and their files deleted."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        row = research_extracts(gov).build(project, actor=gov.actor)
        view = extract_view(row) | {"rules": row.manifest["rules"]}
    cli.emit(view, _say_extract(view))


@extract_app.command("list")
def extract_list(ctx: typer.Context, project: str) -> None:
    """Every extract of a project, live, superseded or deleted."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [extract_view(r) for r in research_extracts(gov).extracts(project)]
    cli.emit(
        rows,
        table(f"extracts of {project}", rows, ("id", "state", "built_at", "rows", "k_achieved")),
    )


@extract_app.command("show")
def extract_show(ctx: typer.Context, project: str, extract: int) -> None:
    """An extract's signed manifest: files, snapshots, agreements and the rules applied."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [r for r in research_extracts(gov).extracts(project) if r.id == extract]
        if not rows:
            raise ExtractUnknown(f"project {project!r} has no extract {extract}")
        view = extract_detail(rows[0])
    cli.emit(view, _say_extract(view))


@extract_app.command("download")
def extract_download(
    ctx: typer.Context,
    project: str,
    extract: int,
    file: str = typer.Argument(..., help="A file of the extract (`research extract show`)."),
    to: Path = typer.Option(Path(), "--to", help="Folder or file to write to."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Download one file of a live extract (members only; checked against the signed
    manifest; audited)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        target = research_extracts(gov).download(project, extract, file, actor=gov.actor, to=to)
    cli.emit({"written": str(target)}, lambda c: c.print(f"written {target}"))


@app.command("consent-rebuild")
def consent_rebuild(ctx: typer.Context) -> None:
    """Rebuild every live extract that holds a person who has withdrawn consent for
    research (run daily, and after consent withdrawals are recorded)."""
    cli = get_context(ctx)
    with governance(cli, "consent-propagation") as gov:
        rebuilt = [
            extract_view(r) for r in research_extracts(gov).rebuild_for_consent(actor=gov.actor)
        ]
    cli.emit(
        {"rebuilt": rebuilt},
        lambda c: c.print(
            "rebuilt: " + (", ".join(f"{r['project']}#{r['id']}" for r in rebuilt) or "none")
        ),
    )


def _csv_names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _say_output(data: dict[str, Any]) -> Any:
    def render(console: Console) -> None:
        console.print(f"output {data['id']} ({data['name']}): {data['state']}")
        console.print(f"checks: {data['outcome']}: {data['summary']}")
        for review in data.get("reviews", []):
            console.print(f"  {review['checker']}: {review['decision']} — {review['comment']}")

    return render


@output_app.command("submit")
def output_submit(
    ctx: typer.Context,
    project: str,
    file: Path = typer.Argument(..., help="The result table (CSV, a header row first)."),
    counts: str | None = typer.Option(
        None, "--counts", help="Frequency table: its count columns, comma-separated."
    ),
    value: str | None = typer.Option(
        None,
        "--value",
        help="Magnitude table: its value column (with columns contributors, largest, "
        "second_largest as evidence for the checks; never released).",
    ),
    statistic: str = typer.Option("sum", "--statistic", help="Magnitude: sum or mean."),
    labels: str | None = typer.Option(
        None, "--labels", help="The columns that name a row, comma-separated."
    ),
    description: str = typer.Option("", "--description", help="What the table shows."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Submit a result table to the airlock: the automatic checks run at once (exit
    status 2 when a rule refuses it); then two output checkers decide."""
    cli = get_context(ctx)
    if (counts is None) == (value is None):
        raise typer.BadParameter("give --counts (frequency) or --value (magnitude)")
    layout: dict[str, Any] = (
        {"kind": "frequency", "count_columns": _csv_names(counts)}
        if counts is not None
        else {"kind": "magnitude", "value_column": value, "statistic": statistic}
    )
    layout["label_columns"] = _csv_names(labels)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise OutputInvalid(f"{file}: cannot read ({exc.strerror})") from exc
    with governance(cli, actor) as gov:
        row = airlock_service(gov).submit(
            project, file.name, data, layout=layout, actor=gov.actor, description=description
        )
        view = output_view(row) | {"checks": row.checks}
    cli.emit(view, _say_output(view))
    if view["state"] == "refused_by_rules":
        raise typer.Exit(2)


@output_app.command("list")
def output_list(ctx: typer.Context, project: str) -> None:
    """A project's outputs and their state."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        rows = [output_view(r) for r in airlock_service(gov).outputs(project)]
    cli.emit(rows, table(f"outputs of {project}", rows, ("id", "name", "state", "outcome")))


@output_app.command("show")
def output_show(ctx: typer.Context, project: str, output: int) -> None:
    """An output: the automatic checks rule by rule, and the checkers' decisions."""
    cli = get_context(ctx)
    with governance(cli, None) as gov:
        lock = airlock_service(gov)
        view = output_view(lock.output(project, output), lock.reviews(output))
    cli.emit(view, _say_output(view))


@output_app.command("review")
def output_review(
    ctx: typer.Context,
    project: str,
    output: int,
    approve: bool = typer.Option(..., "--approve/--refuse", help="The checker's decision."),
    comment: str = typer.Option(..., "--comment", help="Why (shown to the researchers)."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Decide as an output checker (two approvals release the output; one refusal ends it)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        lock = airlock_service(gov)
        row = lock.review(project, output, checker=gov.actor, approve=approve, comment=comment)
        view = output_view(row, lock.reviews(output))
    cli.emit(view, _say_output(view))


@output_app.command("download")
def output_download(
    ctx: typer.Context,
    project: str,
    output: int,
    to: Path = typer.Option(Path(), "--to", help="Folder or file to write to."),
    actor: str | None = ACTOR_OPTION,
) -> None:
    """Download a released output (the project's people only; audited)."""
    cli = get_context(ctx)
    with governance(cli, actor) as gov:
        target = airlock_service(gov).download(project, output, actor=gov.actor, to=to)
    cli.emit({"written": str(target)}, lambda c: c.print(f"written {target}"))
