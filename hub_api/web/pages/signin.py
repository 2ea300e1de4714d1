"""Signing in on the web: password, then the authenticator code (or a recovery code),
enrolment of an authenticator at the first sign-in, signing out.

The sign-in form carries a token that must match a cookie set with it (there is no
session yet to hold a CSRF token), so another site cannot sign a browser in to an
account of its choosing. Every later step carries the session's CSRF token.
"""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from governance.accounts.sessions import LoginStep
from hub_api.http.auth import clear_session_cookie, cookie_name, set_session_cookie
from hub_api.http.errors import CsrfMissing
from hub_api.http.unit import Unit
from hub_api.web.access import Work, local_path, mark_page, same_token, viewer
from hub_api.web.templating import Viewer, render
from lmis_hub.errors import HubError

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)

FORM_COOKIE = "lmis_signin"
Field = Annotated[str, Form(max_length=1024)]


def _problem(error: HubError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


def _qr(uri: str) -> str:
    """The provisioning URI as an SVG QR code in a data: URL (allowed by the CSP)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _next_step(step: LoginStep, back: str) -> str:
    if step.enrol_required:
        return "/login/enrol"
    if step.mfa_required:
        return f"/login/code?next={back}"
    if step.must_change_password:
        return "/account#password"
    return back


def _form_page(
    request: Request, problem: dict[str, str] | None, back: str, status: int
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin/login.html",
        Viewer(),
        title="Sign in",
        status_code=status,
        form_token=token,
        back=back,
        problem=problem,
        oidc=bool(request.app.state.hub.settings.api.oidc.issuer),
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.app.state.hub.settings.api.secure_cookies,
    )
    return response


@router.get("/login")
async def login_page(request: Request, work: Work, next: str | None = None) -> Response:
    seen = await viewer(request, work)
    back = local_path(next)
    if seen.principal is not None:
        return RedirectResponse(back, status_code=303)
    return _form_page(request, None, back, 200)


@router.post("/login")
def login(
    request: Request,
    work: Work,
    username: Annotated[str, Form(max_length=200)],
    password: Field,
    form_token: Field,
    next: Annotated[str, Form(max_length=1024)] = "/work",
) -> Response:
    back = local_path(next)
    if not same_token(request.cookies.get(FORM_COOKIE), form_token):
        problem = _problem(
            CsrfMissing("the sign-in form expired or came from elsewhere; sign in again")
        )
        return _form_page(request, problem, back, 403)
    try:
        step = work.accounts().login(username, password)
    except HubError as exc:
        work.commit()  # the failure counts towards the lockout
        return _form_page(request, _problem(exc), back, exc.http_status)
    response = RedirectResponse(_next_step(step, back), status_code=303)
    set_session_cookie(response, work.settings, step.session_id)
    response.delete_cookie(FORM_COOKIE, path="/login")
    return response


def _pending(request: Request, work: Unit) -> tuple[str, str] | None:
    """The pending session's id and its CSRF token, or None (sign in first)."""
    session_id = request.cookies.get(cookie_name(work.settings))
    if not session_id:
        return None
    try:
        work.accounts().pending_session(session_id)
        return session_id, work.accounts().csrf_token(session_id)
    except HubError:
        return None


@router.get("/login/code")
def code_page(request: Request, work: Work, next: str | None = None) -> Response:
    pending = _pending(request, work)
    if pending is None:
        return RedirectResponse("/login", status_code=303)
    return render(
        request,
        "signin/code.html",
        Viewer(),
        title="Enter your authenticator code",
        csrf=pending[1],
        back=local_path(next),
    )


@router.post("/login/code")
def code(
    request: Request,
    work: Work,
    code: Annotated[str, Form(max_length=64)],
    csrf_token: Field,
    kind: Annotated[str, Form(pattern="^(totp|recovery)$")] = "totp",
    next: Annotated[str, Form(max_length=1024)] = "/work",
) -> Response:
    back = local_path(next)
    pending = _pending(request, work)
    if pending is None:
        return RedirectResponse("/login", status_code=303)
    session_id, csrf = pending
    if not same_token(csrf_token, csrf):
        return RedirectResponse("/login", status_code=303)
    accounts = work.accounts()
    try:
        if kind == "recovery":
            accounts.use_recovery_code(session_id, code)
        else:
            accounts.verify_totp(session_id, code)
    except HubError as exc:
        work.commit()
        return render(
            request,
            "signin/code.html",
            Viewer(),
            title="Enter your authenticator code",
            status_code=exc.http_status,
            csrf=csrf,
            back=back,
            problem=_problem(exc),
            kind=kind,
        )
    account = accounts.get(accounts.session_principal(session_id).username)
    target = "/account#password" if account.must_change_password else back
    return RedirectResponse(target, status_code=303)


def _live(request: Request, work: Unit) -> tuple[str, str] | None:
    """A live session's id (pending or complete) and its CSRF token."""
    session_id = request.cookies.get(cookie_name(work.settings))
    if not session_id:
        return None
    try:
        return session_id, work.accounts().csrf_token(session_id)
    except HubError:
        return None


def _enrol_page(request: Request, csrf: str, **context: Any) -> Response:
    return render(
        request,
        "signin/enrol.html",
        Viewer(),
        title="Set up your authenticator",
        csrf=csrf,
        **context,
    )


@router.get("/login/enrol")
def enrol_page(request: Request, work: Work) -> Response:
    live = _live(request, work)
    if live is None:
        return RedirectResponse("/login?next=/login/enrol", status_code=303)
    return render(
        request, "signin/enrol.html", Viewer(), title="Set up your authenticator", csrf=live[1]
    )


@router.post("/login/enrol")
def enrol(request: Request, work: Work, csrf_token: Field) -> Response:
    live = _live(request, work)
    if live is None or not same_token(csrf_token, live[1]):
        return RedirectResponse("/login", status_code=303)
    try:
        enrolment = work.accounts().begin_enrolment(live[0])
    except HubError as exc:
        return _enrol_page(
            request, status_code=exc.http_status, csrf=live[1], problem=_problem(exc)
        )
    return _enrol_page(request, csrf=live[1], secret=enrolment.secret, qr=_qr(enrolment.uri))


@router.post("/login/enrol/confirm")
def confirm(
    request: Request,
    work: Work,
    code: Annotated[str, Form(max_length=64)],
    csrf_token: Field,
) -> Response:
    live = _live(request, work)
    if live is None or not same_token(csrf_token, live[1]):
        return RedirectResponse("/login", status_code=303)
    try:
        codes = work.accounts().confirm_enrolment(live[0], code)
    except HubError as exc:
        work.commit()
        return _enrol_page(
            request,
            status_code=exc.http_status,
            csrf=live[1],
            problem=_problem(exc),
            confirming=True,
        )
    principal = work.accounts().session_principal(live[0])
    account = work.accounts().get(principal.username)
    return render(
        request,
        "signin/recovery_codes.html",
        Viewer(),
        title="Your recovery codes",
        codes=codes,
        then="/account#password" if account.must_change_password else "/work",
    )


@router.post("/logout")
def logout(request: Request, work: Work, csrf_token: Field) -> Response:
    live = _live(request, work)
    response = RedirectResponse("/", status_code=303)
    if live is not None and same_token(csrf_token, live[1]):
        work.accounts().logout(live[0])
        clear_session_cookie(response, work.settings)
    elif live is None:
        clear_session_cookie(response, work.settings)
    return response
