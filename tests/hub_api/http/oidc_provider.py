"""A small but real OpenID provider for the tests, served over HTTP by uvicorn in a thread:
a discovery document, its JWKS (an RSA key made at start, RS256), ``/authorize`` (no
login page: it signs in :attr:`Provider.next_person`), ``/token`` (client_secret_basic,
one use per code, PKCE S256 and the redirect URI checked) and ``/userinfo``.

It misbehaves on demand (:attr:`Provider.misbehave`), so the tests can check that the
hub refuses what a broken or hostile provider would send.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.hub_api.http.server import free_port

#: What the provider can be told to get wrong (see :meth:`Provider.id_token`).
MISBEHAVIOURS = frozenset(
    {
        "wrong_nonce",  # the id token carries another nonce
        "wrong_audience",  # ... is for another client
        "wrong_issuer",  # ... names another issuer
        "wrong_key",  # ... is signed by another key under the published key id
        "unknown_kid",  # ... is signed by a key the JWKS does not hold
        "expired",  # ... expired ten minutes ago
        "alg_none",  # ... is not signed at all
        "claims_in_userinfo",  # user name and groups only at /userinfo
        "token_server_error",  # the token endpoint fails with a 500
    }
)


@dataclass
class Person:
    """Someone the provider signs in: their user name, groups and how they authenticated."""

    username: str
    groups: list[str]
    amr: list[str] = field(default_factory=lambda: ["pwd"])
    name: str | None = None
    sub: str = ""

    def __post_init__(self) -> None:
        self.sub = self.sub or f"sub-{self.username}"


@dataclass
class Grant:
    person: Person
    redirect_uri: str
    nonce: str
    challenge: str
    used: bool = False


class Provider:
    """The provider's state; :func:`serving_provider` serves it."""

    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"})
        self.key.ensure_kid()
        self.other_key = RSAKey.generate_key(2048)
        self.other_key.ensure_kid()
        self.url = ""
        self.next_person: Person | None = None
        self.misbehave: set[str] = set()
        self.codes: dict[str, Grant] = {}
        self.access_tokens: dict[str, Person] = {}
        self.token_requests = 0

    # Endpoints --------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        redirect_uri = q.get("redirect_uri", "")
        problems = [
            name
            for name, ok in (
                ("response_type", q.get("response_type") == "code"),
                ("client_id", q.get("client_id") == self.client_id),
                ("redirect_uri", redirect_uri.startswith("http")),
                ("scope", "openid" in q.get("scope", "").split()),
                ("state", bool(q.get("state"))),
                ("nonce", bool(q.get("nonce"))),
                ("code_challenge_method", q.get("code_challenge_method") == "S256"),
                ("code_challenge", bool(q.get("code_challenge"))),
            )
            if not ok
        ]
        if problems:
            return JSONResponse({"error": "invalid_request", "bad": problems}, status_code=400)
        back = {"state": q["state"]}
        if self.next_person is None:
            back["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = Grant(
                self.next_person, redirect_uri, q["nonce"], q["code_challenge"]
            )
            back["code"] = code
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        if "token_server_error" in self.misbehave:
            return JSONResponse({"error": "server_error"}, status_code=500)
        if not self._client_authenticated(request.headers.get("authorization", "")):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = self.codes.get(form.get("code", ""))
        if form.get("grant_type") != "authorization_code" or grant is None or grant.used:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        grant.used = True  # a code works once
        verifier = form.get("code_verifier", "")
        if _b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return JSONResponse({"error": "invalid_grant", "why": "pkce"}, status_code=400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return JSONResponse({"error": "invalid_grant", "why": "redirect_uri"}, status_code=400)
        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = grant.person
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": self.id_token(grant, access_token),
            }
        )

    async def userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        person = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if person is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse(
            {
                "sub": person.sub,
                "preferred_username": person.username,
                "groups": person.groups,
                "name": person.name,
            }
        )

    # The id token -----------------------------------------------------------------------

    def id_token(self, grant: Grant, access_token: str) -> str:
        now = int(time.time())
        person, bad = grant.person, self.misbehave
        claims: dict[str, Any] = {
            "iss": "http://elsewhere.example" if "wrong_issuer" in bad else self.url,
            "sub": person.sub,
            "aud": "another-client" if "wrong_audience" in bad else self.client_id,
            "exp": now - 600 if "expired" in bad else now + 300,
            "iat": now - 900 if "expired" in bad else now,
            "auth_time": now,
            "nonce": "not-the-nonce" if "wrong_nonce" in bad else grant.nonce,
            "amr": person.amr,
            "at_hash": _b64(hashlib.sha256(access_token.encode()).digest()[:16]),
        }
        if "claims_in_userinfo" not in bad:
            claims.update(
                preferred_username=person.username, groups=person.groups, name=person.name
            )
        if "alg_none" in bad:
            unsigned = [json.dumps({"alg": "none"}), json.dumps(claims)]
            return ".".join(_b64(part.encode()) for part in unsigned) + "."
        key = self.other_key if bad & {"wrong_key", "unknown_kid"} else self.key
        kid = self.other_key.kid if "unknown_kid" in bad else self.key.kid
        return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)

    def _client_authenticated(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
        return (unquote_plus(client_id), unquote_plus(secret)) == (
            self.client_id,
            self.client_secret,
        )


@contextmanager
def serving_provider(provider: Provider, *, timeout_s: float = 20.0) -> Iterator[Provider]:
    """The provider on a free loopback port until the block ends."""
    port = free_port()
    provider.url = f"http://127.0.0.1:{port}"
    config = uvicorn.Config(provider.app(), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="oidc-provider", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the OpenID provider did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout_s)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
