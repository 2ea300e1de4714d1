"""The pages' defences, over plain HTTP: the strict Content-Security-Policy on every
page, sign-in that another site cannot drive, CSRF on every form that changes state,
no redirect to another site, roles checked by the server, and no secret in a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from hub_api.http.app import CONTENT_SECURITY_POLICY
from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.http.server import client

PUBLIC_PAGES = ("/", "/indicators", "/releases", "/calendar", "/login")


def form_token(http: httpx.Client) -> str:
    page = http.get("/login")
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@contextmanager
def signed_in(served_hub: ServedHub, role: str) -> Iterator[tuple[httpx.Client, str]]:
    """A client signed in with the password (a role that needs no authenticator), and
    the session's CSRF token read from a page."""
    with client(served_hub.url) as http:
        yield http, _sign_in(http, served_hub, role)


def _sign_in(http: httpx.Client, served_hub: ServedHub, role: str) -> str:
    token = form_token(http)
    answer = http.post(
        "/login",
        data={"username": served_hub.user(role), "password": PASSWORD, "form_token": token},
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/work", answer.text
    page = http.get("/account")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text
    return csrf.group(1)


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_every_page_has_the_strict_policy(served_hub: ServedHub, path: str) -> None:
    with client(served_hub.url) as http:
        page = http.get(path)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text and " style=" not in page.text  # nothing inline


def test_sign_in_needs_the_form_token_of_this_browser(served_hub: ServedHub) -> None:
    with client(served_hub.url) as http:
        user = served_hub.user("lmis_analyst")
        missing = http.post(
            "/login", data={"username": user, "password": PASSWORD, "form_token": "x"}
        )
        assert missing.status_code == 403 and "auth.csrf_missing" in missing.text
        assert "lmis_session" not in missing.headers.get("set-cookie", "")
    # another site's form: a token, but not the one set in this browser's cookie
    with client(served_hub.url) as victim, client(served_hub.url) as attacker:
        token = form_token(attacker)
        forged = victim.post(
            "/login", data={"username": user, "password": PASSWORD, "form_token": token}
        )
        assert forged.status_code == 403


@pytest.mark.parametrize("back", ["//evil.example/x", "https://evil.example/", "/\\evil.example"])
def test_no_redirect_to_another_site(served_hub: ServedHub, back: str) -> None:
    with client(served_hub.url) as http:
        token = form_token(http)
        answer = http.post(
            "/login",
            data={
                "username": served_hub.user("lmis_analyst"),
                "password": PASSWORD,
                "form_token": token,
                "next": back,
            },
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/work"


def test_forms_that_change_state_need_the_csrf_token(served_hub: ServedHub) -> None:
    with signed_in(served_hub, "lmis_analyst") as (http, csrf):
        change = {
            "old": PASSWORD,
            "new": "a brand new passphrase",
            "again": "a brand new passphrase",
        }
        refused = http.post("/account/password", data=change)
        assert refused.status_code == 403 and "auth.csrf" in refused.text
        wrong = http.post("/account/password", data={**change, "csrf_token": "0" * 43})
        assert wrong.status_code == 403
        # signing out needs it too: without it the session goes on
        http.post("/logout", data={})
        assert http.get("/work").status_code == 200
        http.post("/logout", data={"csrf_token": csrf})
        assert http.get("/work").status_code == 303


def test_pages_are_refused_by_role_on_the_server(served_hub: ServedHub) -> None:
    with signed_in(served_hub, "agency_operator") as (http, _):
        refused = http.get("/work/audit")
        assert refused.status_code == 403 and "policy.role_not_permitted" in refused.text
        assert http.post("/work/audit/verify", data={}).status_code == 403
    with client(served_hub.url) as anonymous:
        page = anonymous.get("/work/audit")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/work/audit"


def test_no_session_id_or_password_reaches_a_page(served_hub: ServedHub) -> None:
    with signed_in(served_hub, "lmis_analyst") as (http, _):
        session_id = next(iter(http.cookies.values()))
        for path in ("/work", "/account", "/"):
            text = http.get(path).text
            assert session_id not in text and PASSWORD not in text
