"""Data-sharing agreements: the list, one version whole (terms, parties, signatures,
history, deliveries), the differences between two versions, the late deliveries and the
agreements about to end; for the LMIS unit a new draft or amendment from its YAML, and
the lifecycle moves; for every party, uploading its signature. An agency operator sees
the agreements their agency is party to and signs for their agency only."""

from __future__ import annotations

import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from governance.accounts.services import Principal
from governance.agreements.diff import diff as agreement_diff
from governance.agreements.document import parse_yaml
from governance.agreements.lifecycle import STATES, allowed
from governance.agreements.services import document_of
from governance.agreements.views import detail
from hub_api.http.errors import RequestInvalid
from hub_api.http.routes.agreements import (
    load_agreement,
    sign_agreement,
    transition,
    visible,
)
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.pages.agencies import problem_of, text_of
from hub_api.web.templating import Viewer, render
from lmis_hub.errors import HubError

router = APIRouter(
    prefix="/work/agreements", dependencies=[Depends(mark_page)], include_in_schema=False
)
#: The agreement's id and version come from the path and the form, not the agency.
NO_AGENCY = {"agency_of": lambda request: None}
MAX_YAML_BYTES = 200_000
SIGNATURE_BYTES = 64
Version = Annotated[int | None, Query(ge=1)]
Reason = Annotated[str, Form(max_length=2000)]
DONE = {
    "created": "The draft is stored. Each party now signs its canonical JSON.",
    "signed": "The signature is recorded.",
    "activate": "The version is active.",
    "suspend": "The version is suspended: deliveries under it are refused until it is "
    "activated again.",
    "terminate": "The version is terminated.",
}
#: The lifecycle moves of the LMIS unit: the button's label and the state it leads to.
MOVES = {
    "activate": ("Activate", "active"),
    "suspend": ("Suspend", "suspended"),
    "terminate": ("Terminate", "terminated"),
}


def _principal(seen: Viewer) -> Principal:
    assert seen.principal is not None
    return seen.principal


