"""Signing in with an identity provider (OpenID Connect), against a real OpenID provider
served by the tests: the round trip through the browser's redirects, groups to roles,
the second factor attested by the provider, the flow's state cookie, codes and id tokens
the hub must refuse, the provider as the source of truth for the role, and the audit."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import closing
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from governance.accounts.models import Account
from hub_api.http.errors import OidcState
from hub_api.http.oidc import LoginState, LoginStateCodec
from hub_api.wiring import governance_session
from lmis_hub.settings import OidcSettings
from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.http.oidc_provider import Person, Provider, serving_provider
from tests.hub_api.http.server import client, serving

CLIENT_ID = "lmis-hub"
CLIENT_SECRET = "provider-secret+/="  # characters that must be form-encoded for Basic
LOGIN = "/api/v1/auth/oidc/login"
CALLBACK = "/api/v1/auth/oidc/callback"
STATE_COOKIE = "lmis_oidc"
ROLE_GROUPS = {
    "lmis-admins": "lmis_admin",
    "lmis-analysts": "lmis_analyst",
    "lmis-data-team": "lmis_analyst",
    "nis-operators": "agency_operator:nis",
    "auditors": "auditor",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with serving_provider(Provider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)) as p:
        yield p


@pytest.fixture(scope="module")
def hub_api_settings(provider: Provider) -> dict[str, Any]:
    oidc = OidcSettings(
        issuer=provider.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
        role_groups=ROLE_GROUPS,
    )
    return {"oidc": oidc}


@pytest.fixture(autouse=True)
def well_behaved(provider: Provider) -> Iterator[None]:
    provider.misbehave.clear()
    provider.next_person = None
    yield
    provider.misbehave.clear()


def person(groups: list[str], amr: list[str] | None = None, **kwargs: Any) -> Person:
    """Someone new at the provider."""
    name = kwargs.pop("username", f"p{time.monotonic_ns() % 10**10}")
    return Person(username=name, groups=groups, amr=amr or ["pwd"], **kwargs)


def to_provider(http: httpx.Client, provider: Provider) -> str:
    """The hub's /login: the provider's authorization URL it redirects to."""
    r = http.get(LOGIN)
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(f"{provider.url}/authorize?")
    return location


def at_provider(provider: Provider, location: str, who: Person | None) -> str:
    """The person signs in at the provider: the hub's callback URL it redirects to."""
    provider.next_person = who
    r = httpx.get(location)
    assert r.status_code == 302, r.text
    return r.headers["location"]


def sign_in(
    hub: ServedHub, provider: Provider, who: Person, *, as_json: bool = False
) -> tuple[httpx.Client, httpx.Response]:
    """The whole round trip, following the browser's redirects by hand: a client holding
    the hub's cookies, and the hub's answer to the callback."""
    http = client(hub.url)
    back = at_provider(provider, to_provider(http, provider), who)
    assert back.startswith(f"{hub.url}{CALLBACK}?")
    headers = {"Accept": "application/json"} if as_json else {}
    return http, http.get(back, headers=headers)


def error_code(r: httpx.Response) -> str:
    code: str = r.json()["error"]["code"]
    return code


def audit_entries(hub: ServedHub, tag: str) -> list[dict[str, Any]]:
    with governance_session(hub.settings, actor="test") as gov:
        return [e.as_dict() for e in gov.audit.iter_all() if e.tag == tag]


def account(hub: ServedHub, username: str) -> Account:
    with governance_session(hub.settings, actor="test") as gov:
        found = gov.session.get(Account, username)
        assert found is not None
        gov.session.expunge(found)
        return found


# The round trip ---------------------------------------------------------------------


