"""The linkage key K_link: loaded from a passphrase-encrypted file or a secret setting.

The key file is JSON: scrypt derives a 256-bit key-encryption key from the passphrase
and a random salt; AES-256-GCM encrypts K_link, with the format and the key id as
associated data so a file cannot be relabelled. The key object never shows its bytes in
``repr``/``str``.

The key id is the key's **generation** (1..65535, :data:`lmis_hub.tokens.MAX_KEY_ID`),
chosen by the key custodian and carried by every token the key makes
(:func:`lmis_hub.tokens.make_token`). Files of the first format
(``lmis-link-key/1``) named the key with a free label and are read as generation 1, the
only generation there was before tokens carried the id.
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
from lmis_hub.tokens import MIN_KEY_ID, check_key_id, key_id_prefix

FORMAT = "lmis-link-key/2"
#: The first format: ``key_id`` a free label (the associated data), read as generation 1.
FORMAT_V1 = "lmis-link-key/1"
KEY_BYTES = 32
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


def parse_key_id(value: int | str, *, where: str) -> int:
    """A key id from a number or a setting's text; a label that is not a number names a
    key from before key ids, which is generation 1 (:data:`MIN_KEY_ID`)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or not text.isdigit():
            return MIN_KEY_ID
        value = int(text)
    try:
        return check_key_id(value)
    except ValueError as exc:
        raise LinkKeyInvalid(f"{where}: {exc}") from exc


class LinkKey:
    """K_link: 32 secret bytes and its key id, the generation the key custodian issued."""

    __slots__ = ("_secret", "key_id", "token_prefix")

    def __init__(self, secret: bytes, *, key_id: int | str) -> None:
        #: The generation (text that is not a number: a label from before key ids, 1).
        self.key_id = parse_key_id(key_id, where="link key")
        if len(secret) != KEY_BYTES:
            raise LinkKeyInvalid(f"link key {self.key_id} must be {KEY_BYTES} bytes")
        self._secret = secret
        #: The two bytes every token of this key starts with (its key id).
        self.token_prefix = key_id_prefix(self.key_id)

    def reveal(self) -> bytes:
        """The key bytes, for the HMAC only."""
        return self._secret

    def __repr__(self) -> str:
        return f"LinkKey(key_id={self.key_id}, secret=**********)"

    __str__ = __repr__

    @classmethod
    def from_secret(cls, value: SecretStr, *, key_id: int | str) -> LinkKey:
        """A key given as base64 in a secret setting."""
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise LinkKeyInvalid(f"link key {key_id} setting is not base64") from exc
        return cls(raw, key_id=key_id)

    @classmethod
    def generate(cls, *, key_id: int | str) -> LinkKey:
        """A fresh random key (for the key custodian and tests)."""
        return cls(os.urandom(KEY_BYTES), key_id=key_id)


def _kek(passphrase: SecretStr, salt: bytes, n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
    return kdf.derive(passphrase.get_secret_value().encode("utf-8"))


def _associated_data(key_id: int) -> bytes:
    return f"{FORMAT} key_id={key_id}".encode("ascii")


def write_link_key_file(
    path: Path, key: LinkKey, passphrase: SecretStr, *, scrypt_n: int = SCRYPT_N
) -> None:
    """Write ``key`` encrypted under ``passphrase`` (file mode 0600)."""
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = _kek(passphrase, salt, scrypt_n, SCRYPT_R, SCRYPT_P)
    ciphertext = AESGCM(kek).encrypt(nonce, key.reveal(), _associated_data(key.key_id))
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


def _read_doc(path: Path) -> tuple[dict[str, Any], int, bytes]:
    """The key file's JSON, its key id and the associated data its ciphertext is bound to."""
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LinkKeyInvalid(f"link key file {path}: cannot be read ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise LinkKeyInvalid(f"link key file {path}: not JSON (line {exc.lineno})") from exc
    if not isinstance(doc, dict) or doc.get("format") not in (FORMAT, FORMAT_V1):
        raise LinkKeyInvalid(f"link key file {path}: format is not {FORMAT!r}")
    label = doc.get("key_id")
    if doc["format"] == FORMAT_V1:  # a free label, from before tokens carried the id
        if not isinstance(label, str):
            raise LinkKeyInvalid(f"link key file {path}: field missing or malformed")
        return doc, MIN_KEY_ID, label.encode("utf-8")
    if isinstance(label, bool) or not isinstance(label, int):
        raise LinkKeyInvalid(f"link key file {path}: key_id is not a number")
    key_id = parse_key_id(label, where=f"link key file {path}")
    return doc, key_id, _associated_data(key_id)


def read_link_key_id(path: Path) -> int:
    """The key id a key file names, read without decrypting it (to choose the next
    generation); :func:`load_link_key` is what proves the id belongs to the key."""
    return _read_doc(path)[1]


def load_link_key(path: Path, passphrase: SecretStr) -> LinkKey:
    """Decrypt the key file; a wrong passphrase or altered file is a LinkKeyInvalid."""
    doc, key_id, associated = _read_doc(path)
    try:
        kdf = doc["kdf"]
        salt = base64.b64decode(doc["salt"])
        nonce = base64.b64decode(doc["nonce"])
        ciphertext = base64.b64decode(doc["ciphertext"])
        kek = _kek(passphrase, salt, int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise LinkKeyInvalid(f"link key file {path}: field missing or malformed") from exc
    try:
        secret = AESGCM(kek).decrypt(nonce, ciphertext, associated)
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
    key_id: int | str = MIN_KEY_ID,
) -> LinkKey:
    """K_link from the secret setting when given, else from the encrypted key file.

    The entry point passes ``settings.connector.*`` and the config's
    ``tokenise.link_key_file``; nothing here reads the environment. ``key_id`` is the
    generation of a key given in the setting (``HUB_CONNECTOR__LINK_KEY_ID``; text that
    is not a number, such as the old default ``link``, is generation 1); a key file
    names its own.
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
