"""The audit log for the steering committee and auditors: entries with filters (newest
first, paged), the chain's verification with the signed checkpoints, and the export."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from hub_api.http.errors import RequestInvalid
from hub_api.http.routes.audit import verify_chain
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.templating import Viewer, render

router = APIRouter(prefix="/work/audit", dependencies=[Depends(mark_page)], include_in_schema=False)
PAGE = 100
Filter = Annotated[str | None, Query(max_length=200)]


def _moment(field: str, value: str | None) -> datetime | None:
    """A filter's date (and time), in UTC; empty means no bound."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RequestInvalid(
            f"{field}: not a date and time (YYYY-MM-DDTHH:MM): {value[:40]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("")
def log(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("audit:read"))],
    tag: Filter = None,
    actor: Filter = None,
    subject: Filter = None,
    since: Filter = None,
    until: Filter = None,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    audit = work.services().audit
    entries = audit.search(
        tag=tag or None,
        actor=actor or None,
        subject=subject or None,
        since=_moment("since", since),
        until=_moment("until", until),
        limit=PAGE,
        before=before,
        newest_first=True,
    )
    filters = {
        "tag": tag or "",
        "actor": actor or "",
        "subject": subject or "",
        "since": since or "",
        "until": until or "",
    }
    older = None
    if len(entries) == PAGE:
        older = {k: v for k, v in filters.items() if v} | {"before": entries[-1].seq}
    return render(
        request,
        "work/audit.html",
        seen,
        title="Audit log",
        entries=[(e, json.dumps(e.details, sort_keys=True)) for e in entries],
        filters=filters,
        older=older,
        head=audit.head(),
    )


@router.get("/checkpoints")
def checkpoints(
    request: Request, work: Work, seen: Annotated[Viewer, Depends(Page("audit:read"))]
) -> Response:
    return render(
        request,
        "work/audit_checkpoints.html",
        seen,
        title="Signed checkpoints",
        checkpoints=list(reversed(work.services().audit.list_checkpoints())),
    )


@router.post("/verify")
def verify(
    request: Request, work: Work, seen: Annotated[Viewer, Depends(Page("audit:verify"))]
) -> Response:
    assert seen.principal is not None
    result = verify_chain(work, seen.principal.username)
    return render(
        request,
        "work/audit_verify.html",
        seen,
        title="Verification of the audit log",
        result=result,
    )
