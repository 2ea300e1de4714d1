"""The API's one error envelope: ``{"error": {"code", "message"}}`` with a registered
reason code (the same codes the CLI prints), the HTTP status the error class names, and
never a stack trace. Bad input is a 4xx, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmis_hub.errors import HubError

log = logging.getLogger(__name__)


class ApiError(HubError):
    """The request could not be served as asked; read the code and the message."""

    http_status = 400


class RequestInvalid(ApiError):
    """The request's parameters or body do not match the operation; fix the named field."""

    code = "request.invalid"
    http_status = 422


class RouteNotFound(ApiError):
    """No operation at this path; see the OpenAPI document at /api/v1/openapi.json."""

    code = "request.not_found"
    http_status = 404


class MethodNotAllowed(ApiError):
    """The path exists but not with this HTTP method; see the OpenAPI document."""

    code = "request.method_not_allowed"
    http_status = 405


class NotSignedIn(ApiError):
    """The operation needs a signed-in user or an API token; log in or send a token."""

    code = "auth.required"
    http_status = 401


class CsrfMissing(ApiError):
    """A form or call made with the session cookie must carry its CSRF token; send the
    X-CSRF-Token header (or the csrf_token form field) given at login."""

    code = "auth.csrf_missing"
    http_status = 403


class PasswordChangeRequired(ApiError):
    """The password was set by the LMIS unit and must be changed before anything else;
    change it (POST /api/v1/auth/password), then try again."""

    code = "auth.password_change_required"
    http_status = 403


class OidcDisabled(ApiError):
    """Signing in with the identity provider is not set up on this hub; sign in with a
    password, or ask the LMIS unit to set HUB_API__OIDC__ISSUER."""

    code = "auth.oidc_disabled"
    http_status = 404


class OidcState(ApiError):
    """The sign-in coming back from the identity provider does not match one this browser
    started here (missing, altered or expired after 10 minutes); start signing in again."""

    code = "auth.oidc_state"


class OidcDenied(ApiError):
    """The identity provider did not sign you in (it answered with an error, such as a
    cancelled sign-in); start signing in again."""

    code = "auth.oidc_denied"
    http_status = 401


class OidcToken(ApiError):
    """The identity provider's answer or its id token is not valid (refused code, bad
    signature, wrong issuer, audience or nonce, expired); start signing in again, and tell
    the LMIS unit if it keeps happening."""

    code = "auth.oidc_token"
    http_status = 401


class OidcUnavailable(ApiError):
    """The identity provider did not answer, or answered with a server error; try again
    later, and tell the LMIS unit if it lasts."""

    code = "auth.oidc_unavailable"
    http_status = 502


class NotReady(ApiError):
    """The hub cannot serve yet: its database does not answer; start it or fix
    HUB_DATABASE_URL, then ask /ready again."""

    code = "service.not_ready"
    http_status = 503


class InternalError(ApiError):
    """The hub failed on its side; the request was not carried out. Report the time of
    the request to the LMIS unit (the log has the details)."""

    code = "hub.internal"
    http_status = 500


def envelope(error: HubError) -> JSONResponse:
    status = error.http_status if 400 <= error.http_status < 600 else 500
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error.to_dict(), status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if p not in ("body",)) or "request"


#: Paths that are the API's, whatever the client accepts.
API_PREFIXES = ("/api/", "/sdmx/", "/metrics", "/health", "/ready")


def wants_page(request: Request) -> bool:
    """A web page's request (its route is marked), or a browser asking for a path that
    matches no route outside the API."""
    if getattr(request.state, "page", False):
        return True
    if request.scope.get("route") is not None or request.url.path.startswith(API_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "")


PageError = Callable[[Request, HubError], Response]


def install(app: FastAPI, page_error: PageError | None = None) -> None:
    """Route every error through :func:`envelope`, or through ``page_error`` for the
    web pages (the same codes and messages, as a page)."""

    def answer(request: Request, error: HubError) -> Response:
        if page_error is not None and wants_page(request):
            return page_error(request, error)
        return envelope(error)

    @app.exception_handler(HubError)
    async def hub_error(request: Request, exc: HubError) -> Response:
        return answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [f"{_field(tuple(e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()]
        return answer(request, RequestInvalid("; ".join(problems[:10]) or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return answer(request, RouteNotFound(f"no operation at {request.url.path}"))
        if exc.status_code == 405:
            return answer(
                request, MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
            )
        error = ApiError(str(exc.detail))
        error.http_status = exc.status_code  # type: ignore[misc]
        return answer(request, error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return answer(request, InternalError("internal error; the request was not carried out"))
