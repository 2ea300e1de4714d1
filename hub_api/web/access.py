"""Who is looking at a page, and may they: the session cookie read for pages, and
:class:`Page`, the dependency every signed-in page declares with its permission.

Pages use the API's sessions: the same HttpOnly, SameSite=Strict cookie, the same CSRF
token (a hidden ``csrf_token`` field in every form that changes state), the same policy
asked server-side for every page. A page whose viewer is not signed in sends them to the
sign-in page and back; a denied page answers 403 with the policy's reason code.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from governance.accounts.services import Principal
from hub_api.http.auth import SAFE_METHODS, cookie_name, subject_of
from hub_api.http.unit import Unit, unit
from hub_api.web.templating import Viewer
from lmis_hub.errors import HubError

CSRF_FIELD = "csrf_token"
Work = Annotated[Unit, Depends(unit, scope="function")]


class SignInNeeded(Exception):
    """The page needs a signed-in viewer: send them to sign in, then back to ``back``."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back

    @property
    def location(self) -> str:
        return f"/login?next={quote(self.back, safe='/')}"


class PasswordChangeNeeded(SignInNeeded):
    """The LMIS unit set this password: the account page first."""

    @property
    def location(self) -> str:
        return "/account#password"


def mark_page(request: Request) -> None:
    """A router dependency of every page: errors on it are answered as pages."""
    request.state.page = True


def local_path(candidate: str | None, default: str = "/work") -> str:
    """``candidate`` if it is a path on this site (never another origin), else ``default``."""
    if not candidate or not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return default
    return candidate


async def form_csrf(request: Request) -> str | None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return request.headers.get("X-CSRF-Token")


async def _principal(request: Request, work: Unit) -> tuple[Principal, str] | None:
    """The complete session's principal and its id, or None when there is none (an
    expired, ended or pending session shows the page as to the public). A form that
    changes state must carry the session's CSRF token: without it the request is refused,
    not treated as anonymous."""
    session_id = request.cookies.get(cookie_name(work.settings))
    if not session_id:
        return None
    unsafe = request.method not in SAFE_METHODS
    csrf = await form_csrf(request) if unsafe else None
    try:
        found = work.accounts().session_principal(session_id, csrf=csrf, require_csrf=unsafe)
    except HubError:
        if unsafe:
            raise
        return None
    work.act_as(found.username)
    return found, session_id


async def viewer(request: Request, work: Work) -> Viewer:
    """The viewer of a page anyone may see (the public site)."""
    found = await _principal(request, work)
    if found is None:
        return Viewer()
    principal, session_id = found
    accounts = work.accounts()
    seen = Viewer(
        principal,
        csrf_token=accounts.csrf_token(session_id),
        display_name=accounts.get(principal.username).display_name,
    )
    request.state.viewer = seen  # for an error page shown later in the request
    return seen


class Page:
    """The dependency of a signed-in page: ``Depends(Page("audit:read"))``; without a
    permission, any signed-in viewer. ``agency_of`` picks the agency a page is about
    from its path (by default the ``agency`` path parameter)."""

    def __init__(
        self,
        permission: str | None = None,
        *,
        agency_of: Callable[[Request], str | None] | None = None,
        password_page: bool = False,
    ) -> None:
        self.permission = permission
        self.agency_of = agency_of or (lambda request: request.path_params.get("agency"))
        self.password_page = password_page

    async def __call__(self, request: Request, work: Work) -> Viewer:
        seen = await viewer(request, work)
        if seen.principal is None:
            raise SignInNeeded(request.url.path)
        principal = seen.principal
        if not self.password_page and work.accounts().get(principal.username).must_change_password:
            raise PasswordChangeNeeded(request.url.path)
        if self.permission is not None:
            route = request.scope.get("route")
            work.authorise(
                subject_of(principal),
                self.permission,
                resource=f"page:{request.method} {getattr(route, 'path', request.url.path)}",
                resource_agency=self.agency_of(request),
            )
        return seen


def same_token(sent: str | None, expected: str) -> bool:
    return sent is not None and hmac.compare_digest(sent, expected)
