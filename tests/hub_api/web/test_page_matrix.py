"""Every web page against every role: shown exactly where the access policy's table
says, refused by the server (403, with the reason's code) otherwise, and a sign-in
redirect for nobody. Pages are found by walking the application's routes, so a new page
is checked the day it is added; one that asks no permission must be named here."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pyotp
import pytest
from fastapi.routing import APIRoute

from governance.policy.permissions import ACCOUNT_ROLES, permit
from hub_api.http.app import create_app
from hub_api.web.access import Page, mark_page
from tests.hub_api.http.conftest import AGENCY, PASSWORD, ServedHub
from tests.hub_api.http.server import client
from tests.hub_api.http.test_policy_matrix import api_routes

#: Pages anyone may see, and the steps of signing in.
PUBLIC = re.compile(r"^(/|/indicators.*|/releases.*|/calendar|/login.*|/logout)$")


def _page_of(dependant: Any) -> list[Page]:
    found = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, Page):
            found.append(dep.call)
        found += _page_of(dep)
    return found


def pages(settings: Any) -> list[tuple[str, str, Page | None]]:
    out = []
    for route in api_routes(create_app(settings).routes):
        if not isinstance(route, APIRoute) or route.include_in_schema:
            continue
        assert any(d.call is mark_page for d in route.dependant.dependencies), route.path
        guards = _page_of(route.dependant)
        assert len(guards) <= 1, route.path
        guard = next(iter(guards), None)
        if guard is None:
            assert PUBLIC.match(route.path), f"{route.path} has no Page guard and is not public"
        for method in sorted(route.methods or ()):
            out.append((method, route.path, guard))
    return out


def session(served_hub: ServedHub, role: str) -> httpx.Client:
    """A client signed in on the web pages as ``role``'s account, enrolling an
    authenticator where the role needs one."""
    http = client(served_hub.url)
    token = re.search(r'name="form_token" value="([^"]+)"', http.get("/login").text)
    assert token
    answer = http.post(
        "/login",
        data={"username": served_hub.user(role), "password": PASSWORD, "form_token": token[1]},
    )
    assert answer.status_code == 303, answer.text
    if answer.headers["location"] == "/login/enrol":
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login/enrol").text)
        assert csrf
        shown = http.post("/login/enrol", data={"csrf_token": csrf[1]}).text
        secret = re.search(r"data-secret>([A-Z2-7]+)<", shown)
        assert secret, shown
        code = pyotp.TOTP(secret[1]).now()
        done = http.post("/login/enrol/confirm", data={"csrf_token": csrf[1], "code": code})
        assert done.status_code == 200 and "recovery codes" in done.text
    return http


@pytest.fixture(scope="module")
def sessions(served_hub: ServedHub) -> dict[str, httpx.Client]:
    return {role: session(served_hub, role) for role in ACCOUNT_ROLES}


def concrete(path: str) -> str:
    return re.sub(r"\{([a-z_]+)\}", lambda m: AGENCY if m.group(1) == "agency" else "none", path)


def test_every_page_is_declared(served_hub: ServedHub) -> None:
    found = pages(served_hub.settings)
    assert len(found) >= 10
    assert any(guard and guard.permission for _, _, guard in found)


@pytest.mark.parametrize("role", [*ACCOUNT_ROLES, None])
def test_matrix(served_hub: ServedHub, sessions: dict[str, httpx.Client], role: str | None) -> None:
    http = sessions[role] if role else client(served_hub.url)
    for method, path, guard in pages(served_hub.settings):
        if guard is None or method != "GET":
            continue  # public pages; forms are checked by their own tests (CSRF first)
        answer = http.get(concrete(path))
        if role is None:
            assert answer.status_code == 303, (path, answer.status_code)
            assert answer.headers["location"].startswith("/login?next=")
            continue
        allowed = (
            guard.permission is None
            or permit(
                role,
                guard.permission,
                agency=AGENCY if role == "agency_operator" else None,
                resource_agency=AGENCY if "{agency}" in path else None,
            ).allowed
        )
        if allowed:
            assert answer.status_code in (200, 404), (role, path, answer.status_code)
        else:
            assert answer.status_code == 403, (role, path, answer.status_code)
            assert "policy." in answer.text
