"""Research access on the web: the projects a viewer may see and their state, the
application form, a project's page (its application, members, decisions, what its
approval waits for, its extracts and outputs) with the steps the viewer may take there,
and a result table submitted to the airlock and followed through its checking.

Researchers apply, build and download their extracts and submit outputs; the LMIS unit
approves (two different administrators), refuses, suspends, resumes and closes; an
agency operator decides where their agency's agreement asks for it; output checkers see
approved projects' outputs (their desk is the airlock, :mod:`hub_api.web.pages.airlock`).
Every step calls the API's route functions or the same services as the signed-in user:
the services decide, and their refusals show with the reason code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from governance.accounts.services import Principal
from governance.errors import ApplicationInvalid
from hub_api.http.errors import RequestInvalid
from hub_api.http.routes.research import (
    PROJECT_STATES,
    build_extract,
    list_extracts,
    list_outputs,
    list_projects,
    show_output,
    show_project,
    submit_output,
)
from hub_api.http.routes.research import apply as apply_for_project
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.templating import Viewer, render
from hub_api.wiring import research
from integration.research.errors import OutputUnknown
from integration.research.workspace import CODEBOOK, MANIFEST, SIGNATURE
from lmis_hub.errors import HubError

router = APIRouter(
    prefix="/work/research", dependencies=[Depends(mark_page)], include_in_schema=False
)
Text = Annotated[str, Form(max_length=2000)]
#: The files of an extract besides its data files, in the order a researcher reads them.
EXTRACT_PAPERS = (CODEBOOK, MANIFEST, SIGNATURE)

#: What a redirect's ``done`` says on the page it lands on.
NOTICES = {
    "applied": "Your application is recorded. It now waits for its approvals.",
    "refused": "Your application is recorded, and the access policy refused it at once "
    "(the reason is below).",
    "approve": "Your approval is recorded.",
    "refuse": "The application is refused.",
    "suspend": "The project is suspended: nobody downloads its extracts until it resumes.",
    "resume": "The project is resumed.",
    "close": "The project is closed: its extracts are deleted and its key destroyed.",
    "agency": "Your agency's decision is recorded.",
    "extract": "The extract is built.",
    "submitted": "Your output is submitted, and the automatic checks have run.",
}

#: The LMIS unit's steps on a project, and whether each needs a reason (an approval's
#: comment is optional).
STEPS = {"approve": False, "refuse": True, "suspend": True, "resume": True, "close": True}


def principal_of(seen: Viewer) -> Principal:
    assert seen.principal is not None  # Page guarantees a signed-in viewer
    return seen.principal


def notice_of(request: Request, notices: dict[str, str]) -> str | None:
    """The notice of a redirect's ``done`` (only the fixed texts, never the query's)."""
    return notices.get(request.query_params.get("done", ""))


def numbered(value: str, error: HubError) -> int:
    """A path's number (an output, a pair); anything else is unknown: ``error``."""
    if not value.isdigit() or len(value) > 18:
        raise error
    return int(value)


# The list -----------------------------------------------------------------------------


@router.get("")
def projects(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("research:read"))],
    state: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    principal = principal_of(seen)
    shown = list_projects(principal, work, state or None)
    waiting = []
    if principal.role == "lmis_admin":
        waiting = [
            p for p in shown if p["waiting_for"] and p["waiting_for"]["lmis_approvals_missing"]
        ]
    elif principal.role == "agency_operator":
        waiting = [
            p
            for p in shown
            if p["waiting_for"] and principal.agency in p["waiting_for"]["agencies_missing"]
        ]
    return render(
        request,
        "work/research.html",
        seen,
        title="Research projects",
        projects=shown,
        waiting=waiting,
        state=state or "",
        states=PROJECT_STATES,
    )


# Applying -----------------------------------------------------------------------------


