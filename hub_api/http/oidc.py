"""The hub as an OpenID Connect relying party of the ministry's identity provider
(``HUB_API__OIDC__*``): the authorization code flow with PKCE (S256), ``state`` and
``nonce``.

What the flow must remember between leaving for the provider and coming back (state,
nonce, PKCE verifier, expiry) travels in a short-lived cookie, HMAC-signed with a key
derived from the KEK (:class:`LoginStateCodec`): any worker can finish a sign-in another
started, and nothing is stored on the hub. :class:`RelyingParty` reads the provider's
discovery document and keys (cached; the keys are read again for an unknown key id),
builds the authorization URL, exchanges the code at the token endpoint
(client_secret_basic) and validates the id token: its signature against the provider's
JWKS (asymmetric algorithms only), ``iss``, ``aud`` and ``azp``, ``exp`` and ``iat``
with a small leeway, ``nonce`` and ``at_hash``. It gives an
:class:`~governance.accounts.external.ExternalIdentity`; the accounts decide what that
person may do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_grant_uri,
)
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.core import CodeIDToken  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from governance.accounts.external import ExternalIdentity
from hub_api.http.errors import OidcState, OidcToken, OidcUnavailable
from lmis_hub.settings import OidcSettings, Settings

#: Where the flow's cookie is sent: the sign-in routes only.
STATE_COOKIE_PATH = "/api/v1/auth/oidc"
CALLBACK_PATH = f"{STATE_COOKIE_PATH}/callback"
#: How long a person has at the provider before the sign-in must start again.
STATE_TTL_S = 600
#: Clock difference allowed between the hub and the provider on ``exp`` and ``iat``.
LEEWAY_S = 60
#: How long the discovery document is trusted before it is read again.
METADATA_TTL_S = 3600
#: Signature algorithms an id token may use: asymmetric ones only (never ``none``, never
#: HS*, which would make the client secret a signing key).
SIGNING_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",
)


def state_cookie_name(settings: Settings) -> str:
    """``__Secure-`` over HTTPS (``__Host-`` would need the path ``/``)."""
    return "__Secure-lmis_oidc" if settings.api.secure_cookies else "lmis_oidc"


@dataclass(frozen=True)
class LoginState:
    """A sign-in under way at the provider."""

    state: str
    nonce: str
    verifier: str  # the PKCE code verifier
    expires: int  # unix seconds

    def __repr__(self) -> str:
        return f"LoginState(expires={self.expires})"


class LoginStateCodec:
    """The flow's cookie: the :class:`LoginState` as base64url JSON, then a dot and its
    HMAC-SHA256."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def encode(self, login: LoginState) -> str:
        payload = _b64(json.dumps(asdict(login), separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def decode(self, value: str | None, *, state: str | None, now: float) -> LoginState:
        """The sign-in the cookie holds, if its MAC is right, it has not expired and the
        provider sent back its ``state``; :class:`OidcState` otherwise."""
        if not value:
            raise OidcState("no sign-in was started in this browser, or it is over")
        payload, _, mac = value.partition(".")
        if not _same(mac, self._mac(payload)):
            raise OidcState("the sign-in cookie was altered")
        try:
            login = LoginState(**json.loads(base64.urlsafe_b64decode(payload + "==")))
        except (ValueError, TypeError) as exc:
            raise OidcState("the sign-in cookie is unreadable") from exc
        if now >= login.expires:
            raise OidcState(f"the sign-in took longer than {STATE_TTL_S // 60} minutes")
        if state is None or not _same(state, login.state):
            raise OidcState("the state sent back is not the one of this browser's sign-in")
        return login

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).digest())


