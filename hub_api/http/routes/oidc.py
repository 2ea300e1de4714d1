"""Signing in with the ministry's identity provider (OpenID Connect): ``/login`` sends the
browser to the provider, ``/callback`` brings it back signed in, with the same session
cookie as a password sign-in. Off (``auth.oidc_disabled``) until
``HUB_API__OIDC__ISSUER`` is set."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from hub_api.http.auth import set_session_cookie
from hub_api.http.errors import OidcDenied, OidcDisabled, OidcState, OidcToken, OidcUnavailable
from hub_api.http.oidc import (
    CALLBACK_PATH,
    STATE_COOKIE_PATH,
    STATE_TTL_S,
    RelyingParty,
    state_cookie_name,
)
from hub_api.http.unit import Unit, hub_state, unit
from lmis_hub.errors import HubError
from lmis_hub.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(prefix=STATE_COOKIE_PATH, tags=["sign-in"])


def relying_party(request: Request) -> RelyingParty:
    """The application's relying party, made at its first use (its caches live with it)."""
    state = hub_state(request)
    settings = state.settings.api.oidc
    if not settings.enabled:
        raise OidcDisabled("signing in with the identity provider is not set up on this hub")
    party: RelyingParty | None = getattr(request.app.state, "oidc", None)
    if party is None:
        party = RelyingParty(settings, state_key=state.kek.derive("oidc-state"))
        request.app.state.oidc = party
    return party


Party = Annotated[RelyingParty, Depends(relying_party)]


def callback_url(request: Request, settings: Settings) -> str:
    """The redirect URI registered at the provider: under ``HUB_API__PUBLIC_URL`` when it
    is set (behind a proxy), else the address this request came to."""
    if settings.api.public_url:
        return settings.api.public_url.rstrip("/") + CALLBACK_PATH
    return str(request.url_for("oidc_callback"))


@router.get(
    "/login",
    summary="Sign in with the identity provider",
    response_class=RedirectResponse,
    status_code=302,
    responses={302: {"description": "To the provider's sign-in page."}},
)
def login(request: Request, party: Party) -> RedirectResponse:
    """Sends the browser to the identity provider (authorization code flow with PKCE),
    remembering the sign-in in a short-lived cookie for the way back."""
    state = hub_state(request)
    url, pending = party.begin(callback_url(request, state.settings), now=state.clock().timestamp())
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        state_cookie_name(state.settings),
        party.codec.encode(pending),
        max_age=STATE_TTL_S,
        path=STATE_COOKIE_PATH,
        secure=state.settings.api.secure_cookies,
        httponly=True,
        samesite="lax",  # it must come back with the provider's redirect
    )
    return response


@router.get(
    "/callback",
    name="oidc_callback",
    summary="Where the identity provider sends the browser back",
    response_model=None,
    responses={
        303: {"description": "Signed in: to the hub's front page, with the session cookie."},
        200: {"description": 'With `Accept: application/json`: `{"signed_in", "csrf_token"}`.'},
    },
)
def callback(
    request: Request,
    party: Party,
    work: Annotated[Unit, Depends(unit, scope="function")],
    code: str | None = None,
    state: str | None = None,
    error: str | None = None,
) -> Response:
    """Checks the state, exchanges the code, validates the id token and signs the person
    in with the role their groups give: a session as after a password sign-in (and its
    second factor), answered with a redirect to `/`, or JSON when asked for."""
    settings = work.settings
    now = work.state.clock()
    cookie = state_cookie_name(settings)
    try:
        pending = party.codec.decode(request.cookies.get(cookie), state=state, now=now.timestamp())
    except OidcState as exc:
        log.warning("OpenID Connect sign-in refused: %s", exc.message)
        raise
    try:
        if error is not None:
            raise OidcDenied(f"the identity provider answered {error[:100]!r}")
        if not code:
            raise OidcToken("the identity provider sent no code")
        identity = party.identity(
            code=code,
            login=pending,
            redirect_uri=callback_url(request, settings),
            now=now.timestamp(),
        )
    except (OidcDenied, OidcToken, OidcUnavailable) as exc:
        log.warning("OpenID Connect sign-in refused: %s", exc.message)
        work.accounts().external_refusal(party.issuer, exc.code)
        work.commit()
        raise
    oidc = settings.api.oidc
    try:
        step = work.accounts().external_sign_in(
            identity, role_groups=oidc.role_groups, second_factors=oidc.mfa_claim_values
        )
    except HubError:
        work.commit()  # the refusal's audit entry stays
        raise
    # Committed before answering: the unit's own commit comes after the answer is sent,
    # and the browser's next request must find the session.
    work.commit()
    response: Response
    if "application/json" in request.headers.get("accept", ""):
        response = JSONResponse({"signed_in": True, "csrf_token": step.csrf_token})
    else:
        response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, settings, step.session_id)
    response.delete_cookie(
        cookie,
        path=STATE_COOKIE_PATH,
        secure=settings.api.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response