class ApplicationForm(BaseModel):
    """The application form as typed: text, turned into the application document the
    API's apply takes (:func:`application_of`)."""

    id: str = Field("", max_length=100)
    title: str = Field("", max_length=300)
    purpose: str = Field("research", max_length=20)
    public_benefit: str = Field("", max_length=4000)
    legal_basis: str = Field("", max_length=1000)
    ethics_approval: str = Field("", max_length=200)
    datasets: str = Field("", max_length=4000)
    period_from: str = Field("", max_length=10)
    period_to: str = Field("", max_length=10)
    duration_days: str = Field("", max_length=5)
    members: str = Field("", max_length=2000)
    k: str = Field("5", max_length=3)
    quasi_identifiers: str = Field("", max_length=1000)
    generalise: str = Field("", max_length=2000)


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _lines(text: str) -> list[tuple[int, str, str]]:
    """Non-empty lines ``left: right`` as (line number, left, right); a line without
    the colon has an empty left (the callers say what is wrong)."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            left, colon, right = line.partition(":")
            out.append((number, left.strip() if colon else "", right.strip()))
    return out


def _datasets(text: str) -> dict[str, list[str]]:
    datasets = {}
    for number, name, fields in _lines(text):
        if not name:
            raise ApplicationInvalid(
                f"datasets, line {number}: write the dataset, a colon, then its fields"
            )
        datasets[name] = _names(fields)
    return datasets


def _generalise(text: str) -> dict[str, dict[str, Any]]:
    """``birth_year: band width=5`` lines as the disclosure plan's generalisations."""
    plan: dict[str, dict[str, Any]] = {}
    for number, column, rest in _lines(text):
        words = rest.split()
        if not column or not words or not all("=" in w for w in words[1:]):
            raise ApplicationInvalid(
                f"generalisations, line {number}: write the field, a colon, the kind "
                "(band, month, year, group) and its options as name=value"
            )
        spec: dict[str, Any] = {"kind": words[0]}
        for word in words[1:]:
            key, _, value = word.partition("=")
            spec[key] = int(value) if value.isdigit() else value
        plan[column] = spec
    return plan


def application_of(form: ApplicationForm) -> dict[str, Any]:
    """The application document (the keys of the YAML examples) the form describes."""
    return {
        "id": form.id.strip(),
        "title": form.title.strip(),
        "purpose": form.purpose,
        "public_benefit": form.public_benefit.strip(),
        "legal_basis": form.legal_basis.strip(),
        "ethics_approval": form.ethics_approval.strip(),
        "datasets": _datasets(form.datasets),
        "period": {"from": form.period_from, "to": form.period_to},
        "duration_days": form.duration_days.strip(),
        "members": _names(form.members),
        "disclosure": {
            "k": form.k.strip() or "5",
            "quasi_identifiers": _names(form.quasi_identifiers),
            "generalise": _generalise(form.generalise),
        },
    }


def _apply_page(
    request: Request,
    seen: Viewer,
    form: ApplicationForm,
    *,
    problem: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "work/research_apply.html",
        seen,
        title="Apply for a research project",
        status_code=status,
        form=form,
        problem=problem,
    )


@router.get("/apply")
def apply_form(
    request: Request, seen: Annotated[Viewer, Depends(Page("research:apply"))]
) -> Response:
    return _apply_page(request, seen, ApplicationForm(members=principal_of(seen).username))


@router.post("/apply")
def apply(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("research:apply"))],
    form: Annotated[ApplicationForm, Form()],
) -> Response:
    """Apply as the signed-in researcher; a refusal of the form shows it again, filled."""
    try:
        view = apply_for_project(application_of(form), principal_of(seen), work, Response())
    except HubError as exc:
        work.session.rollback()
        problem = {"code": exc.code, "message": exc.message}
        return _apply_page(request, seen, form, problem=problem, status=exc.http_status)
    done = "refused" if view["state"] == "refused" else "applied"
    return RedirectResponse(f"/work/research/{view['id']}?done={done}", status_code=303)


# A project ----------------------------------------------------------------------------


@router.get("/{project}")
def project_page(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("research:read"))],
    project: str,
) -> Response:
    principal = principal_of(seen)
    detail = show_project(project, principal, work)
    extracts = None
    if principal.role in ("lmis_admin", "researcher"):
        extracts = list_extracts(project, principal, work)
    outputs = list_outputs(project, principal, work) if seen.may("outputs:read") else None
    mine = [
        d
        for d in detail["decisions"]
        if d["subject"] == "project" and d["actor"] == principal.username
    ]
    waiting = detail["waiting_for"]
    return render(
        request,
        "work/research_project.html",
        seen,
        title=f"Project {detail['id']}",
        notice=notice_of(request, NOTICES),
        project=detail,
        application=detail["application"],
        extracts=extracts,
        papers=EXTRACT_PAPERS,
        outputs=outputs,
        my_decision=mine[0] if mine else None,
        agency_asked=bool(
            waiting and principal.agency and principal.agency in waiting["agencies_missing"]
        ),
        member=principal.username
        in {m["user"] for m in detail["members"] if m["state"] in ("named", "approved")},
    )


