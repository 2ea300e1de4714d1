"""Research access: the people it knows, project applications and their two-person
approval, members, extracts and the airlock — the services of `lmis-hub research`,
acting as the signed-in user.

Who sees a project: the LMIS unit every one; a researcher those they applied for or are
(or were) a member of; an output checker those that were approved; an agency operator
those asking for a dataset of their agency. Extracts are listed to the LMIS unit and the
project's researchers; the services decide the rest (only approved, accredited members
download, only members submit outputs, only independent checkers review)."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from governance.accounts.services import Principal
from governance.disclosure.errors import OutputInvalid
from governance.errors import NotAMember, RoleNotPermitted
from governance.research.application import parse_application
from governance.research.models import ResearchProject
from governance.research.services import ResearchRole, ResearchService
from governance.research.views import (
    extract_detail,
    extract_view,
    member_view,
    output_view,
    person_view,
    project_detail,
    project_view,
)
from hub_api.http.auth import Require, subject_of
from hub_api.http.errors import RequestInvalid
from hub_api.http.unit import Unit, unit
from hub_api.wiring import airlock, research, research_extracts
from integration.research.errors import ExtractUnknown

router = APIRouter(prefix="/api/v1/research", tags=["research"])
Work = Annotated[Unit, Depends(unit, scope="function")]

PROJECT_STATES = ("applied", "approved", "refused", "suspended", "closed", "expired")
#: A result table is a small CSV; anything larger is not one.
MAX_OUTPUT_BYTES = 16 << 20
FILE_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".sig": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
}

Reader = Annotated[Principal, Depends(Require("research:read"))]
Decider = Annotated[Principal, Depends(Require("research:decide"))]
Downloader = Annotated[Principal, Depends(Require("research:download"))]
OutputReader = Annotated[Principal, Depends(Require("outputs:read"))]


class NewPerson(BaseModel):
    user: str = Field(min_length=1, max_length=200, description="The person's user name")
    role: ResearchRole
    name: str = Field(min_length=1, max_length=200)
    institution: str = Field(min_length=1, max_length=200)
    accreditation_expires: date | None = Field(None, description="Researchers: required")


class Approval(BaseModel):
    comment: str = Field("", max_length=2000)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class AgencyDecision(BaseModel):
    approve: bool = Field(strict=True)
    comment: str = Field("", max_length=2000)


class NewMember(BaseModel):
    user: str = Field(min_length=1, max_length=200)


class CheckerDecision(BaseModel):
    approve: bool = Field(strict=True)
    comment: str = Field(min_length=1, max_length=2000, description="Shown to the researchers")


# Who sees what ----------------------------------------------------------------------


def _agencies(row: ResearchProject) -> list[str]:
    return sorted({dataset.split(".", 1)[0] for dataset in json.loads(row.scope)})


def _sees(svc: ResearchService, principal: Principal, row: ResearchProject) -> bool:
    if principal.role == "lmis_admin":
        return True
    if principal.role == "researcher":
        return principal.username in svc.involved(row.id)
    if principal.role == "output_checker":
        return row.approved_at is not None
    if principal.role == "agency_operator":
        return principal.agency in _agencies(row)
    return False


def _project(
    work: Unit, principal: Principal, permission: str, project_id: str
) -> tuple[ResearchService, ResearchProject]:
    """The project, if ``principal`` may see it; refused with the reason otherwise (an
    agency operator's refusal goes through the access policy, and is audited)."""
    svc = research(work.services())
    row = svc.project(project_id)
    if principal.role == "agency_operator":
        agencies = _agencies(row)
        work.authorise(
            subject_of(principal),
            permission,
            resource=f"project:{row.id}",
            resource_agency=principal.agency if principal.agency in agencies else agencies[0],
        )
    elif not _sees(svc, principal, row):
        if principal.role == "researcher":
            raise NotAMember(f"{principal.username!r} is not on project {row.id!r}")
        raise RoleNotPermitted(
            f"{principal.role} sees a project once it is approved; {row.id!r} is {row.state}"
        )
    return svc, row


def _with_extracts(work: Unit, principal: Principal, project_id: str) -> None:
    """Extracts are the LMIS unit's and the project's researchers' to see."""
    _project(work, principal, "research:read", project_id)
    if principal.role not in ("lmis_admin", "researcher"):
        raise RoleNotPermitted(
            f"{principal.role} may not see extracts: the LMIS unit and the project's researchers do"
        )


def _file_response(folder: tempfile.TemporaryDirectory[str], path: Path) -> FileResponse:
    """``path`` (inside ``folder``) as an attachment; ``folder`` is deleted once sent."""
    return FileResponse(
        path,
        media_type=FILE_TYPES.get(path.suffix, "application/octet-stream"),
        filename=path.name,
        background=BackgroundTask(folder.cleanup),
    )


# People -----------------------------------------------------------------------------


@router.get("/people", summary="Everyone registered for research access")
def people(_: Decider, work: Work) -> list[dict[str, Any]]:
    return [person_view(p) for p in research(work.services()).people()]


@router.post(
    "/people",
    status_code=201,
    summary="Register a person for research access (again to renew an accreditation)",
)
def register_person(body: NewPerson, admin: Decider, work: Work) -> dict[str, Any]:
    row = research(work.services()).register_person(
        body.user,
        role=body.role,
        name=body.name,
        institution=body.institution,
        accreditation_expires=body.accreditation_expires,
        actor=admin.username,
    )
    return person_view(row)


# Projects ---------------------------------------------------------------------------


@router.get("/projects", summary="The projects the signed-in user may see")
def list_projects(
    principal: Reader,
    work: Work,
    state: Annotated[str | None, Query(description=f"one of {', '.join(PROJECT_STATES)}")] = None,
) -> list[dict[str, Any]]:
    if state is not None and state not in PROJECT_STATES:
        raise RequestInvalid(f"state: {state!r} is not one of {', '.join(PROJECT_STATES)}")
    svc = research(work.services())
    return [
        {k: v for k, v in project_view(svc, row).items() if k != "scope"}
        for row in svc.projects(state)
        if _sees(svc, principal, row)
    ]


@router.post(
    "/projects",
    status_code=201,
    summary="Apply for a project (the application as JSON; the applicant is the user)",
    responses={200: {"description": "Stored refused: the access policy does not allow it"}},
)
def apply(
    application: dict[str, Any],
    researcher: Annotated[Principal, Depends(Require("research:apply"))],
    work: Work,
    response: Response,
) -> dict[str, Any]:
    """The application has the keys of the YAML examples (governance/examples/research/).
    A project the access policy refuses at once is stored refused with the reason and
    answered 200; one that goes on to approval, 201."""
    doc = parse_application(application, where="request body")
    svc = research(work.services())
    view = project_view(svc, svc.apply(doc, actor=researcher.username))
    if view["state"] == "refused":
        response.status_code = 200
    return view


@router.get(
    "/projects/{project}", summary="A project: application, members, decisions, what it waits for"
)
def show_project(project: str, principal: Reader, work: Work) -> dict[str, Any]:
    svc, row = _project(work, principal, "research:read", project)
    return project_detail(svc, row)


@router.post("/projects/{project}/approve", summary="Approve (two different approvers needed)")
def approve(project: str, body: Approval, admin: Decider, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return project_view(svc, svc.approve(project, actor=admin.username, comment=body.comment))


@router.post("/projects/{project}/refuse", summary="Refuse an application (it ends)")
def refuse(project: str, body: Reason, admin: Decider, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return project_view(svc, svc.refuse(project, actor=admin.username, reason=body.reason))


@router.post("/projects/{project}/suspend", summary="Suspend an approved project")
def suspend(project: str, body: Reason, admin: Decider, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return project_view(svc, svc.suspend(project, actor=admin.username, reason=body.reason))


@router.post("/projects/{project}/resume", summary="Resume a suspended project")
def resume(project: str, body: Reason, admin: Decider, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return project_view(svc, svc.resume(project, actor=admin.username, reason=body.reason))


@router.post("/projects/{project}/close", summary="Close a project; its key is destroyed")
def close(project: str, body: Reason, admin: Decider, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return project_view(svc, svc.close(project, actor=admin.username, reason=body.reason))


@router.post(
    "/projects/{project}/agency-decision",
    summary="The operator's agency approves or refuses, where its agreement asks it to",
)
def agency_decision(
    project: str,
    body: AgencyDecision,
    operator: Annotated[Principal, Depends(Require("research:agency_decide"))],
    work: Work,
) -> dict[str, Any]:
    assert operator.agency is not None  # the policy allows operators of an agency only
    svc = research(work.services())
    row = svc.agency_decide(
        project,
        agency=operator.agency,
        approve=body.approve,
        actor=operator.username,
        comment=body.comment,
    )
    return project_view(svc, row)


# Members ----------------------------------------------------------------------------

Members = Annotated[Principal, Depends(Require("research:members"))]


@router.post(
    "/projects/{project}/members",
    status_code=201,
    summary="Add a member (the applicant or the LMIS unit; pending after approval)",
)
def add_member(project: str, body: NewMember, principal: Members, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return member_view(svc.add_member(project, body.user, actor=principal.username))


@router.delete(
    "/projects/{project}/members/{user}", summary="Remove a member; they lose access at once"
)
def remove_member(project: str, user: str, principal: Members, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return member_view(svc.remove_member(project, user, actor=principal.username))


@router.post(
    "/projects/{project}/members/{user}/approve",
    summary="Approve a member added after approval (two approvers)",
)
def approve_member(project: str, user: str, admin: Decider, work: Work) -> dict[str, Any]:
    svc = research(work.services())
    return member_view(svc.approve_member(project, user, actor=admin.username))


# Extracts ---------------------------------------------------------------------------


@router.get("/projects/{project}/extracts", summary="A project's extracts, live or ended")
def list_extracts(project: str, principal: Reader, work: Work) -> list[dict[str, Any]]:
    _with_extracts(work, principal, project)
    return [extract_view(r) for r in research_extracts(work.services()).extracts(project)]


@router.get("/projects/{project}/extracts/{extract}", summary="An extract with its signed manifest")
def show_extract(project: str, extract: int, principal: Reader, work: Work) -> dict[str, Any]:
    _with_extracts(work, principal, project)
    for row in research_extracts(work.services()).extracts(project):
        if row.id == extract:
            return extract_detail(row)
    raise ExtractUnknown(f"project {project!r} has no extract {extract}")


@router.post(
    "/projects/{project}/extracts",
    status_code=201,
    summary="Build the project's extract (a member; earlier ones superseded)",
)
def build_extract(
    project: str,
    member: Annotated[Principal, Depends(Require("research:extract"))],
    work: Work,
) -> dict[str, Any]:
    """The policy engine first decides whether the member may have the approved fields
    of each dataset (decided and audited by the extract service)."""
    work.commit()  # on SQLite the lake catalog shares the database: end reads first
    row = research_extracts(work.services()).build(project, actor=member.username)
    return extract_view(row) | {"rules": row.manifest["rules"]}


@router.get(
    "/projects/{project}/extracts/{extract}/files/{name}",
    summary="Download one file of a live extract (members; checked and audited)",
)
def download_extract_file(
    project: str, extract: int, name: str, member: Downloader, work: Work
) -> FileResponse:
    folder = tempfile.TemporaryDirectory(prefix="lmis-extract-")
    try:
        target = research_extracts(work.services()).download(
            project, extract, name, actor=member.username, to=Path(folder.name)
        )
        work.commit()  # the download's audit entry before the data leaves
    except BaseException:
        folder.cleanup()
        raise
    return _file_response(folder, target)


# Outputs (the airlock) --------------------------------------------------------------


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@router.post(
    "/projects/{project}/outputs",
    status_code=201,
    summary="Submit a result table (CSV) to the airlock; the automatic checks run at once",
    responses={200: {"description": "Stored refused by the automatic checks (see checks)"}},
)
def submit_output(
    project: str,
    member: Annotated[Principal, Depends(Require("outputs:submit"))],
    work: Work,
    response: Response,
    file: Annotated[UploadFile, File(description="The result table, a header row first")],
    kind: Annotated[Literal["frequency", "magnitude"], Form()],
    count_columns: Annotated[
        str | None, Form(description="Frequency: the count columns, comma-separated")
    ] = None,
    value_column: Annotated[
        str | None,
        Form(
            description="Magnitude: the value column (with contributors, largest and "
            "second_largest as evidence for the checks; never released)"
        ),
    ] = None,
    statistic: Annotated[Literal["sum", "mean"], Form()] = "sum",
    label_columns: Annotated[
        str, Form(description="The columns that name a row, comma-separated")
    ] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
) -> dict[str, Any]:
    """A table the checks refuse is stored ``refused_by_rules`` with the rules and cells
    and answered 200; one that goes on to the output checkers, 201."""
    layout: dict[str, Any]
    if kind == "frequency":
        if not _names(count_columns):
            raise RequestInvalid("count_columns: a frequency table names its count columns")
        layout = {"kind": kind, "count_columns": _names(count_columns)}
    else:
        if not value_column:
            raise RequestInvalid("value_column: a magnitude table names its value column")
        layout = {"kind": kind, "value_column": value_column, "statistic": statistic}
    layout["label_columns"] = _names(label_columns)
    data = file.file.read(MAX_OUTPUT_BYTES + 1)
    if len(data) > MAX_OUTPUT_BYTES:
        raise OutputInvalid(f"{file.filename}: larger than {MAX_OUTPUT_BYTES >> 20} MiB")
    row = airlock(work.services()).submit(
        project,
        file.filename or "",
        data,
        layout=layout,
        actor=member.username,
        description=description,
    )
    if row.state == "refused_by_rules":
        response.status_code = 200
    return output_view(row) | {"checks": row.checks}


@router.get("/projects/{project}/outputs", summary="A project's outputs and their state")
def list_outputs(project: str, principal: OutputReader, work: Work) -> list[dict[str, Any]]:
    _project(work, principal, "outputs:read", project)
    return [output_view(r) for r in airlock(work.services()).outputs(project)]


@router.get(
    "/projects/{project}/outputs/{output}",
    summary="An output: the automatic checks rule by rule, and the checkers' decisions",
)
def show_output(project: str, output: int, principal: OutputReader, work: Work) -> dict[str, Any]:
    _project(work, principal, "outputs:read", project)
    lock = airlock(work.services())
    return output_view(lock.output(project, output), lock.reviews(output))


@router.post(
    "/projects/{project}/outputs/{output}/review",
    summary="Decide as an output checker (two approvals release it; one refusal ends it)",
)
def review_output(
    project: str,
    output: int,
    body: CheckerDecision,
    checker: Annotated[Principal, Depends(Require("outputs:review"))],
    work: Work,
) -> dict[str, Any]:
    lock = airlock(work.services())
    row = lock.review(
        project, output, checker=checker.username, approve=body.approve, comment=body.comment
    )
    return output_view(row, lock.reviews(output))


@router.get(
    "/projects/{project}/outputs/{output}/file",
    summary="Download a released output (the project's people; audited)",
)
def download_output(project: str, output: int, member: Downloader, work: Work) -> FileResponse:
    folder = tempfile.TemporaryDirectory(prefix="lmis-output-")
    try:
        target = airlock(work.services()).download(
            project, output, actor=member.username, to=Path(folder.name)
        )
        work.commit()  # the download's audit entry before the data leaves
    except BaseException:
        folder.cleanup()
        raise
    return _file_response(folder, target)
