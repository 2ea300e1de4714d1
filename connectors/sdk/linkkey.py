"""The linkage key K_link: loaded from a passphrase-encrypted file or a secret setting.

The key file is JSON: scrypt derives a 256-bit key-encryption key from the passphrase
and a random salt; AES-256-GCM encrypts K_link, with the key id as associated data so
a file cannot be relabelled. The key object never shows its bytes in ``repr``/``str``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr

from connectors.sdk.errors import LinkKeyInvalid

FORMAT = "lmis-link-key/1"
KEY_BYTES = 32
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


class LinkKey:
    """K_link: 32 secret bytes and the id under which the key custodian issued them."""

    __slots__ = ("_secret", "key_id")

    def __init__(self, secret: bytes, *, key_id: str) -> None:
        if len(secret) != KEY_BYTES:
            raise LinkKeyInvalid(f"link key {key_id!r} must be {KEY_BYTES} bytes")
        self._secret = secret
        self.key_id = key_id

    def reveal(self) -> bytes:
        """The key bytes, for the HMAC only."""
        return self._secret

    def __repr__(self) -> str:
        return f"LinkKey(key_id={self.key_id!r}, secret=**********)"

    __str__ = __repr__

    @classmethod
    def from_secret(cls, value: SecretStr, *, key_id: str) -> LinkKey:
        """A key given as base64 in a secret setting."""
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise LinkKeyInvalid(f"link key {key_id!r} setting is not base64") from exc
        return cls(raw, key_id=key_id)

    @classmethod
    def generate(cls, *, key_id: str) -> LinkKey:
        """A fresh random key (for the key custodian and tests)."""
        return cls(os.urandom(KEY_BYTES), key_id=key_id)


def _kek(passphrase: SecretStr, salt: bytes, n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
    return kdf.derive(passphrase.get_secret_value().encode("utf-8"))


def write_link_key_file(
    path: Path, key: LinkKey, passphrase: SecretStr, *, scrypt_n: int = SCRYPT_N
) -> None:
    """Write ``key`` encrypted under ``passphrase`` (file mode 0600)."""
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _kek(passphrase, salt, scrypt_n, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(kek).encrypt(nonce, key.reveal(), key.key_id.encode("utf-8"))
    doc = {
        "format": FORMAT,
        "key_id": key.key_id,
        "kdf": {"name": "scrypt", "n": scrypt_n, "r": SCRYPT_R, "p": SCRYPT_P},
        "salt": base64.b64encode(salt).decode("ascii"),
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    path.chmod(0o600)


def load_link_key(path: Path, passphrase: SecretStr) -> LinkKey:
    """Decrypt the key file; a wrong passphrase or altered file is a LinkKeyInvalid."""
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LinkKeyInvalid(f"link key file {path}: cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise LinkKeyInvalid(f"link key file {path}: not JSON (line {exc.lineno})") from exc
    if doc.get("format") != FORMAT:
        raise LinkKeyInvalid(f"link key file {path}: format is not {FORMAT!r}")
    try:
        kdf = doc["kdf"]
        salt = base64.b64decode(doc["salt"])
        nonce = base64.b64decode(doc["nonce"])
        ciphertext = base64.b64decode(doc["ciphertext"])
        key_id = str(doc["key_id"])
        kek = _kek(passphrase, salt, int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise LinkKeyInvalid(f"link key file {path}: field missing or malformed") from exc
    try:
        secret = AESGCM(kek).decrypt(nonce, ciphertext, key_id.encode("utf-8"))
    except InvalidTag as exc:
        raise LinkKeyInvalid(
            f"link key file {path}: wrong passphrase or the file was altered"
        ) from exc
    return LinkKey(secret, key_id=key_id)


def resolve_link_key(
    *,
    key_file: Path | None,
    passphrase: SecretStr | None,
    key: SecretStr | None,
    key_id: str = "link",
) -> LinkKey:
    """K_link from the secret setting when given, else from the encrypted key file.

    The entry point passes ``settings.connector.*`` and the config's
    ``tokenise.link_key_file``; nothing here reads the environment.
    """
    if key is not None:
        return LinkKey.from_secret(key, key_id=key_id)
    if key_file is None:
        raise LinkKeyInvalid(
            "no linkage key: set tokenise.link_key_file or HUB_CONNECTOR__LINK_KEY"
        )
    if passphrase is None:
        raise LinkKeyInvalid(
            f"link key file {key_file}: set HUB_CONNECTOR__LINK_KEY_PASSPHRASE to decrypt it"
        )
    return load_link_key(key_file, passphrase)
