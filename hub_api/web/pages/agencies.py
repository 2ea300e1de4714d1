"""The agencies that share data with the hub and their public signing keys: the list
for everyone who may see it, one agency's keys, and for the LMIS unit registering an
agency, registering a key and revoking one. An agency operator sees their own agency."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from hub_api.http.errors import RequestInvalid
from hub_api.http.routes.agreements import key_view, revoke_agency_key
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.templating import Viewer, render
from lmis_hub.errors import HubError

router = APIRouter(
    prefix="/work/agencies", dependencies=[Depends(mark_page)], include_in_schema=False
)
#: A PEM public key is a few hundred bytes; anything far larger is not one.
MAX_PEM_BYTES = 8000
DONE = {
    "agency": "The agency is registered.",
    "key": "The key is registered.",
    "revoked": "The key is revoked: signatures made from now on with it are refused.",
}


def problem_of(error: HubError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


async def text_of(upload: UploadFile | None, pasted: str, *, field: str, limit: int) -> str:
    """What a form gave as a file or pasted in a text box (the file wins); UTF-8 text of
    at most ``limit`` bytes."""
    if upload is not None and upload.filename:
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise RequestInvalid(f"{field}: the file is larger than {limit:,} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestInvalid(f"{field}: the file is not UTF-8 text") from None
    if len(pasted.encode("utf-8")) > limit:
        raise RequestInvalid(f"{field}: the text is longer than {limit:,} bytes")
    return pasted


def day_start(field: str, value: str) -> datetime | None:
    """A form's date as the start of that day in UTC; empty means none."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise RequestInvalid(f"{field}: not a date (YYYY-MM-DD): {value[:40]!r}") from None


@router.get("")
def agencies(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agencies:read"))],
    done: str | None = None,
) -> Response:
    return _list_page(request, work, seen, notice=DONE.get(done or ""))


def _list_page(
    request: Request, work: Work, seen: Viewer, *, status: int = 200, **context: object
) -> Response:
    assert seen.principal is not None
    principal = seen.principal
    rows = [
        a
        for a in work.services().agencies.list()
        if principal.role != "agency_operator" or a.code == principal.agency
    ]
    return render(
        request,
        "work/agencies.html",
        seen,
        title="Agencies",
        status_code=status,
        agencies=rows,
        **context,
    )


@router.post("")
def add_agency(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agencies:write"))],
    code: Annotated[str, Form(max_length=32)],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    assert seen.principal is not None
    try:
        work.services().agencies.add(
            code.strip(), name.strip() or None, actor=seen.principal.username
        )
    except HubError as exc:
        work.session.rollback()
        form = {"code": code, "name": name}
        return _list_page(
            request, work, seen, status=exc.http_status, problem=problem_of(exc), form=form
        )
    return RedirectResponse("/work/agencies?done=agency", status_code=303)


@router.get("/{agency}")
def agency_keys(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("keys:read"))],
    agency: str,
    done: str | None = None,
) -> Response:
    return _agency_page(request, work, seen, agency, notice=DONE.get(done or ""))


def _agency_page(
    request: Request,
    work: Work,
    seen: Viewer,
    agency: str,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    gov = work.services()
    found = gov.agencies.get(agency)
    now = gov.clock()
    keys = [key_view(gov.keys, k, now) for k in gov.keys.list(agency)]
    return render(
        request,
        "work/agency.html",
        seen,
        title=f"Agency {found.code}",
        status_code=status,
        agency=found,
        keys=sorted(keys, key=lambda k: k["not_before"], reverse=True),
        **context,
    )


@router.post("/{agency}/keys")
async def register_key(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("keys:write"))],
    agency: str,
    public_key_pem: Annotated[str, Form(max_length=MAX_PEM_BYTES)] = "",
    pem_file: Annotated[UploadFile | None, File()] = None,
    not_before: Annotated[str, Form(max_length=40)] = "",
    not_after: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    assert seen.principal is not None
    gov = work.services()
    try:
        pem = await text_of(pem_file, public_key_pem, field="public key", limit=MAX_PEM_BYTES)
        if not pem.strip():
            raise RequestInvalid("public key: choose a PEM file or paste the key")
        gov.keys.register(
            agency,
            pem,
            actor=seen.principal.username,
            not_before=day_start("valid from", not_before),
            not_after=day_start("valid until", not_after),
        )
    except HubError as exc:
        work.session.rollback()
        form = {"public_key_pem": public_key_pem, "not_before": not_before, "not_after": not_after}
        return _agency_page(
            request, work, seen, agency, status=exc.http_status, problem=problem_of(exc), form=form
        )
    return RedirectResponse(f"/work/agencies/{agency}?done=key", status_code=303)


@router.post("/{agency}/keys/{key_id}/revoke")
def revoke_key(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("keys:write"))],
    agency: str,
    key_id: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    assert seen.principal is not None
    try:
        if not reason.strip():
            raise RequestInvalid("reason: say why the key is revoked")
        revoke_agency_key(
            work.services().keys, agency, key_id, reason=reason, actor=seen.principal.username
        )
    except HubError as exc:
        work.session.rollback()
        return _agency_page(
            request, work, seen, agency, status=exc.http_status, problem=problem_of(exc)
        )
    return RedirectResponse(f"/work/agencies/{agency}?done=revoked", status_code=303)
