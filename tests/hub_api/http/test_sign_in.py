"""Signing in over HTTP: password, then TOTP enrolment or a TOTP code or a recovery
code; the session cookie's flags; CSRF on every state-changing call made with the
cookie; lockout; API tokens shown once, revoked for good."""

from __future__ import annotations

import time
from collections.abc import Iterator
from http.cookies import SimpleCookie

import httpx
import pyotp
import pytest

from hub_api.wiring import accounts, governance_session
from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.http.server import client

CSRF = "X-CSRF-Token"


@pytest.fixture
def person(served_hub: ServedHub) -> Iterator[str]:
    """A fresh lmis_admin account (a role that must use a second factor)."""
    name = f"admin-{time.monotonic_ns() % 10**9}"
    with governance_session(served_hub.settings, actor="setup") as gov:
        accounts(gov).create(
            name, role="lmis_admin", display_name="A", password=PASSWORD, actor="cli"
        )
    yield name


def login(http: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    return http.post("/api/v1/auth/login", json={"username": username, "password": password})


def enrol(http: httpx.Client, username: str) -> tuple[pyotp.TOTP, list[str], str]:
    r = login(http, username)
    assert r.status_code == 200, r.text
    step = r.json()
    assert step["mfa_required"] and step["enrol_required"]
    csrf = step["csrf_token"]
    # pending: nothing but the second factor
    assert http.get("/api/v1/auth/me").status_code == 401
    r = http.post("/api/v1/auth/totp/enrol", headers={CSRF: csrf})
    assert r.status_code == 200, r.text
    totp = pyotp.TOTP(r.json()["secret"])
    assert r.json()["uri"].startswith("otpauth://totp/")
    r = http.post("/api/v1/auth/totp/confirm", json={"code": totp.now()}, headers={CSRF: csrf})
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    assert len(codes) >= 8
    return totp, codes, csrf


def test_enrol_then_sign_in_with_totp_and_a_recovery_code(
    served_hub: ServedHub, person: str
) -> None:
    with client(served_hub.url) as http:
        totp, codes, csrf = enrol(http, person)
        me = http.get("/api/v1/auth/me")
        assert me.status_code == 200 and me.json()["username"] == person
        assert me.json()["totp_enrolled"] is True
        # a state change with the cookie needs the CSRF token, and the right one
        r = http.post("/api/v1/tokens", json={"name": "x"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "auth.csrf_missing"
        r = http.post("/api/v1/tokens", json={"name": "x"}, headers={CSRF: "forged"})
        assert r.status_code in (401, 403) and r.json()["error"]["code"] == "auth.csrf_invalid"
        r = http.post("/api/v1/auth/logout", headers={CSRF: csrf})
        assert r.status_code == 200
        assert http.get("/api/v1/auth/me").status_code == 401

    with client(served_hub.url) as http:
        step = login(http, person).json()
        assert step["mfa_required"] and not step["enrol_required"]
        csrf = step["csrf_token"]
        r = http.post("/api/v1/auth/totp", json={"code": "000000"}, headers={CSRF: csrf})
        assert r.status_code == 401 and r.json()["error"]["code"] == "auth.totp_invalid"
        # the code of the enrolment's time step was used: the next step's is accepted
        later = totp.at(time.time() + 30)
        r = http.post("/api/v1/auth/totp", json={"code": later}, headers={CSRF: csrf})
        assert r.status_code == 200, r.text
        assert http.get("/api/v1/auth/me").status_code == 200

    for attempt in range(2):
        with client(served_hub.url) as http:
            csrf = login(http, person).json()["csrf_token"]
            r = http.post("/api/v1/auth/recovery", json={"code": codes[0]}, headers={CSRF: csrf})
            if attempt == 0:
                assert r.status_code == 200, r.text
            else:  # a recovery code works once
                assert r.status_code == 401, r.text


def test_the_session_cookie_is_httponly_and_samesite_strict(
    served_hub: ServedHub, person: str
) -> None:
    with client(served_hub.url) as http:
        r = login(http, person)
    cookie = SimpleCookie()
    cookie.load(r.headers["set-cookie"])
    [(name, morsel)] = cookie.items()
    assert name == "lmis_session"  # __Host- and Secure only over HTTPS (secure_cookies)
    assert morsel["httponly"] and morsel["samesite"].lower() == "strict"
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    assert r.headers["cache-control"] == "no-store"


def test_unknown_user_and_wrong_password_are_the_same_refusal(
    served_hub: ServedHub, person: str
) -> None:
    with client(served_hub.url) as http:
        wrong = login(http, person, "not the password at all")
        unknown = login(http, "nobody-here")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_too_many_failures_lock_the_account_until_an_admin_unlocks_it(
    served_hub: ServedHub, person: str
) -> None:
    limit = served_hub.settings.api.max_login_failures
    with client(served_hub.url) as http:
        for _ in range(limit - 1):
            assert login(http, person, "wrong password, again").status_code == 401
        r = login(http, person, "wrong password, again")  # the failure that locks
        assert r.status_code == 403 and r.json()["error"]["code"] == "auth.locked"
        r = login(http, person)  # even the right password, until unlocked
        assert r.status_code == 403 and r.json()["error"]["code"] == "auth.locked"
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as admin:
        assert admin.post(f"/api/v1/accounts/{person}/unlock").status_code == 200
    with client(served_hub.url) as http:
        assert login(http, person).status_code == 200


def test_an_api_token_is_shown_once_and_revoked_for_good(served_hub: ServedHub) -> None:
    with client(served_hub.url, served_hub.tokens["auditor"]) as http:
        r = http.post("/api/v1/tokens", json={"name": "nightly export", "days": 7})
        assert r.status_code == 201, r.text
        issued = r.json()
        token = issued.pop("token")
        listed = http.get("/api/v1/tokens").json()
        assert issued["id"] in {t["id"] for t in listed}
        assert token not in str(listed)
    with client(served_hub.url, token) as http:
        assert http.get("/api/v1/auth/me").json()["via"] == "token"
        assert http.delete(f"/api/v1/tokens/{issued['id']}").status_code == 200
        r = http.get("/api/v1/auth/me")
        assert r.status_code == 401 and r.json()["error"]["code"] == "auth.token_revoked"
    with client(served_hub.url, token[:-2] + "xx") as http:
        assert http.get("/api/v1/auth/me").status_code == 401


def test_a_disabled_account_loses_its_tokens(served_hub: ServedHub) -> None:
    with governance_session(served_hub.settings, actor="setup") as gov:
        service = accounts(gov)
        service.create(
            "temp-analyst", role="lmis_analyst", display_name="T", password=PASSWORD, actor="cli"
        )
        from datetime import timedelta

        _, token = service.issue_token(
            "temp-analyst", name="t", actor="temp-analyst", ttl=timedelta(days=1)
        )
    with client(served_hub.url, token) as http:
        assert http.get("/api/v1/agreements").status_code == 200
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as admin:
        assert admin.post("/api/v1/accounts/temp-analyst/disable").status_code == 200
    with client(served_hub.url, token) as http:
        assert http.get("/api/v1/agreements").status_code == 401


def test_a_password_set_by_the_lmis_unit_must_be_changed_first(served_hub: ServedHub) -> None:
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as admin:
        r = admin.post(
            "/api/v1/accounts",
            json={"username": "new-analyst", "display_name": "N", "role": "lmis_analyst",
                  "password": PASSWORD},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    with client(served_hub.url) as http:
        step = login(http, "new-analyst").json()
        assert step["mfa_required"] is False
        r = http.get("/api/v1/agreements")
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "auth.password_change_required"
        assert http.get("/api/v1/auth/me").json()["must_change_password"] is True
        new = "another long pass phrase entirely"
        r = http.post(
            "/api/v1/auth/password",
            json={"old": PASSWORD, "new": new},
            headers={CSRF: step["csrf_token"]},
        )
        assert r.status_code == 200, r.text
        assert http.get("/api/v1/agreements").status_code == 200
