"""What the ingest worker knows of a message as it decides, and what it decides.

A :class:`Delivered` message goes in; the checks (:mod:`integration.ingest.worker`) make a
:class:`Pending` batch to land, a :class:`Repeat` of a batch already accepted, or a
:class:`Refused` message to quarantine; :mod:`integration.ingest.recording` turns each into
an :class:`Outcome` with its receipt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from governance.deliveries.models import IngestedBatch
from schemas.envelope import BatchHeaders, Message, OpenedBatch
from schemas.validation import Problem

#: The agreement a receipt names when the message's own claim cannot be trusted.
NO_AGREEMENT = ("none", 0)

Status = Literal["accepted", "duplicate", "quarantined"]


@dataclass(frozen=True)
class Delivered:
    """One message as read from Kafka."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Outcome:
    """The decision on one message, the receipt to send (topic, message) and, for a
    refusal, the notice for the quarantine topic."""

    status: Status
    batch_id: str
    agency: str | None
    reason_code: str | None = None
    message: str = ""
    receipt_topic: str | None = None
    receipt: Message | None = None
    snapshot_id: int | None = None
    quarantine_id: str | None = None
    records: int = 0
    notice: Message | None = None
    replayed: bool = False


@dataclass
class Known:
    """What is known of a message so far (for the quarantine row and receipt)."""

    agency: str | None = None
    dataset: str | None = None
    batch_id: str | None = None
    agreement: tuple[str, int] = NO_AGREEMENT
    records: int = 0
    # True once the signature verified and the batch id is the one the bytes give: only
    # then may a receipt name the batch (see UNVERIFIED_REASONS).
    bound: bool = False


@dataclass
class Pending:
    """A verified, covered batch new to the ledger: to land in the lake."""

    delivered: Delivered
    opened: OpenedBatch
    headers: BatchHeaders
    digest: str
    agreement_version: int  # the version whose terms cover it (see replay)
    columns: dict[str, list[Any]]  # the records column-wise, by reader field name
    rows: int  # (``opened`` keeps no records: the group holds them column-wise only)

    @property
    def batch_id(self) -> str:
        return self.headers.batch_id


@dataclass
class Refused:
    """A message refused, with what is known of it and why (the quarantine reason)."""

    delivered: Delivered
    value: bytes
    known: Known
    code: str
    message: str
    digest: str
    problems: tuple[Problem, ...] = ()


@dataclass
class Repeat:
    """A batch already accepted (ledger) or already pending in this group."""

    previous: IngestedBatch | None = None
    pending: Pending | None = None


Decision = Pending | Refused | Repeat
