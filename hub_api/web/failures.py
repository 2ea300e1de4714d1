"""Errors on web pages: the same reason codes and messages as the API's envelope, shown
as a page with the HTTP status of the error; a page that needs sign-in redirects."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from hub_api.web.access import SignInNeeded
from hub_api.web.templating import Viewer, render
from lmis_hub.errors import HubError

TITLES = {
    400: "The request cannot be carried out",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Not possible now",
    422: "Please check what you entered",
    500: "Something went wrong on the hub's side",
    502: "A service the hub relies on did not answer",
    503: "The hub is not ready",
}


def page_error(request: Request, error: HubError) -> Response:
    status = error.http_status if 400 <= error.http_status < 600 else 500
    seen = getattr(request.state, "viewer", None) or Viewer()
    return render(
        request,
        "error.html",
        seen,
        title=TITLES.get(status, TITLES[400]),
        status_code=status,
        code=error.code,
        message=error.message,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse(exc.location, status_code=303)