@router.post("/{project}/decide")
def decide(
    work: Work,
    seen: Annotated[Viewer, Depends(Page("research:decide"))],
    project: str,
    step: Annotated[Literal["approve", "refuse", "suspend", "resume", "close"], Form()],
    text: Text = "",
) -> Response:
    """One step of the LMIS unit; every one but an approval needs its reason."""
    actor = principal_of(seen).username
    svc = research(work.services())
    if STEPS[step] and not text.strip():
        raise RequestInvalid(f"reason: a reason is needed to {step} a project")
    if step == "approve":
        svc.approve(project, actor=actor, comment=text)
    elif step == "refuse":
        svc.refuse(project, actor=actor, reason=text)
    elif step == "suspend":
        svc.suspend(project, actor=actor, reason=text)
    elif step == "resume":
        svc.resume(project, actor=actor, reason=text)
    else:
        svc.close(project, actor=actor, reason=text)
    return RedirectResponse(f"/work/research/{project}?done={step}", status_code=303)


@router.post("/{project}/agency-decision")
def agency_decision(
    work: Work,
    seen: Annotated[Viewer, Depends(Page("research:agency_decide"))],
    project: str,
    decision: Annotated[Literal["approve", "refuse"], Form()],
    comment: Text = "",
) -> Response:
    operator = principal_of(seen)
    assert operator.agency is not None  # the policy allows operators of an agency only
    research(work.services()).agency_decide(
        project,
        agency=operator.agency,
        approve=decision == "approve",
        actor=operator.username,
        comment=comment,
    )
    return RedirectResponse(f"/work/research/{project}?done=agency", status_code=303)


@router.post("/{project}/extracts")
def build(
    work: Work, seen: Annotated[Viewer, Depends(Page("research:extract"))], project: str
) -> Response:
    build_extract(project, principal_of(seen), work)
    return RedirectResponse(f"/work/research/{project}?done=extract#extracts", status_code=303)


# Outputs ------------------------------------------------------------------------------


def _submit_page(
    request: Request,
    seen: Viewer,
    project: dict[str, Any],
    *,
    problem: dict[str, str] | None = None,
    status: int = 200,
    **form: str | None,
) -> Response:
    return render(
        request,
        "work/research_submit.html",
        seen,
        title="Submit an output",
        status_code=status,
        project=project,
        problem=problem,
        form=form,
    )


@router.get("/{project}/submit")
def submit_form(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("outputs:submit"))],
    project: str,
) -> Response:
    return _submit_page(request, seen, show_project(project, principal_of(seen), work))


@router.post("/{project}/outputs")
def submit(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("outputs:submit"))],
    project: str,
    file: Annotated[UploadFile, File()],
    kind: Annotated[Literal["frequency", "magnitude"], Form()],
    count_columns: Annotated[str, Form(max_length=1000)] = "",
    value_column: Annotated[str, Form(max_length=200)] = "",
    statistic: Annotated[Literal["sum", "mean"], Form()] = "sum",
    label_columns: Annotated[str, Form(max_length=1000)] = "",
    description: Text = "",
) -> Response:
    """The API's submission, as the member; a refusal shows the form again, filled (the
    file is chosen again)."""
    principal = principal_of(seen)
    try:
        view = submit_output(
            project,
            principal,
            work,
            Response(),
            file,
            kind,
            count_columns or None,
            value_column or None,
            statistic,
            label_columns,
            description,
        )
    except HubError as exc:
        work.session.rollback()
        return _submit_page(
            request,
            seen,
            show_project(project, principal, work),
            problem={"code": exc.code, "message": exc.message},
            status=exc.http_status,
            kind=kind,
            count_columns=count_columns,
            value_column=value_column,
            statistic=statistic,
            label_columns=label_columns,
            description=description,
        )
    return RedirectResponse(
        f"/work/research/{project}/outputs/{view['id']}?done=submitted", status_code=303
    )


def output_of(work: Work, seen: Viewer, project: str, output: str) -> dict[str, Any]:
    """The API's view of an output (its checks rule by rule, the checkers' decisions), if
    the viewer may see its project."""
    number = numbered(output, OutputUnknown(f"project {project!r} has no output {output[:20]!r}"))
    return show_output(project, number, principal_of(seen), work)


@router.get("/{project}/outputs/{output}")
def output_page(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("outputs:read"))],
    project: str,
    output: str,
) -> Response:
    shown = output_of(work, seen, project, output)
    return render(
        request,
        "work/research_output.html",
        seen,
        title=f"Output {shown['name']}",
        notice=notice_of(request, NOTICES),
        output=shown,
    )
