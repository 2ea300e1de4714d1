"""Re-keying of tokens: the hub replaces each connector token t by a token of the same
key id whose 30 MAC bytes are the first 30 of HMAC-SHA256(K_hub, t).

Agencies share K_link so their tokens link; re-keying with the hub's own K_hub means a
party holding K_link alone cannot recompute the tokens stored in the lake. The key id
(the K_link generation, :mod:`lmis_hub.tokens`) stays in the clear in front, so the
linkage tells generations apart and never compares tokens of two generations; the HMAC
input is the whole incoming token, key id included.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lmis_hub.tokens import KEY_ID_BYTES, TOKEN_BYTES, TOKEN_LAYOUT, make_token

_BLOCK = 64  # SHA-256's block size, as HMAC pads the key to it


class TokenRekeyer:
    """Re-keys the named token fields of records with K_hub (its bytes never in repr)."""

    __slots__ = ("_inner", "_key", "_outer", "version")

    def __init__(self, key: bytes, *, version: int) -> None:
        if len(key) < TOKEN_BYTES:
            raise ValueError(f"K_hub must be at least {TOKEN_BYTES} bytes, not {len(key)}")
        self._key = key
        self.version = version
        # HMAC's keyed inner and outer hash states, computed once (RFC 2104): each token
        # then costs two copies and two updates instead of a new HMAC object.
        padded = (hashlib.sha256(key).digest() if len(key) > _BLOCK else key).ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def __repr__(self) -> str:
        return f"TokenRekeyer(version={self.version})"

    def token(self, token: bytes) -> bytes:
        """``token``'s key id, then HMAC-SHA256(K_hub, token) truncated to 30 bytes;
        ``token`` must be 32 bytes."""
        if len(token) != TOKEN_BYTES:
            raise ValueError(f"a token is {TOKEN_BYTES} bytes, not {len(token)}")
        mac = hmac.new(self._key, token, hashlib.sha256).digest()
        return make_token(token[:KEY_ID_BYTES], mac)

    def column(
        self, values: Sequence[bytes | Sequence[bytes] | None]
    ) -> list[bytes | list[bytes] | None]:
        """One column of tokens re-keyed (nulls stay null); the same as :meth:`token`
        on each value. A value of an array token field (a list of tokens) is re-keyed
        element by element."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        # make_token without a Python call per token: the layout packs the incoming
        # token's first two bytes (its key id) and cuts the MAC to 30 bytes.
        layout = TOKEN_LAYOUT.pack

        def rekey(value: bytes) -> bytes:
            if len(value) != TOKEN_BYTES:
                raise ValueError(f"a token is {TOKEN_BYTES} bytes, not {len(value)}")
            inner = inner_copy()
            inner.update(value)
            outer = outer_copy()
            outer.update(inner.digest())
            return layout(value, outer.digest())

        out: list[bytes | list[bytes] | None] = []
        append = out.append
        for value in values:
            if value is None:
                append(None)
            elif isinstance(value, bytes):
                append(rekey(value))
            else:
                append([rekey(element) for element in value])
        return out

    def records(
        self, records: Iterable[Mapping[str, Any]], token_fields: Iterable[str]
    ) -> list[dict[str, Any]]:
        """Copies of ``records`` with every non-null token field re-keyed (each element
        of an array token field)."""
        names = tuple(token_fields)
        out: list[dict[str, Any]] = []
        for record in records:
            copy = dict(record)
            for name in names:
                value = copy.get(name)
                if isinstance(value, bytes):
                    copy[name] = self.token(value)
                elif value is not None:
                    copy[name] = [self.token(element) for element in value]
            out.append(copy)
        return out
