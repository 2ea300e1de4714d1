"""Re-signing helpers: build messages whose signature is valid but whose content is wrong."""

from __future__ import annotations

from schemas.envelope import Message, batch_id_of
from schemas.signing import SIGNATURE_HEADER, Signer, envelope_digest


def resign(message: Message, signer: Signer, *, value: bytes | None = None, **changes: bytes):
    """A copy of ``message`` with headers/value changed and a fresh valid signature.

    As a hostile producer holding the key would, the batch id (and, for a one-part
    batch, the batch group) is recomputed for the new bytes and headers, so the message
    passes the id check and reaches the check under test; name ``batch_id`` (or
    ``batch_group``) explicitly to send a wrong one.
    """
    headers = {k: v for k, v in message.headers if k != SIGNATURE_HEADER}
    for name, item in changes.items():
        headers["lmis-" + name.replace("_", "-")] = item
    value = message.value if value is None else value
    if "batch_id" not in changes:
        try:
            batch_id = batch_id_of(
                headers["lmis-agency"].decode(),
                headers["lmis-dataset"].decode(),
                headers["lmis-schema-fingerprint"].decode(),
                int(headers["lmis-part-index"]),
                int(headers["lmis-part-count"]),
                value,
            ).encode()
        except (KeyError, ValueError, UnicodeDecodeError):
            batch_id = headers.get("lmis-batch-id", b"")  # malformed on purpose: leave it
        one_part = headers.get("lmis-batch-group") == headers.get("lmis-batch-id")
        headers["lmis-batch-id"] = batch_id
        if one_part and "batch_group" not in changes:
            headers["lmis-batch-group"] = batch_id
    signature = signer.sign(envelope_digest(headers, value)).hex().encode()
    return Message(message.key, value, [*headers.items(), (SIGNATURE_HEADER, signature)])
