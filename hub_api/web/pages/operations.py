"""What the agencies delivered and what the hub refused: ingest status per agency
dataset, one agency's accepted batches (what each receipt said), the quarantine with the
reason of each refusal (never the message's content) and, for the LMIS unit, replay.
An agency operator sees their own agency only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from governance.deliveries.status import ingest_status, recent_batches
from hub_api.http.routes.operations import STATES, quarantined_for, replay_one
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.templating import Viewer, render
from integration.ingest.ledger import Ledger
from lmis_hub.errors import HubError

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)
PAGE = 100
BATCHES = 50
Filter = Annotated[str | None, Query(max_length=64)]
#: What a replay's outcome means, for the notice after it.
OUTCOMES = {
    "accepted": "The message now passes: it landed in the lake.",
    "duplicate": "The batch had already landed: nothing was added.",
    "quarantined": "The message is refused again; the reason below is the new one.",
}


def _agency_in_query(request: Request) -> str | None:
    return request.query_params.get("agency") or None


def _agencies(work: Work, seen: Viewer) -> list[str]:
    """The agencies the viewer may pick in a filter (an operator: only their own)."""
    assert seen.principal is not None
    if seen.principal.role == "agency_operator":
        return [seen.principal.agency] if seen.principal.agency else []
    return [a.code for a in work.services().agencies.list()]


@router.get("/work/ingest")
def ingest(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("deliveries:read", agency_of=_agency_in_query))],
    agency: Filter = None,
) -> Response:
    assert seen.principal is not None
    if seen.principal.role == "agency_operator":
        agency = seen.principal.agency
    rows = ingest_status(work.session, agency=agency or None)
    return render(
        request,
        "work/ingest.html",
        seen,
        title="Ingest status",
        rows=rows,
        agency=agency or "",
        agencies=_agencies(work, seen),
    )


@router.get("/work/ingest/{agency}")
def agency_batches(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("deliveries:read"))],
    agency: str,
) -> Response:
    found = work.services().agencies.get(agency)
    return render(
        request,
        "work/ingest_agency.html",
        seen,
        title=f"Deliveries of {found.code}",
        agency=found,
        rows=ingest_status(work.session, agency=agency),
        batches=recent_batches(work.session, agency, limit=BATCHES),
        limit=BATCHES,
    )


@router.get("/work/quarantine")
def quarantine(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("quarantine:read", agency_of=_agency_in_query))],
    reason: Filter = None,
    agency: Filter = None,
    state: Annotated[str | None, Query(pattern="^(quarantined|replayed)?$")] = None,
) -> Response:
    assert seen.principal is not None
    if seen.principal.role == "agency_operator":
        agency = seen.principal.agency
    rows = Ledger(work.session, kek=work.state.kek).quarantined(
        reason_code=reason or None, agency=agency or None, state=state or None, limit=PAGE
    )
    return render(
        request,
        "work/quarantine.html",
        seen,
        title="Quarantine",
        rows=rows,
        filters={"reason": reason or "", "agency": agency or "", "state": state or ""},
        agencies=_agencies(work, seen),
        states=STATES,
        limit=PAGE,
    )


def _quarantined_page(
    request: Request,
    work: Work,
    seen: Viewer,
    quarantine_id: str,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    assert seen.principal is not None
    row = quarantined_for(work, seen.principal, quarantine_id)
    return render(
        request,
        "work/quarantined.html",
        seen,
        title="A refused message",
        status_code=status,
        row=row,
        **context,
    )


@router.get("/work/quarantine/{quarantine_id}")
def quarantined(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("quarantine:read", agency_of=lambda r: None))],
    quarantine_id: str,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _quarantined_page(request, work, seen, quarantine_id, notice=OUTCOMES.get(outcome or ""))


@router.post("/work/quarantine/{quarantine_id}/replay")
def replay(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("quarantine:replay"))],
    quarantine_id: str,
    send_receipts: Annotated[bool, Form()] = False,
) -> Response:
    assert seen.principal is not None
    try:
        result = replay_one(work, seen.principal, quarantine_id, send=send_receipts)
    except HubError as exc:
        work.session.rollback()
        problem = {"code": exc.code, "message": exc.message}
        return _quarantined_page(
            request, work, seen, quarantine_id, status=exc.http_status, problem=problem
        )
    where = f"/work/quarantine/{quarantine_id}?outcome={result['outcome']}"
    return RedirectResponse(where, status_code=303)