@router.get("")
def agreements(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:read", **NO_AGENCY))],
    state: Annotated[str | None, Query(max_length=20)] = None,
    provider: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    principal = _principal(seen)
    if state and state not in STATES:
        raise RequestInvalid(f"state: {state!r} is not one of {', '.join(STATES)}")
    gov = work.services()
    rows = gov.agreements.find(state=state or None, provider=provider or None)
    shown = [r for r in rows if visible(r, principal)]
    providers = sorted({r.provider for r in gov.agreements.find() if visible(r, principal)})
    return render(
        request,
        "work/agreements.html",
        seen,
        title="Agreements",
        rows=shown,
        states=STATES,
        providers=providers,
        filters={"state": state or "", "provider": provider or ""},
    )


@router.get("/late")
def late(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:read", **NO_AGENCY))],
) -> Response:
    principal = _principal(seen)
    rows = [
        x
        for x in work.services().agreements.late()
        if principal.role != "agency_operator" or x.provider == principal.agency
    ]
    return render(request, "work/agreements_late.html", seen, title="Late deliveries", rows=rows)


@router.get("/expiring")
def expiring(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:read", **NO_AGENCY))],
    days: Annotated[int, Query(ge=0, le=3660)] = 30,
) -> Response:
    principal = _principal(seen)
    rows = [r for r in work.services().agreements.expiring(days) if visible(r, principal)]
    return render(
        request,
        "work/agreements_expiring.html",
        seen,
        title="Agreements ending soon",
        rows=rows,
        days=days,
    )


# A new draft or amendment --------------------------------------------------------


def _draft_page(
    request: Request, seen: Viewer, *, status: int = 200, **context: object
) -> Response:
    return render(
        request, "work/agreement_new.html", seen, title="New agreement draft", status_code=status,
        **context,
    )  # fmt: skip


@router.get("/new")
def new_draft(
    request: Request, seen: Annotated[Viewer, Depends(Page("agreements:write", **NO_AGENCY))]
) -> Response:
    return _draft_page(request, seen)


@router.post("")
async def create_draft(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:write", **NO_AGENCY))],
    document: Annotated[str, Form(max_length=MAX_YAML_BYTES)] = "",
    document_file: Annotated[UploadFile | None, File()] = None,
    amend: Annotated[bool, Form()] = False,
) -> Response:
    principal = _principal(seen)
    try:
        text = await text_of(document_file, document, field="document", limit=MAX_YAML_BYTES)
        if not text.strip():
            raise RequestInvalid("document: choose the agreement's YAML file or paste it")
        doc = parse_yaml(text, where="the agreement's YAML")
        svc = work.services().agreements
        row = (svc.amend if amend else svc.create)(doc, actor=principal.username)
        where = f"/work/agreements/{row.id}?version={row.version}&done=created"
    except HubError as exc:
        work.session.rollback()
        form = {"document": document, "amend": amend}
        return _draft_page(
            request, seen, status=exc.http_status, problem=problem_of(exc), form=form
        )
    return RedirectResponse(where, status_code=303)


# One agreement ----------------------------------------------------------------------


def _signing_keys(work: Work, seen: Viewer, parties: tuple[str, ...]) -> list[dict[str, Any]]:
    """The keys the viewer may sign with: of every party (the LMIS unit), or of their own
    agency (an operator); valid ones only."""
    principal = _principal(seen)
    gov = work.services()
    now = gov.clock()
    out = []
    for agency in parties:
        if principal.role == "agency_operator" and agency != principal.agency:
            continue
        for key in gov.keys.list(agency):
            if gov.keys.status(key.key_id).state_at(now) == "valid":
                out.append({"agency": agency, "key_id": key.key_id})
    return out


def _agreement_page(
    request: Request,
    work: Work,
    seen: Viewer,
    agreement_id: str,
    version: int | None,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    principal = _principal(seen)
    row = load_agreement(work, principal, "agreements:read", agreement_id, version)
    svc = work.services().agreements
    doc = document_of(row)
    versions = [r for r in svc.find() if r.id == row.id]
    deliveries = svc.deliveries(row.id, limit=20) if seen.may("deliveries:read") else None
    # A draft shows Activate too: the refusal names the signatures still missing.
    moves = {
        move: label
        for move, (label, to) in MOVES.items()
        if allowed(row.state, to) or (move == "activate" and row.state == "draft")
    }
    return render(
        request,
        "work/agreement.html",
        seen,
        title=f"{row.title} (v{row.version})",
        status_code=status,
        row=row,
        doc=doc,
        shown=detail(svc, row),
        versions=versions,
        compare=(row.version - 1, row.version) if row.version > 1 else (1, versions[-1].version),
        deliveries=deliveries,
        moves=moves,
        signing_keys=_signing_keys(work, seen, doc.parties) if row.state == "draft" else [],
        **context,
    )


@router.get("/{agreement_id}")
def agreement(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:read", **NO_AGENCY))],
    agreement_id: str,
    version: Version = None,
    done: str | None = None,
) -> Response:
    return _agreement_page(request, work, seen, agreement_id, version, notice=DONE.get(done or ""))


@router.get("/{agreement_id}/canonical")
def canonical(
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:read", **NO_AGENCY))],
    agreement_id: str,
    version: Version = None,
) -> Response:
    """The canonical JSON each party signs, as a file."""
    row = load_agreement(work, _principal(seen), "agreements:read", agreement_id, version)
    name = f"{row.id}-v{row.version}.json"
    return Response(
        row.document.encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/{agreement_id}/diff")
def differences(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:read", **NO_AGENCY))],
    agreement_id: str,
    old: Annotated[int | None, Query(ge=1, alias="from")] = None,
    new: Annotated[int | None, Query(ge=1, alias="to")] = None,
) -> Response:
    """Versions ``from`` and ``to``; by default the latest and the one before it."""
    principal = _principal(seen)
    after = load_agreement(work, principal, "agreements:read", agreement_id, new)
    old = old or max(1, after.version - 1)
    before = load_agreement(work, principal, "agreements:read", agreement_id, old)
    changes = agreement_diff(document_of(before), document_of(after))
    return render(
        request,
        "work/agreement_diff.html",
        seen,
        title=f"{agreement_id}: v{before.version} against v{after.version}",
        agreement_id=agreement_id,
        before=before,
        after=after,
        changes=changes,
    )


def _signature_bytes(data: bytes) -> bytes:
    """The 64 bytes of an Ed25519 signature, given raw or as hexadecimal text."""
    if len(data) == SIGNATURE_BYTES:
        return data
    text = data.decode("ascii", errors="replace").strip()
    try:
        raw = binascii.unhexlify("".join(text.split()))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != SIGNATURE_BYTES:
        raise RequestInvalid(
            "signature: expected the Ed25519 signature as 64 bytes, or as 128 hexadecimal "
            f"characters (got {len(data)} bytes)"
        )
    return raw


@router.post("/{agreement_id}/signatures")
async def upload_signature(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:sign", **NO_AGENCY))],
    agreement_id: str,
    version: Annotated[int, Form(ge=1)],
    key_id: Annotated[str, Form(min_length=1, max_length=100)],
    signature_hex: Annotated[str, Form(max_length=400)] = "",
    signature_file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    principal = _principal(seen)
    try:
        if signature_file is not None and signature_file.filename:
            data = await signature_file.read(1024)
        else:
            data = signature_hex.encode("ascii", errors="replace")
        signature = _signature_bytes(data)
        agency = work.services().keys.status(key_id).agency
        sign_agreement(
            work, principal, agreement_id, version, agency=agency, key_id=key_id,
            signature=signature,
        )  # fmt: skip
    except HubError as exc:
        work.session.rollback()
        return _agreement_page(
            request, work, seen, agreement_id, version, status=exc.http_status,
            problem=problem_of(exc),
        )  # fmt: skip
    where = f"/work/agreements/{agreement_id}?version={version}&done=signed"
    return RedirectResponse(where, status_code=303)


@router.post("/{agreement_id}/{move}")
def move(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("agreements:write", **NO_AGENCY))],
    agreement_id: str,
    move: str,
    version: Annotated[int, Form(ge=1)],
    reason: Reason = "",
) -> Response:
    principal = _principal(seen)
    if move not in MOVES:
        raise RequestInvalid(f"{move!r} is not one of {', '.join(MOVES)}")
    try:
        if not reason.strip():
            raise RequestInvalid(f"reason: say why the version is to {move}")
        transition(work, principal, move, agreement_id, version, reason)
    except HubError as exc:
        work.session.rollback()
        return _agreement_page(
            request, work, seen, agreement_id, version, status=exc.http_status,
            problem=problem_of(exc),
        )  # fmt: skip
    where = f"/work/agreements/{agreement_id}?version={version}&done={move}"
    return RedirectResponse(where, status_code=303)
