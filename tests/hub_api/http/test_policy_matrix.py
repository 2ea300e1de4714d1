"""Every operation of the API against every role: allowed exactly where the access
policy's table says, denied with the reason's code otherwise, and 401 for nobody.

The operations are found by walking the application's routes, so a new operation is
checked the day it is added; one that asks no permission must be named public here."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute

from governance.policy.permissions import ACCOUNT_ROLES, PERMISSIONS
from hub_api.http.app import create_app
from hub_api.http.auth import Require
from tests.hub_api.http.conftest import AGENCY, ServedHub
from tests.hub_api.http.server import client

#: Operations anyone may call: signing in, health, the published indicators.
PUBLIC = re.compile(r"^(/health|/ready|/api/v1/openapi\.json|/api/v1/auth/|/api/v1/public/|/sdmx/)")
#: Signing in happens before any permission; the signed-in user's own page needs none.
SIGNED_IN_ONLY = {"/api/v1/auth/me", "/api/v1/auth/password"}


def _requirements(dependant: Any) -> list[str]:
    found = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, Require):
            found.append(dep.call.permission)
        found += _requirements(dep)
    return found


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """The API routes, through the routers included in the application."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):  # an included router (FastAPI >= 0.12x)
            found += api_routes(route.original_router.routes)
    return found


def operations(settings: Any) -> list[tuple[str, str, str | None]]:
    out = []
    for route in api_routes(create_app(settings).routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue  # the web pages have a matrix of their own (tests/hub_api/web)
        permissions = set(_requirements(route.dependant))
        assert len(permissions) <= 1, f"{route.path} asks {permissions}"
        permission = next(iter(permissions), None)
        if permission is None:
            assert PUBLIC.match(route.path) or route.path in SIGNED_IN_ONLY, (
                f"{route.path} asks no permission and is not declared public"
            )
        else:
            assert permission in PERMISSIONS, f"{route.path}: unknown permission {permission}"
        for method in sorted(route.methods or ()):
            out.append((method, route.path, permission))
    return out


def concrete(path: str) -> str:
    """The path with its parameters filled: the operator's own agency, ids that do not exist."""
    return re.sub(r"\{([a-z_]+)\}", lambda m: AGENCY if m.group(1) == "agency" else "none", path)


def test_every_operation_is_declared(served_hub: ServedHub) -> None:
    ops = operations(served_hub.settings)
    assert len(ops) > 40
    used = {p for _, _, p in ops if p}
    assert used <= set(PERMISSIONS)


@pytest.mark.parametrize("role", [*ACCOUNT_ROLES, None])
def test_matrix(served_hub: ServedHub, role: str | None) -> None:
    token = served_hub.tokens[role] if role else None
    wrong: list[str] = []
    with client(served_hub.url, token) as http:
        for method, path, permission in operations(served_hub.settings):
            if permission is None:
                continue
            r = http.request(method, concrete(path), json={} if method in ("POST", "PUT") else None)
            code = (
                r.json().get("error", {}).get("code")
                if r.headers.get("content-type", "").startswith("application/json")
                and r.status_code >= 400
                else None
            )
            if role is None:
                expected = r.status_code == 401 and code == "auth.required"
            elif role in PERMISSIONS[permission].roles:
                expected = r.status_code not in (401, 403) and r.status_code < 500
            else:
                expected = r.status_code == 403 and code is not None and code.startswith("policy.")
            if not expected:
                wrong.append(f"{role} {method} {path} -> {r.status_code} {code} {r.text[:200]}")
    assert not wrong, "\n".join(wrong)
