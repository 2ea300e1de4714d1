"""Signing in and out: password, then the second factor (TOTP or a recovery code),
TOTP enrolment, the signed-in user's own account."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from governance.accounts.services import Principal
from hub_api.http.auth import (
    SAFE_METHODS,
    clear_session_cookie,
    cookie_name,
    set_session_cookie,
    signed_in,
)
from hub_api.http.errors import CsrfMissing, NotSignedIn
from hub_api.http.unit import Unit, unit
from lmis_hub.errors import HubError

T = TypeVar("T")

router = APIRouter(prefix="/api/v1/auth", tags=["sign-in"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


class Code(BaseModel):
    code: str = Field(min_length=1, max_length=64)


class PasswordChange(BaseModel):
    old: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=1, max_length=1024)


def _pending_id(request: Request, work: Unit) -> str:
    """The session cookie of a sign-in that still needs its second factor; the step's
    CSRF token must come with it (it was given with the password step)."""
    session_id = request.cookies.get(cookie_name(work.settings))
    if session_id is None:
        raise NotSignedIn("sign in with the password first (POST /api/v1/auth/login)")
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token")
        if not sent or not hmac.compare_digest(sent, work.accounts().csrf_token(session_id)):
            raise CsrfMissing("the second-factor step needs the X-CSRF-Token given at login")
    return session_id


def _committing(work: Unit, step: Callable[[], T]) -> T:
    """Run a sign-in step; what it counted (failures, lockout) stays even when it refuses."""
    try:
        return step()
    except HubError:
        work.commit()
        raise


@router.post("/login", summary="Password step of signing in")
def login(
    body: Login, response: Response, work: Annotated[Unit, Depends(unit, scope="function")]
) -> dict[str, Any]:
    """Checks the password. When the role needs a second factor the session is pending
    until `POST /auth/totp` (or `/auth/recovery`, or enrolment for a first sign-in)."""
    step = _committing(work, lambda: work.accounts().login(body.username, body.password))
    set_session_cookie(response, work.settings, step.session_id)
    return {
        "mfa_required": step.mfa_required,
        "enrol_required": step.enrol_required,
        "csrf_token": step.csrf_token,
    }


@router.post("/totp", summary="Second factor: a TOTP code")
def totp(
    body: Code, request: Request, work: Annotated[Unit, Depends(unit, scope="function")]
) -> dict[str, Any]:
    session_id = _pending_id(request, work)
    _committing(work, lambda: work.accounts().verify_totp(session_id, body.code))
    return {"signed_in": True}


@router.post("/recovery", summary="Second factor: a one-time recovery code")
def recovery(
    body: Code, request: Request, work: Annotated[Unit, Depends(unit, scope="function")]
) -> dict[str, Any]:
    session_id = _pending_id(request, work)
    _committing(work, lambda: work.accounts().use_recovery_code(session_id, body.code))
    return {"signed_in": True}


@router.post("/totp/enrol", summary="Start TOTP enrolment (secret shown once)")
def enrol(
    request: Request, work: Annotated[Unit, Depends(unit, scope="function")]
) -> dict[str, Any]:
    session_id = _pending_id(request, work)
    enrolment = work.accounts().begin_enrolment(session_id)
    return {"secret": enrolment.secret, "uri": enrolment.uri}


@router.post("/totp/confirm", summary="Confirm TOTP enrolment; recovery codes shown once")
def confirm(
    body: Code, request: Request, work: Annotated[Unit, Depends(unit, scope="function")]
) -> dict[str, Any]:
    session_id = _pending_id(request, work)
    codes = _committing(work, lambda: work.accounts().confirm_enrolment(session_id, body.code))
    return {"signed_in": True, "recovery_codes": codes}


@router.post("/logout", summary="End the session")
def logout(
    request: Request, response: Response, work: Annotated[Unit, Depends(unit, scope="function")]
) -> dict[str, Any]:
    session_id = request.cookies.get(cookie_name(work.settings))
    if session_id is not None:
        _pending_id(request, work)  # the CSRF token: a third-party page cannot sign you out
        work.accounts().logout(session_id)
    clear_session_cookie(response, work.settings)
    return {"signed_in": False}


@router.get("/me", summary="The signed-in user")
def me(
    principal: Annotated[Principal, Depends(signed_in)],
    work: Annotated[Unit, Depends(unit, scope="function")],
) -> dict[str, Any]:
    account = work.accounts().get(principal.username)
    return {
        "username": account.username,
        "display_name": account.display_name,
        "role": principal.role,
        "agency": principal.agency,
        "via": principal.via,
        "totp_enrolled": account.totp_confirmed_at is not None,
        "must_change_password": account.must_change_password,
    }


@router.post("/password", summary="Change one's own password")
def change_password(
    body: PasswordChange,
    principal: Annotated[Principal, Depends(signed_in)],
    work: Annotated[Unit, Depends(unit, scope="function")],
) -> dict[str, Any]:
    _committing(
        work,
        lambda: work.accounts().change_password(principal.username, old=body.old, new=body.new),
    )
    return {"changed": True}
