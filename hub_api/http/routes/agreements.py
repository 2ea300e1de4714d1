"""Agencies, their keys, agreements (draft, sign, activate, amend, suspend, diff) and
deliveries. An agency operator sees their own agency and the agreements it is party to."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from governance.accounts.services import Principal
from governance.agreements.diff import diff as agreement_diff
from governance.agreements.document import parse_document
from governance.agreements.lifecycle import STATES
from governance.agreements.models import Agreement
from governance.agreements.services import document_of
from governance.agreements.views import detail, summary
from governance.errors import KeyUnknown
from governance.keys.models import AgencyKey
from governance.keys.services import KeyService
from hub_api.http.auth import Require, subject_of
from hub_api.http.errors import RequestInvalid
from hub_api.http.unit import Unit, unit

router = APIRouter(prefix="/api/v1", tags=["agreements"])
Work = Annotated[Unit, Depends(unit, scope="function")]


class NewAgency(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str | None = Field(None, max_length=200)


class Transition(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class Signature(BaseModel):
    agency: str = Field(min_length=1, max_length=32)
    key_id: str = Field(min_length=1, max_length=100)
    signature_hex: str = Field(
        min_length=128,
        max_length=128,
        pattern="^[0-9a-fA-F]+$",
        description="Ed25519 signature of the version's canonical JSON (GET …/canonical), hex",
    )


def visible(row: Agreement, principal: Principal) -> bool:
    """May ``principal`` see ``row`` in a list (an agency operator: agreements their
    agency is party to)."""
    if principal.role != "agency_operator":
        return True
    return principal.agency in document_of(row).parties


def load_agreement(
    work: Unit, principal: Principal, permission: str, agreement_id: str, version: int | None
) -> Agreement:
    """The version (default the latest), once the policy allows ``permission`` on it."""
    row = work.services().agreements.get(agreement_id, version)
    parties = document_of(row).parties
    work.authorise(
        subject_of(principal),
        permission,
        resource=f"agreement:{row.id}:v{row.version}",
        resource_agency=principal.agency if principal.agency in parties else row.provider,
    )
    return row


# Agencies and keys -----------------------------------------------------------------


@router.get("/agencies", summary="Registered agencies")
def list_agencies(
    principal: Annotated[Principal, Depends(Require("agencies:read"))], work: Work
) -> list[dict[str, Any]]:
    return [
        {"code": a.code, "name": a.name, "created_at": a.created_at.isoformat()}
        for a in work.services().agencies.list()
        if principal.role != "agency_operator" or a.code == principal.agency
    ]


@router.post("/agencies", status_code=201, summary="Register an agency")
def add_agency(
    body: NewAgency, admin: Annotated[Principal, Depends(Require("agencies:write"))], work: Work
) -> dict[str, Any]:
    agency = work.services().agencies.add(body.code, body.name, actor=admin.username)
    return {"code": agency.code, "name": agency.name, "created_at": agency.created_at.isoformat()}


@router.get("/agencies/{agency}/keys", summary="An agency's public signing keys")
def agency_keys(
    agency: str, _: Annotated[Principal, Depends(Require("keys:read"))], work: Work
) -> list[dict[str, Any]]:
    gov = work.services()
    gov.agencies.get(agency)
    now = gov.clock()
    return [key_view(gov.keys, k, now) for k in gov.keys.list(agency)]


class NewKey(BaseModel):
    public_key_pem: str = Field(min_length=1, max_length=4000)
    not_before: datetime | None = None
    not_after: datetime | None = None


def key_view(gov_keys: KeyService, k: AgencyKey, now: datetime) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "agency": k.agency,
        "state": gov_keys.status(k.key_id).state_at(now),
        "not_before": k.not_before.isoformat(),
        "not_after": k.not_after.isoformat(),
        "revoked_reason": k.revoked_reason,
        "public_key_pem": k.public_key_pem,
    }


KeyAdmin = Annotated[Principal, Depends(Require("keys:write"))]


@router.post("/agencies/{agency}/keys", status_code=201, summary="Register an agency's public key")
def register_key(agency: str, body: NewKey, admin: KeyAdmin, work: Work) -> dict[str, Any]:
    gov = work.services()
    row = gov.keys.register(
        agency,
        body.public_key_pem,
        actor=admin.username,
        not_before=body.not_before,
        not_after=body.not_after,
    )
    return key_view(gov.keys, row, gov.clock())


@router.post("/agencies/{agency}/keys/{key_id}/revoke", summary="Revoke an agency's key")
def revoke_key(
    agency: str, key_id: str, body: Transition, admin: KeyAdmin, work: Work
) -> dict[str, Any]:
    gov = work.services()
    row = revoke_agency_key(gov.keys, agency, key_id, reason=body.reason, actor=admin.username)
    return key_view(gov.keys, row, gov.clock())


def revoke_agency_key(
    keys: KeyService, agency: str, key_id: str, *, reason: str, actor: str
) -> AgencyKey:
    """Revoke ``agency``'s key ``key_id`` (another agency's key is unknown here)."""
    if keys.status(key_id).agency != agency:
        raise KeyUnknown(f"agency {agency!r} has no key {key_id!r}")
    return keys.revoke(key_id, reason=reason, actor=actor)


# Agreements -------------------------------------------------------------------------

Reader = Annotated[Principal, Depends(Require("agreements:read", agency_of=lambda r: None))]
Writer = Annotated[Principal, Depends(Require("agreements:write", agency_of=lambda r: None))]


@router.get("/agreements", summary="Agreement versions")
def list_agreements(
    principal: Reader,
    work: Work,
    state: Annotated[str | None, Query(description=f"one of {', '.join(STATES)}")] = None,
    provider: str | None = None,
) -> list[dict[str, Any]]:
    if state is not None and state not in STATES:
        raise RequestInvalid(f"state: {state!r} is not one of {', '.join(STATES)}")
    rows = work.services().agreements.find(state=state, provider=provider)
    return [summary(r) for r in rows if visible(r, principal)]


@router.get("/agreements/expiring", summary="Agreements in force that end within `days`")
def expiring(
    principal: Reader, work: Work, days: Annotated[int, Query(ge=0, le=3660)] = 30
) -> list[dict[str, Any]]:
    rows = work.services().agreements.expiring(days)
    return [summary(r) for r in rows if visible(r, principal)]


@router.get("/agreements/late", summary="Deliveries due under an agreement and not received")
def late(principal: Reader, work: Work) -> list[dict[str, Any]]:
    return [
        x.as_dict()
        for x in work.services().agreements.late()
        if principal.role != "agency_operator" or x.provider == principal.agency
    ]


@router.post(
    "/agreements", status_code=201, summary="Store a draft (or, with amend, the next version)"
)
def create_agreement(
    document: dict[str, Any], admin: Writer, work: Work, amend: bool = False
) -> dict[str, Any]:
    doc = parse_document(document, where="request body")
    svc = work.services().agreements
    row = (svc.amend if amend else svc.create)(doc, actor=admin.username)
    return summary(row)


@router.get(
    "/agreements/{agreement_id}", summary="An agreement version: terms, signatures, history"
)
def show_agreement(
    agreement_id: str, principal: Reader, work: Work, version: int | None = None
) -> dict[str, Any]:
    row = load_agreement(work, principal, "agreements:read", agreement_id, version)
    return detail(work.services().agreements, row)


@router.get("/agreements/{agreement_id}/canonical", summary="The canonical bytes each party signs")
def canonical(
    agreement_id: str, principal: Reader, work: Work, version: int | None = None
) -> dict[str, Any]:
    row = load_agreement(work, principal, "agreements:read", agreement_id, version)
    return {"id": row.id, "version": row.version, "digest": row.digest, "canonical": row.document}


@router.get(
    "/agreements/{agreement_id}/diff", summary="Every term that differs between two versions"
)
def diff(
    agreement_id: str,
    principal: Reader,
    work: Work,
    old: Annotated[int, Query(ge=1, alias="from")],
    new: Annotated[int, Query(ge=1, alias="to")],
) -> dict[str, Any]:
    before = document_of(load_agreement(work, principal, "agreements:read", agreement_id, old))
    after = document_of(load_agreement(work, principal, "agreements:read", agreement_id, new))
    changes = agreement_diff(before, after)
    return {"id": agreement_id, "from": old, "to": new, "changes": [c.as_dict() for c in changes]}


@router.post("/agreements/{agreement_id}/signatures", summary="Upload a party's signature")
def sign(
    agreement_id: str,
    body: Signature,
    principal: Annotated[Principal, Depends(Require("agreements:sign", agency_of=lambda r: None))],
    work: Work,
    version: int | None = None,
) -> dict[str, Any]:
    row = sign_agreement(
        work,
        principal,
        agreement_id,
        version,
        agency=body.agency,
        key_id=body.key_id,
        signature=bytes.fromhex(body.signature_hex),
    )
    return summary(row) | {"signed_by": body.agency, "key_id": body.key_id}


def sign_agreement(
    work: Unit,
    principal: Principal,
    agreement_id: str,
    version: int | None,
    *,
    agency: str,
    key_id: str,
    signature: bytes,
) -> Agreement:
    """Record ``agency``'s signature of the version, once the policy lets ``principal``
    sign for that agency."""
    svc = work.services().agreements
    row = svc.get(agreement_id, version)
    work.authorise(
        subject_of(principal),
        "agreements:sign",
        resource=f"agreement:{row.id}:v{row.version}",
        resource_agency=agency,
    )
    svc.sign(
        row.id,
        row.version,
        agency=agency,
        key_id=key_id,
        signature=signature,
        actor=principal.username,
    )
    return row


#: The lifecycle moves the LMIS unit makes, by the name of the service's method.
TRANSITIONS = ("activate", "suspend", "terminate")


def transition(
    work: Unit, admin: Principal, method: str, agreement_id: str, version: int | None, reason: str
) -> dict[str, Any]:
    """Move the version (default the latest) by ``method``, one of :data:`TRANSITIONS`."""
    if method not in TRANSITIONS:
        raise ValueError(f"not a transition: {method}")
    svc = work.services().agreements
    row = svc.get(agreement_id, version)
    getattr(svc, method)(row.id, row.version, actor=admin.username, reason=reason)
    return summary(row)


@router.post(
    "/agreements/{agreement_id}/activate", summary="Activate a signed (or suspended) version"
)
def activate(
    agreement_id: str, body: Transition, admin: Writer, work: Work, version: int | None = None
) -> dict[str, Any]:
    return transition(work, admin, "activate", agreement_id, version, body.reason)


@router.post("/agreements/{agreement_id}/suspend", summary="Suspend an active version")
def suspend(
    agreement_id: str, body: Transition, admin: Writer, work: Work, version: int | None = None
) -> dict[str, Any]:
    return transition(work, admin, "suspend", agreement_id, version, body.reason)


@router.post("/agreements/{agreement_id}/terminate", summary="Terminate a version for good")
def terminate(
    agreement_id: str, body: Transition, admin: Writer, work: Work, version: int | None = None
) -> dict[str, Any]:
    return transition(work, admin, "terminate", agreement_id, version, body.reason)


@router.get(
    "/agreements/{agreement_id}/deliveries", summary="Deliveries recorded under an agreement"
)
def deliveries(
    agreement_id: str,
    principal: Annotated[Principal, Depends(Require("deliveries:read", agency_of=lambda r: None))],
    work: Work,
    since: date | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    row = load_agreement(work, principal, "deliveries:read", agreement_id, None)
    return [
        {
            "agreement_id": d.agreement_id,
            "version": d.version,
            "dataset": d.dataset,
            "at": d.at.isoformat(),
            "batch_id": d.batch_id,
        }
        for d in work.services().agreements.deliveries(row.id, since=since, limit=limit)
    ]
