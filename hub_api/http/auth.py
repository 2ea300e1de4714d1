"""Who is asking, and may they: the signed-in principal of a request (a session cookie
or an API token) and :class:`Require`, the dependency every operation declares with its
permission, which asks the access policy and raises the denial's reason.

Sessions travel in an HttpOnly, SameSite=Strict cookie; a request that changes state
with the cookie must also carry the session's CSRF token (header ``X-CSRF-Token`` or a
``csrf_token`` form field). API tokens travel as ``Authorization: Bearer lmis_…`` and
need no CSRF token (a browser never sends them by itself).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from governance.accounts.services import Principal
from governance.policy.decision import Subject
from hub_api.http.errors import CsrfMissing, NotSignedIn, PasswordChangeRequired
from hub_api.http.unit import Unit, unit
from lmis_hub.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def cookie_name(settings: Settings) -> str:
    """``__Host-`` pins the cookie to this origin over HTTPS; plain HTTP (the embedded
    stack on the loopback address) cannot use the prefix."""
    return "__Host-lmis_session" if settings.api.secure_cookies else "lmis_session"


def set_session_cookie(response: Response, settings: Settings, session_id: str) -> None:
    response.set_cookie(
        cookie_name(settings),
        session_id,
        max_age=int(settings.api.session_hours * 3600),
        path="/",
        secure=settings.api.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        cookie_name(settings),
        path="/",
        secure=settings.api.secure_cookies,
        httponly=True,
        samesite="strict",
    )


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def _csrf_sent(request: Request) -> str | None:
    sent = request.headers.get(CSRF_HEADER)
    if sent:
        return sent
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def principal_of(
    request: Request, work: Annotated[Unit, Depends(unit, scope="function")]
) -> Principal | None:
    """The signed-in principal, or None for an anonymous request. A token or a session
    that is presented but not valid is refused, not treated as anonymous."""
    accounts = work.accounts()
    token = bearer(request)
    if token is not None:
        found = accounts.token_principal(token)
    else:
        session_id = request.cookies.get(cookie_name(work.settings))
        if session_id is None:
            return None
        unsafe = request.method not in SAFE_METHODS
        csrf = await _csrf_sent(request) if unsafe else None
        if unsafe and not csrf:
            raise CsrfMissing(f"{request.method} with the session cookie needs {CSRF_HEADER}")
        found = accounts.session_principal(session_id, csrf=csrf, require_csrf=unsafe)
    work.act_as(found.username)
    return found


async def signed_in(
    principal: Annotated[Principal | None, Depends(principal_of)],
) -> Principal:
    if principal is None:
        raise NotSignedIn("sign in (POST /api/v1/auth/login) or send an API token")
    return principal


def subject_of(principal: Principal) -> Subject:
    return Subject(role=principal.role, agency=principal.agency, user=principal.username)  # type: ignore[arg-type]


class Require:
    """The dependency an operation declares: ``Depends(Require("agreements:read"))``.

    ``agency_of`` picks the agency the resource belongs to from the request's path
    parameters (for an agency operator's own-agency check); by default the ``agency``
    path parameter, if the route has one."""

    def __init__(
        self, permission: str, *, agency_of: Callable[[Request], str | None] | None = None
    ) -> None:
        self.permission = permission
        self.agency_of = agency_of or (lambda request: request.path_params.get("agency"))

    def __call__(
        self,
        request: Request,
        principal: Annotated[Principal, Depends(signed_in)],
        work: Annotated[Unit, Depends(unit, scope="function")],
    ) -> Principal:
        if (
            principal.via == "session"
            and work.accounts().get(principal.username).must_change_password
        ):
            raise PasswordChangeRequired(
                "change the password given by the LMIS unit first (POST /api/v1/auth/password)"
            )
        route = request.scope.get("route")
        work.authorise(
            subject_of(principal),
            self.permission,
            resource=f"api:{request.method} {getattr(route, 'path', request.url.path)}",
            resource_agency=self.agency_of(request),
        )
        return principal
