"""The signed-in user's own pages: the overview of their work, their account (password,
authenticator)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from hub_api.http.errors import RequestInvalid
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.templating import Viewer, render
from lmis_hub.errors import HubError

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)
Password = Annotated[str, Form(max_length=1024)]

#: What each area of the work navigation is for, shown on the overview.
PURPOSES = {
    "/work/agencies": "The agencies that share data with the hub, and their signing keys.",
    "/work/agreements": "Data-sharing agreements: drafts, signatures, activation, "
    "amendments, late deliveries and agreements about to expire.",
    "/work/ingest": "What each agency has delivered, and its receipts.",
    "/work/quarantine": "Deliveries the hub refused, with the reason; replay once fixed.",
    "/work/linkage": "Pairs of records the linkage model could not decide, and the linkage runs.",
    "/work/research": "Research projects: applications, approvals, members, extracts and outputs.",
    "/work/airlock": "Research outputs waiting for a disclosure check.",
    "/work/audit": "The tamper-evident audit log: search, verify the chain, export.",
    "/account": "Your password and your authenticator.",
}


@router.get("/work")
def overview(request: Request, seen: Annotated[Viewer, Depends(Page())]) -> Response:
    items = [(n, PURPOSES.get(n.href, "")) for n in seen.navigation()]
    return render(request, "work/overview.html", seen, title="Your work", items=items)


def _account_page(
    request: Request, work: Work, seen: Viewer, *, status: int = 200, **context: object
) -> Response:
    assert seen.principal is not None
    account = work.accounts().get(seen.principal.username)
    return render(
        request,
        "work/account.html",
        seen,
        title="My account",
        status_code=status,
        account=account,
        **context,
    )


@router.get("/account")
def account(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page(password_page=True))],
) -> Response:
    return _account_page(request, work, seen)


@router.post("/account/password")
def change_password(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page(password_page=True))],
    old: Password,
    new: Password,
    again: Password,
) -> Response:
    assert seen.principal is not None
    if new != again:
        differ = RequestInvalid("the two new passwords differ")
        problem = {"code": differ.code, "message": differ.message}
        return _account_page(request, work, seen, status=422, problem=problem)
    try:
        work.accounts().change_password(seen.principal.username, old=old, new=new)
    except HubError as exc:
        work.commit()
        problem = {"code": exc.code, "message": exc.message}
        return _account_page(request, work, seen, status=exc.http_status, problem=problem)
    return RedirectResponse("/account?changed=1", status_code=303)
