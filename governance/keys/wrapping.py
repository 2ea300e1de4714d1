"""Envelope encryption of the hub's secrets.

A fresh random 256-bit data key encrypts each secret with AES-256-GCM; the
key-encryption key (KEK, ``HUB_KEY_ENCRYPTION_KEY``: base64 of 32 bytes) wraps that
data key with AES-256-GCM. Associated data binds both to the secret's name and version.
Only the wrapped data key, nonces and ciphertext are stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr
from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.errors import SecretUndecryptable
from lmis_hub.errors import ConfigurationError


class KeyEncryptionKey:
    """The KEK; its bytes never appear in ``repr``, logs or errors."""

    __slots__ = ("_key", "kek_id")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError(
                f"HUB_KEY_ENCRYPTION_KEY must decode to 32 bytes, not {len(key)}"
            )
        self._key = key
        #: A public, non-reversible name of the KEK, stored to tell which KEK wrapped a key.
        self.kek_id = hashlib.sha256(b"lmis-kek-id\x1f" + key).hexdigest()[:16]

    @classmethod
    def from_setting(cls, value: SecretStr | None) -> KeyEncryptionKey:
        if value is None:
            raise ConfigurationError(
                "HUB_KEY_ENCRYPTION_KEY is not set; it is needed to read or write hub secrets "
                "(base64 of 32 random bytes)"
            )
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigurationError("HUB_KEY_ENCRYPTION_KEY is not valid base64") from exc
        return cls(raw)

    @staticmethod
    def generate_b64() -> str:
        return base64.b64encode(os.urandom(32)).decode("ascii")

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(kek_id={self.kek_id!r})"

    def aead(self) -> AESGCM:
        return AESGCM(self._key)

    def derive(self, info: str, length: int = 32) -> bytes:
        """A key for one other purpose, named by ``info`` (HKDF-SHA256): knowing it tells
        nothing of the KEK or of the keys derived for other purposes."""
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info.encode()).derive(
            self._key
        )


@dataclass(frozen=True)
class Envelope:
    kek_id: str
    wrap_nonce: bytes
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes


def seal(kek: KeyEncryptionKey, plaintext: bytes, *, aad: bytes) -> Envelope:
    data_key = AESGCM.generate_key(bit_length=256)
    nonce, wrap_nonce = os.urandom(12), os.urandom(12)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, aad)
    wrapped = kek.aead().encrypt(wrap_nonce, data_key, aad)
    return Envelope(kek.kek_id, wrap_nonce, wrapped, nonce, ciphertext)


def open_envelope(kek: KeyEncryptionKey, envelope: Envelope, *, aad: bytes) -> bytes:
    where = aad.decode("utf-8", "replace")
    if envelope.kek_id != kek.kek_id:
        raise SecretUndecryptable(
            f"secret {where} was wrapped by KEK {envelope.kek_id}, not by the configured "
            f"KEK {kek.kek_id}"
        )
    try:
        data_key = kek.aead().decrypt(envelope.wrap_nonce, envelope.wrapped_key, aad)
        return AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, aad)
    except InvalidTag as exc:
        raise SecretUndecryptable(f"secret {where} fails authentication (altered?)") from exc


class SealedColumns:
    """Mixin for a table row that stores one :class:`Envelope` (the five sealed columns).

    Hub secrets and quarantined messages keep their ciphertext the same way; this is
    the one place that says how an envelope maps onto columns.
    """

    kek_id: Mapped[str] = mapped_column(String(16))
    wrap_nonce: Mapped[bytes] = mapped_column(LargeBinary)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)

    @staticmethod
    def columns_of(envelope: Envelope) -> dict[str, Any]:
        """Constructor keyword arguments that store ``envelope``."""
        return {
            "kek_id": envelope.kek_id,
            "wrap_nonce": envelope.wrap_nonce,
            "wrapped_key": envelope.wrapped_key,
            "nonce": envelope.nonce,
            "ciphertext": envelope.ciphertext,
        }

    def envelope(self) -> Envelope:
        """The stored envelope, ready for :func:`open_envelope`."""
        return Envelope(self.kek_id, self.wrap_nonce, self.wrapped_key, self.nonce, self.ciphertext)