def test_round_trip_signs_in_with_the_session_cookie(
    served_hub: ServedHub, provider: Provider
) -> None:
    who = person(["lmis-analysts", "unrelated-group"], name="Ravi Analyst")
    http, r = sign_in(served_hub, provider, who)
    with closing(http):
        assert r.status_code == 303 and r.headers["location"] == "/"
        # the same session cookie as a password sign-in; the flow's cookie is spent
        assert "lmis_session" in http.cookies
        set_cookies = r.headers.get_list("set-cookie")
        assert any(
            c.startswith("lmis_session=") and "samesite=strict" in c.lower() for c in set_cookies
        )
        assert any(
            c.startswith(f"{STATE_COOKIE}=") and "max-age=0" in c.lower() for c in set_cookies
        )
        me = http.get("/api/v1/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == who.username
        assert me.json()["role"] == "lmis_analyst" and me.json()["agency"] is None
        assert me.json()["via"] == "session"
        assert me.json()["display_name"] == "Ravi Analyst"
        assert me.json()["must_change_password"] is False
        # the session can act: an analyst reads the agreements
        assert http.get("/api/v1/agreements").status_code == 200
    stored = account(served_hub, who.username)
    assert (stored.identity_provider, stored.external_subject) == (provider.url, who.sub)


def test_the_login_redirect_asks_for_code_with_pkce_state_and_nonce(
    served_hub: ServedHub, provider: Provider
) -> None:
    with client(served_hub.url) as http:
        r = http.get(LOGIN)
        query = parse_qs(urlsplit(r.headers["location"]).query)
        assert query["response_type"] == ["code"] and query["client_id"] == [CLIENT_ID]
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [f"{served_hub.url}{CALLBACK}"]
        assert set(query["scope"][0].split()) == {"openid", "profile", "email"}
        assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(STATE_COOKIE))
        flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "max-age"} <= flags
        assert "samesite=lax" in cookie.lower() and "path=/api/v1/auth/oidc" in cookie.lower()
        # a second sign-in is a fresh one
        again = parse_qs(urlsplit(http.get(LOGIN).headers["location"]).query)
        assert again["state"] != query["state"] and again["nonce"] != query["nonce"]


def test_json_answer_gives_the_csrf_token_and_agency_operators_get_their_agency(
    served_hub: ServedHub, provider: Provider
) -> None:
    who = person(["nis-operators"])
    http, r = sign_in(served_hub, provider, who, as_json=True)
    with closing(http):
        assert r.status_code == 200, r.text
        assert r.json()["signed_in"] is True
        csrf = r.json()["csrf_token"]
        me = http.get("/api/v1/auth/me").json()
        assert (me["role"], me["agency"]) == ("agency_operator", "nis")
        token = http.post(
            "/api/v1/tokens", json={"name": "nightly"}, headers={"X-CSRF-Token": csrf}
        )
        assert token.status_code == 201, token.text
        assert (token.json()["role"], token.json()["agency"]) == ("agency_operator", "nis")


# Groups to roles, and the second factor --------------------------------------------


def test_no_mapped_group_is_refused(served_hub: ServedHub, provider: Provider) -> None:
    who = person(["staff", "canteen"])
    http, r = sign_in(served_hub, provider, who)
    with closing(http):
        assert r.status_code == 403 and error_code(r) == "auth.oidc_no_role"
        assert "lmis_session" not in http.cookies
        assert http.get("/api/v1/auth/me").status_code == 401
    refusal = [
        e
        for e in audit_entries(served_hub, "account:login_fail")
        if e["subject"] == f"account:{who.username}"
    ]
    assert refusal and refusal[-1]["details"]["reason"] == "auth.oidc_no_role"
    assert refusal[-1]["details"]["groups_seen"] == 2
    with governance_session(served_hub.settings, actor="test") as gov:
        assert gov.session.get(Account, who.username) is None


def test_groups_of_two_roles_are_refused_groups_of_one_role_are_not(
    served_hub: ServedHub, provider: Provider
) -> None:
    http, r = sign_in(served_hub, provider, person(["lmis-analysts", "nis-operators"]))
    with closing(http):
        assert r.status_code == 403 and error_code(r) == "auth.oidc_role_ambiguous"
    http, r = sign_in(served_hub, provider, person(["lmis-analysts", "lmis-data-team"]))
    with closing(http):
        assert r.status_code == 303
        assert http.get("/api/v1/auth/me").json()["role"] == "lmis_analyst"


