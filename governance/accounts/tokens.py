"""The form of API tokens and how random secrets are kept.

An API token is ``lmis_<id>_<secret>``: ``id`` is 12 hex digits, public (it names the
token in lists and in the audit log), ``secret`` is 32 random bytes, URL-safe base64.
The hub keeps only the SHA-256 of the secret: a token, a session id or a recovery code
is random and long, so a fast hash is enough (a password is not, see
:mod:`governance.accounts.passwords`), and comparing digests runs in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "lmis"
ID_HEX = 12
SECRET_BYTES = 32
_TOKEN = re.compile(rf"^{PREFIX}_([0-9a-f]{{{ID_HEX}}})_([A-Za-z0-9_-]{{40,64}})$")


@dataclass(frozen=True)
class TokenParts:
    """A token string taken apart; ``repr`` leaves the secret out."""

    id: str
    secret: str

    def __repr__(self) -> str:
        return f"TokenParts(id={self.id!r})"


def new_secret() -> str:
    """A random secret: 32 bytes, URL-safe base64 (session ids, CSRF tokens, tokens)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def new_token() -> TokenParts:
    """A fresh token: a new public id and a new secret."""
    return TokenParts(secrets.token_hex(ID_HEX // 2), new_secret())


def token_string(parts: TokenParts) -> str:
    """The token as the client sends it."""
    return f"{PREFIX}_{parts.id}_{parts.secret}"


def parse_token(token: str) -> TokenParts | None:
    """The id and secret of a token string; None when it is not shaped like one."""
    match = _TOKEN.match(token.strip())
    if match is None:
        return None
    return TokenParts(match.group(1), match.group(2))


def digest(secret: str) -> str:
    """The SHA-256 (hex) kept in place of a random secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def digest_matches(secret: str, stored: str) -> bool:
    """True when ``secret`` has the digest ``stored`` (compared in constant time)."""
    return hmac.compare_digest(digest(secret), stored)
