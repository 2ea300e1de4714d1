"""Re-signing helpers: build messages whose signature is valid but whose content is wrong."""

from __future__ import annotations

from schemas.envelope import Message
from schemas.signing import SIGNATURE_HEADER, Signer, envelope_digest


def resign(message: Message, signer: Signer, *, value: bytes | None = None, **changes: bytes):
    """A copy of ``message`` with headers/value changed and a fresh valid signature."""
    headers = {k: v for k, v in message.headers if k != SIGNATURE_HEADER}
    for name, item in changes.items():
        headers["lmis-" + name.replace("_", "-")] = item
    value = message.value if value is None else value
    signature = signer.sign(envelope_digest(headers, value)).hex().encode()
    return Message(message.key, value, [*headers.items(), (SIGNATURE_HEADER, signature)])
