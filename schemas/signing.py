"""Ed25519 signatures over the envelope's canonical digest.

The digest another implementation must reproduce to verify a message::

    digest = SHA-256(
        b"lmis-envelope-v1"
        || for each signed header, in SIGNED_HEADERS order:
               name (ASCII) || 0x00 || u32be(len(value)) || value
        || b"value" || 0x00 || u32be(32) || SHA-256(message value)
    )
    lmis-signature = lowercase hex of Ed25519(private key, digest)   (128 characters)

``u32be`` is a 4-byte big-endian unsigned length; ``value`` is the header's bytes exactly
as sent. Every signed header is present in every message (see :mod:`schemas.envelope`).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

DIGEST_PREFIX = b"lmis-envelope-v1"

#: The headers the signature covers, in the order the digest takes them.
SIGNED_HEADERS: tuple[str, ...] = (
    "lmis-envelope",
    "lmis-agency",
    "lmis-dataset",
    "lmis-agreement-id",
    "lmis-agreement-version",
    "lmis-schema-fingerprint",
    "lmis-batch-id",
    "lmis-batch-group",
    "lmis-part-index",
    "lmis-part-count",
    "lmis-record-count",
    "lmis-producer-time",
    "lmis-key-id",
)
SIGNATURE_HEADER = "lmis-signature"


@dataclass(frozen=True)
class Signer:
    """A key id and the Ed25519 private key it names."""

    key_id: str
    private_key: Ed25519PrivateKey = field(repr=False)

    def sign(self, digest: bytes) -> bytes:
        return self.private_key.sign(digest)

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def envelope_digest(headers: Mapping[str, bytes], value: bytes) -> bytes:
    """The canonical digest of a message (``headers`` must hold every signed header)."""
    h = hashlib.sha256(DIGEST_PREFIX)
    for name in SIGNED_HEADERS:
        item = headers[name]
        h.update(name.encode("ascii") + b"\x00" + struct.pack(">I", len(item)) + item)
    h.update(b"value\x00" + struct.pack(">I", 32) + hashlib.sha256(value).digest())
    return h.digest()


def verify(public_key: Ed25519PublicKey, signature: bytes, digest: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s signature of ``digest``."""
    try:
        public_key.verify(signature, digest)
    except InvalidSignature:
        return False
    return True
