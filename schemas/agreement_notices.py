"""Agreement notices: the hub tells an agency that a version of its agreement is superseded.

When a newer version of a data-sharing agreement is activated, the older one stops
governing deliveries (batches naming it are refused with
``agreement.version_superseded``). The hub then sends the provider a notice on its
receipts topic ``lmis.receipts.<agency>``: a one-record envelope of the dataset
``hub/agreement_notice`` (``schemas/avro/hub/agreement_notice/v1.avsc``), signed by the
hub's key exactly like a receipt, so the connector verifies it with the same code.

The receipts topic carries two kinds of message. A notice has the Kafka header
``lmis-kind: agreement_notice``; a receipt has no such header (receipts predate it) or
``lmis-kind: receipt``. The header only routes: it is not signed, and a consumer still
checks that the verified writer schema is the kind it expects. A consumer skips a kind
it does not know, so kinds can be added without breaking older connectors' reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.catalog import SchemaCatalog
from schemas.envelope import HeaderInput, Message, open_batch, seal_batch
from schemas.errors import SchemaMismatch
from schemas.receipts import HUB_AGENCY
from schemas.signing import Signer

AGREEMENT_NOTICE_DATASET = "agreement_notice"
#: The Kafka header naming the kind of a message on a receipts topic (not signed).
KIND_HEADER = "lmis-kind"
RECEIPT_KIND = "receipt"
AGREEMENT_NOTICE_KIND = "agreement_notice"


@dataclass(frozen=True)
class Supersession:
    """What an agreement notice says: ``superseded_version`` of ``agreement_id`` no longer
    governs deliveries; ``current_version`` does."""

    agency: str
    agreement_id: str
    superseded_version: int
    current_version: int
    activated_at: datetime

    def to_record(self) -> dict[str, object]:
        return {
            "record_id": (
                f"{self.agreement_id}:v{self.superseded_version}:v{self.current_version}"
            ),
            "notice_date": self.activated_at.astimezone(UTC).date(),
            "agency": self.agency,
            "agreement_id": self.agreement_id,
            "superseded_version": self.superseded_version,
            "current_version": self.current_version,
            "activated_at": self.activated_at,
        }


def message_kind(headers: HeaderInput) -> str:
    """The kind a message on a receipts topic says it is (``receipt`` without the header)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if name == KIND_HEADER:
            if isinstance(value, bytes):
                return value.decode("ascii", "replace")
            return str(value)
    return RECEIPT_KIND


def seal_agreement_notice(
    notice: Supersession, *, catalog: SchemaCatalog, signer: Signer, now: datetime
) -> Message:
    """The signed message carrying ``notice`` (signed with the hub's key), under the
    agreement version now in force, with the ``lmis-kind`` header."""
    schema = catalog.current(HUB_AGENCY, AGREEMENT_NOTICE_DATASET)
    (message,) = seal_batch(
        [notice.to_record()],
        schema=schema,
        agreement_id=notice.agreement_id,
        agreement_version=notice.current_version,
        signer=signer,
        now=now,
    )
    kind = (KIND_HEADER, AGREEMENT_NOTICE_KIND.encode("ascii"))
    return Message(key=message.key, value=message.value, headers=[*message.headers, kind])


def open_agreement_notice(
    value: bytes,
    headers: HeaderInput,
    *,
    catalog: SchemaCatalog,
    public_key_for: Callable[[str], Ed25519PublicKey | None],
    now: datetime,
    max_skew: timedelta,
) -> Supersession:
    """Verify a notice message (same checks as a batch) and return what it says."""
    opened = open_batch(
        value, headers, catalog=catalog, public_key_for=public_key_for, now=now, max_skew=max_skew
    )
    wanted = f"{HUB_AGENCY}/{AGREEMENT_NOTICE_DATASET}"
    if opened.writer.key != wanted or len(opened.records) != 1:
        raise SchemaMismatch(f"message of {opened.writer.key} is not a single agreement notice")
    r = opened.records[0]
    return Supersession(
        agency=r["agency"],
        agreement_id=r["agreement_id"],
        superseded_version=r["superseded_version"],
        current_version=r["current_version"],
        activated_at=r["activated_at"],
    )