def test_a_role_that_needs_a_second_factor_needs_the_provider_to_attest_one(
    served_hub: ServedHub, provider: Provider
) -> None:
    who = person(["lmis-admins"], amr=["pwd"])
    http, r = sign_in(served_hub, provider, who)
    with closing(http):
        assert r.status_code == 403 and error_code(r) == "auth.oidc_mfa"
        assert http.get("/api/v1/auth/me").status_code == 401
    who.amr = ["pwd", "otp"]
    http, r = sign_in(served_hub, provider, who)
    with closing(http):
        assert r.status_code == 303
        me = http.get("/api/v1/auth/me").json()
        assert me["role"] == "lmis_admin" and me["totp_enrolled"] is False
        # complete at once: the administrator's operations answer
        assert http.get("/api/v1/accounts").status_code == 200
    login = [e for e in audit_entries(served_hub, "account:login") if e["actor"] == who.username]
    assert login[-1]["details"]["second_factor"] == "otp"
    assert login[-1]["details"]["via"] == "oidc"


def test_a_role_change_at_the_provider_applies_at_the_next_sign_in(
    served_hub: ServedHub, provider: Provider
) -> None:
    who = person(["lmis-analysts"])
    http, r = sign_in(served_hub, provider, who, as_json=True)
    with closing(http):
        csrf = r.json()["csrf_token"]
        issued = http.post("/api/v1/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf})
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        with client(served_hub.url, token) as machine:
            assert machine.get("/api/v1/auth/me").status_code == 200
        who.groups = ["nis-operators"]
        again, r = sign_in(served_hub, provider, who)
        with closing(again):
            me = again.get("/api/v1/auth/me").json()
            assert (me["role"], me["agency"]) == ("agency_operator", "nis")
        # the first session follows the account; the token, which carried the old role, is revoked
        assert http.get("/api/v1/auth/me").json()["role"] == "agency_operator"
    with client(served_hub.url, token) as machine:
        r = machine.get("/api/v1/auth/me")
        assert r.status_code == 401 and error_code(r) == "auth.token_revoked"
    login = [e for e in audit_entries(served_hub, "account:login") if e["actor"] == who.username]
    assert login[-1]["details"]["changed"]["role"] == ["lmis_analyst", "agency_operator"]
    assert login[-1]["details"]["changed"]["agency"] == [None, "nis"]
    assert login[-1]["details"]["tokens_revoked"] == 1


def test_a_password_sign_in_or_a_reset_of_an_identity_provider_account_is_refused(
    served_hub: ServedHub, provider: Provider
) -> None:
    who = person(["lmis-analysts"])
    http, _ = sign_in(served_hub, provider, who)
    http.close()
    with client(served_hub.url) as anyone:
        for password in (PASSWORD, "!external", "x"):
            r = anyone.post(
                "/api/v1/auth/login", json={"username": who.username, "password": password}
            )
            assert r.status_code == 401 and error_code(r) == "auth.invalid_credentials"
    assert account(served_hub, who.username).failed_logins == 0  # nothing to lock
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as admin:
        r = admin.post(
            f"/api/v1/accounts/{who.username}/reset", json={"password": "a-new-long-password-42"}
        )
        assert r.status_code == 409 and error_code(r) == "account.external"


def test_a_user_name_held_by_a_password_account_is_refused(
    served_hub: ServedHub, provider: Provider
) -> None:
    taken = served_hub.user("lmis_analyst")  # a password account of the served hub
    http, r = sign_in(served_hub, provider, person(["lmis-analysts"], username=taken.upper()))
    with closing(http):
        assert r.status_code == 403 and error_code(r) == "auth.oidc_account_conflict"
    assert account(served_hub, taken).identity_provider is None


def test_a_user_name_the_hub_does_not_take_is_refused(
    served_hub: ServedHub, provider: Provider
) -> None:
    http, r = sign_in(served_hub, provider, person(["lmis-analysts"], username="Ada Lovelace!"))
    with closing(http):
        assert r.status_code == 400 and error_code(r) == "account.invalid"


def test_claims_only_at_userinfo_are_read_there(served_hub: ServedHub, provider: Provider) -> None:
    provider.misbehave.add("claims_in_userinfo")
    who = person(["nis-operators"])
    http, r = sign_in(served_hub, provider, who)
    with closing(http):
        assert r.status_code == 303, r.text
        assert http.get("/api/v1/auth/me").json()["agency"] == "nis"


# The flow's state -------------------------------------------------------------------


def test_a_callback_without_the_flow_cookie_or_with_another_state_is_refused(
    served_hub: ServedHub, provider: Provider
) -> None:
    with client(served_hub.url) as http:
        back = at_provider(provider, to_provider(http, provider), person(["lmis-analysts"]))
        query = parse_qs(urlsplit(back).query)
        # another browser (no cookie) cannot finish this sign-in
        with client(served_hub.url) as other:
            r = other.get(back)
            assert r.status_code == 400 and error_code(r) == "auth.oidc_state"
        r = http.get(CALLBACK, params={"code": query["code"][0], "state": "not-the-state"})
        assert r.status_code == 400 and error_code(r) == "auth.oidc_state"
        r = http.get(CALLBACK, params={"code": query["code"][0]})
        assert r.status_code == 400 and error_code(r) == "auth.oidc_state"
    assert provider.codes[query["code"][0]].used is False  # refused before the code was spent


def test_an_altered_or_forged_flow_cookie_is_refused(
    served_hub: ServedHub, provider: Provider
) -> None:
    with client(served_hub.url) as http:
        back = at_provider(provider, to_provider(http, provider), person(["lmis-analysts"]))
        state = parse_qs(urlsplit(back).query)["state"][0]
        genuine = http.cookies[STATE_COOKIE]
        payload, _, mac = genuine.partition(".")
        forged = LoginStateCodec(os.urandom(32)).encode(
            LoginState(state=state, nonce="n", verifier="v" * 43, expires=int(time.time()) + 60)
        )
        for value in (
            f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{mac}",  # altered
            f"{payload}.{mac[:-2]}",  # truncated MAC
            forged,  # signed with another key
            "garbage",
        ):
            http.cookies.set(STATE_COOKIE, value, path="/api/v1/auth/oidc")
            r = http.get(back)
            assert r.status_code == 400 and error_code(r) == "auth.oidc_state", value
        http.cookies.set(STATE_COOKIE, genuine, path="/api/v1/auth/oidc")
        assert http.get(back).status_code == 303


def test_a_replayed_code_is_refused(served_hub: ServedHub, provider: Provider) -> None:
    with client(served_hub.url) as http:
        back = at_provider(provider, to_provider(http, provider), person(["lmis-analysts"]))
        cookie = http.cookies[STATE_COOKIE]
        assert http.get(back).status_code == 303
        # the same browser: the flow's cookie was spent with the sign-in
        r = http.get(back)
        assert r.status_code == 400 and error_code(r) == "auth.oidc_state"
    # someone who copied the callback URL and the cookie: the provider refuses the code again
    with client(served_hub.url) as thief:
        thief.cookies.set(STATE_COOKIE, cookie, path="/api/v1/auth/oidc")
        r = thief.get(back)
        assert r.status_code == 401 and error_code(r) == "auth.oidc_token"
        assert "invalid_grant" in r.json()["error"]["message"]
        assert thief.get("/api/v1/auth/me").status_code == 401


def test_the_provider_answering_with_an_error_is_refused(
    served_hub: ServedHub, provider: Provider
) -> None:
    with client(served_hub.url) as http:
        back = at_provider(provider, to_provider(http, provider), None)  # cancelled
        assert "error=access_denied" in back
        r = http.get(back)
        assert r.status_code == 401 and error_code(r) == "auth.oidc_denied"
    assert any(
        e["details"]["reason"] == "auth.oidc_denied"
        for e in audit_entries(served_hub, "account:login_fail")
    )


# Id tokens the hub must refuse ------------------------------------------------------


@pytest.mark.parametrize(
    ("misbehaviour", "why"),
    [
        ("wrong_nonce", "'nonce'"),
        ("wrong_audience", "'aud'"),
        ("wrong_issuer", "'iss'"),
        ("wrong_key", "bad_signature"),
        ("unknown_kid", "invalid_key_id"),  # even after reading the JWKS again
        ("expired", "expired_token"),
        ("alg_none", "'none' is not allowed"),
    ],
)
def test_an_invalid_id_token_is_refused(
    served_hub: ServedHub, provider: Provider, misbehaviour: str, why: str
) -> None:
    provider.misbehave.add(misbehaviour)
    who = person(["lmis-analysts"])
    http, r = sign_in(served_hub, provider, who)
    with closing(http):
        assert r.status_code == 401 and error_code(r) == "auth.oidc_token", r.text
        assert why in r.json()["error"]["message"]
        assert "lmis_session" not in http.cookies
    with governance_session(served_hub.settings, actor="test") as gov:
        assert gov.session.get(Account, who.username) is None
    refusals = [
        e
        for e in audit_entries(served_hub, "account:login_fail")
        if e["subject"] == f"identity_provider:{provider.url}"
    ]
    assert refusals[-1]["details"] == {"via": "oidc", "reason": "auth.oidc_token"}


def test_a_provider_failing_is_unavailable_not_a_crash(
    served_hub: ServedHub, provider: Provider
) -> None:
    provider.misbehave.add("token_server_error")
    http, r = sign_in(served_hub, provider, person(["lmis-analysts"]))
    with closing(http):
        assert r.status_code == 502 and error_code(r) == "auth.oidc_unavailable"


# The audit and the switch -----------------------------------------------------------


def test_the_audit_log_holds_the_creation_and_every_sign_in(
    served_hub: ServedHub, provider: Provider
) -> None:
    who = person(["auditors"], amr=["pwd", "hwk"])
    for _ in range(2):
        http, r = sign_in(served_hub, provider, who)
        http.close()
        assert r.status_code == 303
    created = [
        e
        for e in audit_entries(served_hub, "account:create")
        if e["subject"] == f"account:{who.username}"
    ]
    assert len(created) == 1
    assert created[0]["details"] == {
        "via": "oidc",
        "provider": provider.url,
        "role": "auditor",
        "agency": None,
        "groups": ["auditors"],
    }
    logins = [
        e
        for e in audit_entries(served_hub, "account:login")
        if e["subject"] == f"account:{who.username}"
    ]
    assert len(logins) == 2
    assert all(
        e["details"]["via"] == "oidc" and e["details"]["second_factor"] == "hwk" for e in logins
    )


def test_off_unless_configured(served_hub: ServedHub) -> None:
    api = served_hub.settings.api.model_copy(update={"oidc": OidcSettings()})
    settings = served_hub.settings.model_copy(update={"api": api})
    with serving(settings) as base, client(base) as http:
        for path in (LOGIN, CALLBACK):
            r = http.get(path)
            assert r.status_code == 404 and error_code(r) == "auth.oidc_disabled"


# The flow's cookie, as a pure unit ---------------------------------------------------

KEY = os.urandom(32)
logins = st.builds(
    LoginState,
    state=st.text(min_size=1, max_size=60),
    nonce=st.text(min_size=1, max_size=60),
    verifier=st.text(min_size=43, max_size=128),
    expires=st.integers(min_value=1, max_value=2**40),
)


@given(logins)
def test_the_flow_cookie_round_trips(login: LoginState) -> None:
    codec = LoginStateCodec(KEY)
    value = codec.encode(login)
    assert value.isascii() and ";" not in value and " " not in value
    assert codec.decode(value, state=login.state, now=login.expires - 1) == login


@given(logins, st.data())
def test_any_change_to_the_flow_cookie_is_refused(login: LoginState, data: st.DataObject) -> None:
    value = LoginStateCodec(KEY).encode(login)
    at = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    replacement = data.draw(st.characters(codec="ascii").filter(lambda c: c != value[at]))
    tampered = value[:at] + replacement + value[at + 1 :]
    with pytest.raises(OidcState):
        LoginStateCodec(KEY).decode(tampered, state=login.state, now=0)


def test_the_flow_cookie_expires_and_needs_its_state() -> None:
    codec = LoginStateCodec(KEY)
    login = LoginState(state="s", nonce="n", verifier="v" * 43, expires=1000)
    value = codec.encode(login)
    with pytest.raises(OidcState, match="longer than 10 minutes"):
        codec.decode(value, state="s", now=1000)
    with pytest.raises(OidcState, match="state"):
        codec.decode(value, state="other", now=999)
    with pytest.raises(OidcState):
        codec.decode(None, state="s", now=0)
