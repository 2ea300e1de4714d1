"""Receipts: the hub's signed answer (accepted or rejected) to every delivered message.

A receipt is itself a one-record envelope of the dataset ``hub/receipt`` (schema
``schemas/avro/hub/receipt/v2.avsc``), signed by the hub's key exactly like a batch, so
the agency verifies it with the same code (:func:`open_receipt`) and keeps it as evidence.
It travels on ``lmis.receipts.<agency>``. The same decision always gives the same
receipt bytes and id (the batch id and outcome determine the record id).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lmis_hub.topics import (
    receipt_topic as receipt_topic,  # named here too, for readers of receipts
)
from schemas.catalog import SchemaCatalog
from schemas.envelope import HeaderInput, Message, open_batch, seal_batch
from schemas.errors import SchemaMismatch
from schemas.signing import Signer
from schemas.validation import Problem

HUB_AGENCY = "hub"
RECEIPT_DATASET = "receipt"

Outcome = Literal["accepted", "rejected"]
#: The most broken rules a receipt lists (the quarantine row's message names the count).
MAX_PROBLEMS = 100


@dataclass(frozen=True)
class Receipt:
    """The hub's decision on one message."""

    batch_id: str
    agency: str
    dataset: str
    outcome: Outcome
    reason_code: str | None
    lake_commit_id: str | None
    records_received: int
    records_accepted: int
    records_rejected: int
    decided_at: datetime
    #: For a refusal of the records' content: the broken rules (never the values).
    problems: tuple[Problem, ...] = ()

    def to_record(self) -> dict[str, object]:
        return {
            "record_id": f"{self.batch_id}:{self.outcome}",
            "receipt_date": self.decided_at.astimezone(UTC).date(),
            "batch_id": self.batch_id,
            "agency": self.agency,
            "dataset": self.dataset,
            "outcome": self.outcome.upper(),
            "reason_code": self.reason_code,
            "lake_commit_id": self.lake_commit_id,
            "records_received": self.records_received,
            "records_accepted": self.records_accepted,
            "records_rejected": self.records_rejected,
            "decided_at": self.decided_at,
            "problems": [
                {"record": p.record, "field": p.field, "rule": p.rule}
                for p in self.problems[:MAX_PROBLEMS]
            ]
            or None,
        }


def seal_receipt(
    receipt: Receipt,
    *,
    catalog: SchemaCatalog,
    agreement_id: str,
    agreement_version: int,
    signer: Signer,
    now: datetime,
) -> Message:
    """The signed message carrying ``receipt`` (signed with the hub's key)."""
    schema = catalog.current(HUB_AGENCY, RECEIPT_DATASET)
    (message,) = seal_batch(
        [receipt.to_record()],
        schema=schema,
        agreement_id=agreement_id,
        agreement_version=agreement_version,
        signer=signer,
        now=now,
    )
    return message


def open_receipt(
    value: bytes,
    headers: HeaderInput,
    *,
    catalog: SchemaCatalog,
    public_key_for: Callable[[str], Ed25519PublicKey | None],
    now: datetime,
    max_skew: timedelta,
) -> Receipt:
    """Verify a receipt message (same checks as a batch) and return the receipt."""
    opened = open_batch(
        value, headers, catalog=catalog, public_key_for=public_key_for, now=now, max_skew=max_skew
    )
    if opened.writer.key != f"{HUB_AGENCY}/{RECEIPT_DATASET}" or len(opened.records) != 1:
        raise SchemaMismatch(f"message of {opened.writer.key} is not a single receipt")
    r = opened.records[0]
    outcome: Outcome = "accepted" if r["outcome"] == "ACCEPTED" else "rejected"
    return Receipt(
        batch_id=r["batch_id"],
        agency=r["agency"],
        dataset=r["dataset"],
        outcome=outcome,
        reason_code=r["reason_code"],
        lake_commit_id=r["lake_commit_id"],
        records_received=r["records_received"],
        records_accepted=r["records_accepted"],
        records_rejected=r["records_rejected"],
        decided_at=r["decided_at"],
        problems=tuple(
            Problem(p["record"], p["field"], p["rule"]) for p in r.get("problems") or ()
        ),
    )


#: Refusals that do not follow from the signed content of the message itself: the
#: signature or key did not verify, the batch id is not the one its bytes give, the
#: message sits on a topic it was not written for (topics are not signed), or its
#: signing time is out of bounds (a signed message can be replayed later by anyone
#: who read it). The hub's rejection receipt for such a message names the SHA-256 of
#: the message value, never the batch id its headers claim, and a connector never
#: settles a batch on such a receipt: anyone with write access to a topic could
#: otherwise have a genuine batch marked rejected.
UNVERIFIED_REASONS: frozenset[str] = frozenset(
    {
        "envelope.missing_header",
        "envelope.bad_header",
        "envelope.oversized",
        "envelope.unknown_schema",
        "envelope.schema_mismatch",
        "envelope.unknown_key",
        "envelope.bad_signature",
        "envelope.bad_framing",
        "envelope.batch_id_mismatch",
        "envelope.future_timestamp",
        "envelope.stale",
        "key.unknown",
        "key.revoked",
        "key.expired",
        "key.not_yet_valid",
        "key.superseded",
        "ingest.key_agency_mismatch",
        "ingest.wrong_topic",
        "ingest.wrong_agency",
        "ingest.undecodable",
        "ingest.check_failed",
    }
)