@dataclass(frozen=True)
class ProviderMetadata:
    """What the hub uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: tuple[str, ...]


class RelyingParty:
    """The hub's side of the flow, for one provider. Safe to share between threads: its
    caches are replaced whole, and a race only reads a document twice."""

    def __init__(self, settings: OidcSettings, *, state_key: bytes) -> None:
        if settings.issuer is None or settings.client_id is None:
            raise ValueError("OpenID Connect is not configured")
        self.settings = settings
        self.issuer = settings.issuer
        self.client_id = settings.client_id
        self.codec = LoginStateCodec(state_key)
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: KeySet | None = None

    # The flow -----------------------------------------------------------------------

    def begin(self, redirect_uri: str, *, now: float) -> tuple[str, LoginState]:
        """The provider's authorization URL and the sign-in to remember in the cookie."""
        meta = self.metadata()
        login = LoginState(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            expires=int(now) + STATE_TTL_S,
        )
        url: str = prepare_grant_uri(
            meta.authorization_endpoint,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=redirect_uri,
            scope=self.settings.scopes,
            state=login.state,
            nonce=login.nonce,
            code_challenge=create_s256_code_challenge(login.verifier),
            code_challenge_method="S256",
        )
        return url, login

    def identity(
        self, *, code: str, login: LoginState, redirect_uri: str, now: float
    ) -> ExternalIdentity:
        """Exchange the code and validate the id token; who the provider says it is.
        Raises :class:`OidcToken` or :class:`OidcUnavailable`."""
        meta = self.metadata()
        tokens = self._exchange(meta, code, login, redirect_uri)
        claims = self._validated(meta, tokens, login, now)
        wanted = (self.settings.username_claim, self.settings.groups_claim)
        access_token = tokens.get("access_token")
        if any(c not in claims for c in wanted) and meta.userinfo_endpoint and access_token:
            info = self._userinfo(meta.userinfo_endpoint, str(access_token), claims["sub"])
            claims = {**{c: info[c] for c in wanted if c in info}, **claims}
            claims.setdefault("name", info.get("name"))
        return self._identity(meta, claims)

    # The provider's documents ---------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < METADATA_TTL_S:
            return cached[1]
        doc = self._get_json(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
        issuer = doc.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.issuer.rstrip("/"):
            raise OidcToken("the provider's discovery document names another issuer")
        missing = [
            k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)
        ]
        if missing:
            raise OidcToken(f"the provider's discovery document has no {', '.join(missing)}")
        offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = tuple(a for a in offered if a in SIGNING_ALGORITHMS)
        if not algorithms:
            raise OidcToken("the provider signs id tokens with no algorithm the hub accepts")
        userinfo = doc.get("userinfo_endpoint")
        meta = ProviderMetadata(
            issuer=issuer,
            authorization_endpoint=str(doc["authorization_endpoint"]),
            token_endpoint=str(doc["token_endpoint"]),
            jwks_uri=str(doc["jwks_uri"]),
            userinfo_endpoint=str(userinfo) if userinfo else None,
            algorithms=algorithms,
        )
        self._metadata = (time.monotonic(), meta)
        return meta

    def _key_set(self, meta: ProviderMetadata, *, refresh: bool = False) -> KeySet:
        keys = self._keys
        if keys is None or refresh:
            try:
                keys = KeySet.import_key_set(self._get_json(meta.jwks_uri))  # type: ignore[arg-type]
            except (JoseError, ValueError, KeyError, TypeError) as exc:
                raise OidcToken("the provider's key set (JWKS) is not readable") from exc
            self._keys = keys
        return keys

    # Steps ----------------------------------------------------------------------------

    def _exchange(
        self, meta: ProviderMetadata, code: str, login: LoginState, redirect_uri: str
    ) -> dict[str, Any]:
        secret = self.settings.client_secret
        auth = httpx.BasicAuth(  # form-encoded first (RFC 6749, 2.3.1)
            quote_plus(self.client_id),
            quote_plus(secret.get_secret_value() if secret is not None else ""),
        )
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": login.verifier,
        }
        try:
            with self._client() as http:
                r = http.post(
                    meta.token_endpoint,
                    data=data,
                    auth=auth,
                    headers={"Accept": "application/json"},
                )
        except httpx.HTTPError as exc:
            raise OidcUnavailable(
                f"the provider's token endpoint did not answer ({type(exc).__name__})"
            ) from exc
        if r.status_code >= 500:
            raise OidcUnavailable(f"the provider's token endpoint answered {r.status_code}")
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise OidcToken(f"the provider's token endpoint answered {r.status_code}, not JSON")
        if "error" in body or r.status_code != 200:
            error = str(body.get("error", r.status_code))[:100]
            raise OidcToken(f"the provider refused the code ({error})")
        if not isinstance(body.get("id_token"), str):
            raise OidcToken("the provider's token answer has no id token")
        return body

    def _validated(
        self, meta: ProviderMetadata, tokens: dict[str, Any], login: LoginState, now: float
    ) -> dict[str, Any]:
        id_token = tokens["id_token"]
        try:
            try:
                token = jwt.decode(id_token, self._key_set(meta), algorithms=meta.algorithms)
            except InvalidKeyIdError:  # the provider may have rolled its keys over
                token = jwt.decode(
                    id_token, self._key_set(meta, refresh=True), algorithms=meta.algorithms
                )
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise OidcToken(f"the id token's signature is not valid ({_why(exc)})") from exc
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "value": meta.issuer},
                "aud": {"essential": True, "value": self.client_id},
            },
            {
                "nonce": login.nonce,
                "client_id": self.client_id,
                "access_token": tokens.get("access_token"),
            },
        )
        try:
            claims.validate(now=int(now), leeway=LEEWAY_S)
        except JoseError as exc:
            raise OidcToken(f"the id token is not valid ({_why(exc)})") from exc
        return dict(claims)

    def _userinfo(self, url: str, access_token: str, subject: str) -> dict[str, Any]:
        info = self._get_json(url, headers={"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != subject:
            raise OidcToken("the provider's userinfo is about someone else")
        return info

    def _identity(self, meta: ProviderMetadata, claims: dict[str, Any]) -> ExternalIdentity:
        username = claims.get(self.settings.username_claim)
        if not isinstance(username, str) or not username.strip():
            raise OidcToken(
                f"the provider sent no {self.settings.username_claim} claim; "
                "set HUB_API__OIDC__USERNAME_CLAIM or the provider's claims"
            )
        subject = str(claims["sub"])
        if len(subject) > 255 or len(meta.issuer) > 300:
            raise OidcToken("the provider's issuer or the person's sub is too long to keep")
        name = claims.get("name")
        return ExternalIdentity(
            provider=meta.issuer,
            subject=subject,
            username=username,
            display_name=name if isinstance(name, str) else None,
            groups=_strings(claims.get(self.settings.groups_claim), self.settings.groups_claim),
            methods=_strings(claims.get("amr"), "amr"),
        )

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.settings.timeout_s, follow_redirects=False)

    def _get_json(self, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        try:
            with self._client() as http:
                r = http.get(url, headers={"Accept": "application/json", **(headers or {})})
        except httpx.HTTPError as exc:
            raise OidcUnavailable(
                f"the identity provider did not answer ({type(exc).__name__})"
            ) from exc
        if r.status_code != 200:
            raise OidcUnavailable(f"the identity provider answered {r.status_code} at {url}")
        try:
            body = r.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise OidcToken(f"the identity provider's answer at {url} is not a JSON object")
        return body


def _strings(value: object, claim: str) -> tuple[str, ...]:
    """A claim that lists strings (one string counts as a list of one; absent: none)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise OidcToken(f"the id token's {claim} claim is not a list of strings")


def _why(exc: Exception) -> str:
    if isinstance(exc, JoseError) and exc.error:
        return f"{exc.error}: {exc.description}" if exc.description else exc.error
    return type(exc).__name__


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
