"""The linkage-key hand-over: K_link sealed to one agency's key, opened only there.

K_link is shared by the agencies' connectors and must never reach the hub. One key
custodian generates it (``lmis-hub keys link-generate``) and hands each agency its own
copy sealed to that agency (``lmis-hub keys link-seal``): a libsodium **sealed box**
(PyNaCl; X25519 + XSalsa20-Poly1305 with an ephemeral sender key) to the Curve25519 form
of the agency's registered Ed25519 signing key. Only the holder of that agency's private
key can open it (``lmis-hub keys link-open``), which writes the passphrase-encrypted key
file the connector config names (``tokenise.link_key_file``). Nothing here is hand-made
cryptography: sealing and the Ed25519 → Curve25519 conversion are libsodium's.

The sealed file is JSON (:data:`FORMAT`): the agency, the id of the agency key it is
sealed to, the link key's id (its generation, which the tokens carry), and the sealed
bytes. The plaintext repeats the agency and the link key id, so relabelling the outer
document is detected when it is opened. The hub can record each hand-over in its audit
log (``lmis-hub keys link-handover``) from the file's SHA-256 and labels alone: it never
sees the key. A copy sealed in the first format (a free label for the key, before
tokens carried the id) is refused: the custodian seals it again from the key file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from nacl.signing import SigningKey, VerifyKey

from connectors.sdk.errors import LinkKeyInvalid
from connectors.sdk.linkkey import KEY_BYTES, LinkKey, parse_key_id

FORMAT = "lmis-link-key-sealed/2"
_FORMAT_V1 = "lmis-link-key-sealed/1"
_INNER = "lmis-link-key-plain/2"


@dataclass(frozen=True)
class SealedLinkKey:
    """One agency's sealed copy of K_link, as written to a file."""

    agency: str
    recipient_key_id: str
    link_key_id: int
    sealed: bytes

    def to_bytes(self) -> bytes:
        doc = {
            "format": FORMAT,
            "agency": self.agency,
            "recipient_key_id": self.recipient_key_id,
            "link_key_id": self.link_key_id,
            "sealed": base64.b64encode(self.sealed).decode("ascii"),
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @property
    def digest(self) -> str:
        """SHA-256 of the file: what the hub records for the hand-over."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> SealedLinkKey:
        try:
            doc: dict[str, Any] = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LinkKeyInvalid(f"{where}: not a sealed link key (not JSON)") from exc
        if isinstance(doc, dict) and doc.get("format") == _FORMAT_V1:
            raise LinkKeyInvalid(
                f"{where}: sealed before linkage keys had generation numbers; ask the "
                f"custodian to seal it again (lmis-hub keys link-seal)"
            )
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise LinkKeyInvalid(f"{where}: format is not {FORMAT!r}")
        link_key_id = doc.get("link_key_id")
        if isinstance(link_key_id, bool) or not isinstance(link_key_id, int):
            raise LinkKeyInvalid(f"{where}: link_key_id is not a number")
        try:
            return cls(
                agency=str(doc["agency"]),
                recipient_key_id=str(doc["recipient_key_id"]),
                link_key_id=parse_key_id(link_key_id, where=where),
                sealed=base64.b64decode(doc["sealed"], validate=True),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise LinkKeyInvalid(f"{where}: a field is missing or malformed") from exc


def seal_link_key(
    key: LinkKey, *, agency: str, recipient_key_id: str, recipient: Ed25519PublicKey
) -> SealedLinkKey:
    """Seal ``key`` to the agency whose registered signing key is ``recipient``."""
    raw = recipient.public_bytes(Encoding.Raw, PublicFormat.Raw)
    box = SealedBox(VerifyKey(raw).to_curve25519_public_key())
    plain = json.dumps(
        {
            "format": _INNER,
            "agency": agency,
            "link_key_id": key.key_id,
            "key": base64.b64encode(key.reveal()).decode("ascii"),
        },
        sort_keys=True,
    ).encode("utf-8")
    return SealedLinkKey(agency, recipient_key_id, key.key_id, box.encrypt(plain))


def open_link_key(sealed: SealedLinkKey, private: Ed25519PrivateKey, *, where: str) -> LinkKey:
    """Open an agency's sealed copy with that agency's private signing key."""
    seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    box = SealedBox(SigningKey(seed).to_curve25519_private_key())
    try:
        plain = json.loads(box.decrypt(sealed.sealed))
    except CryptoError as exc:
        raise LinkKeyInvalid(
            f"{where}: cannot be opened with this key (sealed to {sealed.recipient_key_id}, "
            f"or the file was altered)"
        ) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # pragma: no cover - sealed junk
        raise LinkKeyInvalid(f"{where}: the sealed content is not a link key") from exc
    if (
        not isinstance(plain, dict)
        or plain.get("format") != _INNER
        or (plain.get("agency"), plain.get("link_key_id")) != (sealed.agency, sealed.link_key_id)
    ):
        raise LinkKeyInvalid(
            f"{where}: the labels outside do not match the sealed content; ask the custodian "
            f"for a new copy"
        )
    try:
        secret = base64.b64decode(plain["key"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise LinkKeyInvalid(f"{where}: the sealed key is malformed") from exc
    if len(secret) != KEY_BYTES:
        raise LinkKeyInvalid(f"{where}: the sealed key is not {KEY_BYTES} bytes")
    return LinkKey(secret, key_id=sealed.link_key_id)
