"""Ed25519 key material: generation, PEM files, key ids.

A key id is ``<agency>-<first 16 hex digits of SHA-256 of the raw public key>``, so it
is the same wherever it is computed and names exactly one key.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from schemas.errors import KeyInvalid


def key_id_for(agency: str, public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{agency}-{hashlib.sha256(raw).hexdigest()[:16]}"


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def encrypted_private_pem(private_key: Ed25519PrivateKey, passphrase: bytes) -> bytes:
    """PKCS#8 PEM encrypted with the best available scheme for ``passphrase``."""
    if not passphrase:
        raise KeyInvalid("an empty passphrase would leave the private key unprotected")
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def load_public_pem(data: bytes | str, *, where: str = "public key") -> Ed25519PublicKey:
    raw = data.encode("ascii") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_public_key(raw)
    except ValueError as exc:
        raise KeyInvalid(f"{where}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyInvalid(f"{where}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_private_pem(
    data: bytes, passphrase: bytes, *, where: str = "private key"
) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise KeyInvalid(f"{where}: cannot load (wrong passphrase or not PKCS#8 PEM)") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyInvalid(f"{where}: not an Ed25519 key ({type(key).__name__})")
    return key
