"""The airlock for output checkers: the outputs of approved projects waiting for a
disclosure check (and those already decided), one output with the automatic checks rule
by rule and the checkers' decisions, and the checker's decision with its reason.

Two checkers who neither applied for nor belong to the project must each approve an
output to release it; one refusal ends it. The airlock decides that, not the page: a
checker who may not decide gets its refusal with the reason code."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from hub_api.http.routes.research import CheckerDecision, list_outputs, list_projects, review_output
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.pages.research import notice_of, numbered, output_of, principal_of
from hub_api.web.templating import Viewer, render
from hub_api.wiring import airlock
from integration.research.errors import OutputUnknown

router = APIRouter(
    prefix="/work/airlock", dependencies=[Depends(mark_page)], include_in_schema=False
)

NOTICES = {
    "approve": "Your approval is recorded.",
    "refuse": "Your refusal is recorded; the output will not be released.",
}


@router.get("")
def queue(
    request: Request, work: Work, seen: Annotated[Viewer, Depends(Page("outputs:review"))]
) -> Response:
    """Every output of the projects the checker sees: those waiting first (the oldest
    first), then the decided ones (the newest first)."""
    principal = principal_of(seen)
    lock = airlock(work.services())
    waiting: list[dict[str, Any]] = []
    decided: list[dict[str, Any]] = []
    for project in list_projects(principal, work, None):
        for output in list_outputs(project["id"], principal, work):
            if output["state"] == "awaiting_checkers":
                reviews = lock.reviews(output["id"])
                output["checkers"] = [r.checker for r in reviews]
                waiting.append(output)
            else:
                decided.append(output)
    waiting.sort(key=lambda o: o["submitted_at"])
    decided.sort(key=lambda o: o["submitted_at"], reverse=True)
    return render(
        request,
        "work/airlock.html",
        seen,
        title="Airlock",
        waiting=waiting,
        decided=decided,
    )


@router.get("/{project}/{output}")
def output_page(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("outputs:read"))],
    project: str,
    output: str,
) -> Response:
    shown = output_of(work, seen, project, output)
    me = principal_of(seen).username
    return render(
        request,
        "work/airlock_output.html",
        seen,
        title=f"Output {shown['name']}",
        notice=notice_of(request, NOTICES),
        output=shown,
        reviewed=any(r["checker"] == me for r in shown["reviews"]),
    )


@router.post("/{project}/{output}/review")
def review(
    work: Work,
    seen: Annotated[Viewer, Depends(Page("outputs:review"))],
    project: str,
    output: str,
    decision: Annotated[Literal["approve", "refuse"], Form()],
    comment: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    number = numbered(output, OutputUnknown(f"project {project!r} has no output {output[:20]!r}"))
    body = CheckerDecision(approve=decision == "approve", comment=comment)
    review_output(project, number, body, principal_of(seen), work)
    return RedirectResponse(f"/work/airlock/{project}/{number}?done={decision}", status_code=303)
