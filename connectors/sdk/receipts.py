"""Receipts from the hub, and resending batches that have none.

The hub answers every delivered message (every part of a batch) with a signed receipt
on ``lmis.receipts.<agency>``. :class:`ReceiptApplier` verifies a receipt with the hub's
public key (:func:`schemas.receipts.open_receipt`) and records it against the part it
names; once every part of a batch has its receipt the outbox batch is settled:
``accepted`` when all parts were accepted, else ``rejected`` with the first rejected
part's reason code and the record ids of the rejected parts' records (the rows the
operator must look at; ``connector status`` lists them). Applying the same receipt
again changes nothing.

:class:`ReceiptReader` reads the topic with assign + seek from the offsets stored in the
state database (no consumer group, so no join delay), and stores the next offset in the
same transaction as the receipt it applied. A receipt that does not verify, or names a
batch this connector never sent, is counted and skipped (it is evidence for the LMIS
unit, not a reason to stop reading). When the topic now ends before a stored offset, or
is gone although offsets were stored, the broker has lost its topics (a memory-only
broker restarted): the reader says so once, reads the topic from its start and makes
every batch without a receipt ``pending``, so the same pass sends them all again.

The topic also carries the hub's agreement notices (Kafka header ``lmis-kind:
agreement_notice``, see :mod:`schemas.agreement_notices`): each is verified with the hub's
key like a receipt; one of the connector's agreement is kept in the state database
(:mod:`connectors.sdk.agreement_notices`), one of another agreement is counted and
skipped, one that does not verify is logged and skipped. A message of a kind the
connector does not know is counted and skipped: a newer hub may send kinds this
connector predates.

A rejection whose reason is one of :data:`schemas.receipts.UNVERIFIED_REASONS` (the hub
could not verify the message: signature, key, framing, topic, signing time) never
settles a batch, whatever batch id it names: anyone who can write to the topic could
otherwise have a genuine batch marked rejected. The hub names such a message by the
SHA-256 of its value; when that is one of this connector's parts still without a
receipt, the part is noted ("the hub could not verify this message", shown by
``connector status``) and the batch is sent again, signed anew (see
:func:`connectors.sdk.publisher.resign`).

:func:`resend_due` sends again the batches still ``pending``, and those ``sent`` without
a receipt for longer than a timeout, from the outbox, signed at send time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from connectors.sdk.agreement_notices import record_notice
from connectors.sdk.errors import (
    BatchSettled,
    OutboxDataInvalid,
    ReceiptConflict,
    SigningKeyInvalid,
    UnknownBatch,
)
from connectors.sdk.outbox import Outbox
from connectors.sdk.outbox import Receipt as OutboxReceipt
from connectors.sdk.publisher import EnvelopePublisher, unpack_messages, value_digest
from connectors.sdk.state import StateDB
from schemas.agreement_notices import (
    AGREEMENT_NOTICE_KIND,
    RECEIPT_KIND,
    message_kind,
    open_agreement_notice,
)
from schemas.catalog import SchemaCatalog
from schemas.container import decode_records
from schemas.envelope import HeaderInput, parse_headers
from schemas.errors import (
    EnvelopeError,
    KeyExpired,
    KeyInvalid,
    KeyNotYetValid,
    KeyRevoked,
    KeySuperseded,
    KeyUnknown,
    UnknownKey,
)
from schemas.keys import key_id_for, load_public_pem
from schemas.receipts import HUB_AGENCY, UNVERIFIED_REASONS, Receipt, open_receipt

log = logging.getLogger(__name__)

#: Unverified reasons that mean the hub does not accept the key the message was signed
#: with: sending it again under the same key cannot succeed.
KEY_REASONS = frozenset(
    error.code
    for error in (UnknownKey, KeyUnknown, KeyRevoked, KeyExpired, KeyNotYetValid, KeySuperseded)
)


def load_hub_key(path: Path) -> Ed25519PublicKey:
    """The hub's public key from its PEM file (named by ``hub_public_key_file``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyInvalid(
            f"hub public key file {path}: cannot be read ({exc.strerror})"
        ) from exc
    try:
        return load_public_pem(data, where=str(path))
    except KeyInvalid as exc:
        raise SigningKeyInvalid(exc.message) from exc


@dataclass
class ReceiptReport:
    """What one pass over the receipts topic did."""

    applied: int = 0
    repeated: int = 0
    settled: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    #: Receipts for another dataset of the agency (its connectors share the topic).
    other_datasets: int = 0
    #: (batch id, reason code) of this connector's parts the hub could not verify.
    unverified: list[tuple[str, str]] = field(default_factory=list)
    #: Rejections of messages the hub could not verify that are none of this
    #: connector's parts awaiting a receipt (someone else's, or forged).
    unverified_other: int = 0
    #: The broker had lost the receipts topic; every batch without a receipt was
    #: made pending (``requeued`` of them) to be sent again now.
    broker_lost: bool = False
    requeued: int = 0
    #: Agreement notices of the connector's agreement newly kept, and those of another
    #: agreement of the agency (skipped).
    notices: int = 0
    notices_other: int = 0
    #: Messages of a kind this connector does not know (skipped).
    other_kinds: int = 0


class ReceiptApplier:
    """Verifies receipts and applies them to the outbox."""

    def __init__(
        self,
        state: StateDB,
        *,
        catalog: SchemaCatalog,
        hub_keys: list[Ed25519PublicKey],
        agency: str,
        clock: Callable[[], datetime],
        max_skew: timedelta,
        dataset: str | None = None,
        signing_key_id: str | None = None,
        agreement: tuple[str, int] | None = None,
    ) -> None:
        """``dataset``: the connector's own; receipts the agency's other connectors get
        on the shared topic are then counted, not logged as unknown batches.
        ``signing_key_id``: the key the connector signs with now; a part the hub refused
        for its key is sent again at once only when it was signed with another one.
        ``agreement``: the agreement id and version the config names; agreement notices
        of other agreements are then skipped."""
        self._state = state
        self.dataset = dataset
        self.signing_key_id = signing_key_id
        self.agreement = agreement
        self._outbox = Outbox(state)
        self._catalog = catalog
        self._keys = {key_id_for(HUB_AGENCY, k): k for k in hub_keys}
        self._agency = agency
        self._clock = clock
        self._max_skew = max_skew

    def verify(self, value: bytes, headers: HeaderInput) -> Receipt:
        """The receipt in a message; EnvelopeError when it does not verify."""
        return open_receipt(
            value,
            headers,
            catalog=self._catalog,
            public_key_for=self._keys.get,
            now=self._clock(),
            max_skew=self._max_skew,
        )

    def apply(self, receipt: Receipt) -> list[str]:
        """Record ``receipt`` against its part; the outbox batch ids it settles.

        Nothing is settled while a batch waits for other parts or when the receipt was
        already applied. A part id normally belongs to one batch (the envelope covers the
        source batch id); should two batches share one, the receipt answers both. Raises
        :class:`UnknownBatch` / :class:`ReceiptConflict`.
        """
        settled: list[str] = []
        with self._state.transaction() as conn:
            rows = conn.execute(
                "SELECT batch_id, outcome, reason_code FROM batch_parts WHERE part_id = ?",
                (receipt.batch_id,),
            ).fetchall()
            if not rows or receipt.agency != self._agency:
                raise UnknownBatch(
                    f"receipt names batch {receipt.batch_id!r} of {receipt.agency}/"
                    f"{receipt.dataset}, which this connector never sent",
                    batch_id=receipt.batch_id,
                )
            for batch_id, outcome, reason in rows:
                if outcome is not None:
                    if (outcome, reason) == (receipt.outcome, receipt.reason_code):
                        continue
                    if outcome == "rejected":
                        # A later decision on a refused part: the hub replayed it from
                        # quarantine after its cause was fixed (receipts of one agency
                        # come in order on one partition). Acceptance is final.
                        log.info(
                            "part %s of batch %s, rejected (%s), is now %s (%s): the hub "
                            "decided on it again",
                            receipt.batch_id[:16],
                            str(batch_id)[:16],
                            reason,
                            receipt.outcome,
                            receipt.reason_code or "no reason",
                        )
                    else:
                        raise ReceiptConflict(
                            f"part {receipt.batch_id!r} of batch {batch_id!r} is already "
                            f"{outcome} ({reason or 'no reason'}); receipt says "
                            f"{receipt.outcome} ({receipt.reason_code or 'no reason'})",
                            batch_id=str(batch_id),
                        )
                conn.execute(
                    "UPDATE batch_parts SET outcome = ?, reason_code = ? "
                    "WHERE part_id = ? AND batch_id = ?",
                    (receipt.outcome, receipt.reason_code, receipt.batch_id, batch_id),
                )
                if self._settle(conn, str(batch_id)):
                    settled.append(str(batch_id))
        return settled

    def _settle(self, conn: Any, batch_id: str) -> bool:
        parts = conn.execute(
            "SELECT outcome, reason_code, part_index FROM batch_parts WHERE batch_id = ? "
            "ORDER BY part_index",
            (batch_id,),
        ).fetchall()
        if any(p[0] is None for p in parts):
            return False
        rejected = [p for p in parts if p[0] == "rejected"]
        receipt = OutboxReceipt(
            batch_id=batch_id,
            outcome="rejected" if rejected else "accepted",
            reason_code=str(rejected[0][1]) if rejected and rejected[0][1] else None,
            rows=self._record_ids(batch_id, [int(p[2]) for p in rejected]),
        )
        return self._outbox.apply_receipt(receipt, at=self._clock())

    def _record_ids(self, batch_id: str, part_indexes: list[int]) -> tuple[str, ...]:
        """The (opaque) record ids of the records in some parts."""
        if not part_indexes:
            return ()
        held = self._outbox.get(batch_id)
        messages = unpack_messages(held.payload, held.headers, batch_id=batch_id)
        rows: list[str] = []
        for index in part_indexes:
            message = messages[index]
            try:
                writer = self._catalog.by_fingerprint(
                    parse_headers(message.headers).schema_fingerprint
                )
                records = decode_records(message.value, writer, writer)
            except EnvelopeError as exc:
                raise OutboxDataInvalid(
                    f"outbox batch {batch_id}: part {index} does not decode ({exc.code})"
                ) from exc
            rows.extend(str(r.get(writer.record_id_field)) for r in records)
        return tuple(rows)

    def note_unverified(self, receipt: Receipt) -> list[tuple[str, str]]:
        """Record a rejection of a message the hub could not verify; settles nothing.

        The receipt's batch id is the SHA-256 of the refused message's value. Each part
        of a batch still without a receipt whose value has that digest is noted (code
        and time, for ``connector status``), and its batch is made ``pending`` so the
        next pass sends it again, signed anew, unless the reason is the key and the part
        was signed with the key the connector still uses: then the operator must install
        the agency's current key (logged as an error) and the batch waits for the usual
        resend. Returns (batch id, reason code) of the parts noted.
        """
        code = receipt.reason_code or "unknown"
        now = self._clock()
        noted: list[tuple[str, str]] = []
        with self._state.transaction() as conn:
            self._fill_digests(conn)
            rows = conn.execute(
                "SELECT p.batch_id, p.part_index, b.headers FROM batch_parts p "
                "JOIN batches b ON b.batch_id = p.batch_id "
                "WHERE p.value_sha256 = ? AND b.state IN ('pending', 'sent') "
                "AND (? IS NULL OR b.dataset = ?) ORDER BY p.batch_id, p.part_index",
                (receipt.batch_id, self.dataset, self.dataset),
            ).fetchall()
            for batch_id, part_index, headers in rows:
                conn.execute(
                    "UPDATE batch_parts SET unverified_code = ?, unverified_at = ? "
                    "WHERE batch_id = ? AND part_index = ?",
                    (code, now.isoformat(), batch_id, part_index),
                )
                key_id = _sent_key_id(bytes(headers), int(part_index))
                same_key = self.signing_key_id is None or key_id in (None, self.signing_key_id)
                if code in KEY_REASONS and same_key:
                    log.error(
                        "the hub could not verify this message: %s (batch %s, part %d, "
                        "signed with key %s). The hub does not accept that key: install "
                        "the agency's current signing key (signing_key_file, registered "
                        "with the hub) and restart the connector; the batch stays in the "
                        "outbox and is sent again signed with it",
                        code,
                        batch_id,
                        part_index,
                        key_id,
                    )
                else:
                    Outbox(self._state).requeue([str(batch_id)])
                    log.warning(
                        "the hub could not verify this message: %s (batch %s, part %d); "
                        "the batch stays pending and is sent again, signed anew",
                        code,
                        batch_id,
                        part_index,
                    )
                noted.append((str(batch_id), code))
        return noted

    def _fill_digests(self, conn: Any) -> None:
        """Value digests of the parts stored before they were recorded (older state)."""
        missing = conn.execute(
            "SELECT DISTINCT p.batch_id FROM batch_parts p "
            "JOIN batches b ON b.batch_id = p.batch_id "
            "WHERE p.value_sha256 IS NULL AND b.state IN ('pending', 'sent')"
        ).fetchall()
        for (batch_id,) in missing:
            held = self._outbox.get(str(batch_id))
            messages = unpack_messages(held.payload, held.headers, batch_id=held.batch_id)
            conn.executemany(
                "UPDATE batch_parts SET value_sha256 = ? WHERE batch_id = ? AND part_index = ?",
                [(value_digest(m), held.batch_id, i) for i, m in enumerate(messages)],
            )

    def apply_message(self, value: bytes, headers: HeaderInput, report: ReceiptReport) -> None:
        """Verify and apply one message, counting what happened in ``report``."""
        kind = message_kind(headers)
        if kind == AGREEMENT_NOTICE_KIND:
            self.apply_notice(value, headers, report)
            return
        if kind != RECEIPT_KIND:
            log.info("message of kind %r on the receipts topic skipped: not known here", kind)
            report.other_kinds += 1
            return
        try:
            receipt = self.verify(value, headers)
        except EnvelopeError as exc:
            log.warning("receipt refused: [%s] %s", exc.code, exc.message)
            report.invalid.append(exc.code)
            return
        if receipt.outcome == "rejected" and receipt.reason_code in UNVERIFIED_REASONS:
            noted = self.note_unverified(receipt)
            report.unverified.extend(noted)
            if not noted:
                # Not one of ours awaiting a receipt: a sibling's, one already settled, or
                # a forgery refused by the hub. Counted; never a reason to settle.
                log.info(
                    "receipt for a message the hub could not verify (%s) names none of "
                    "this connector's parts awaiting a receipt",
                    receipt.reason_code,
                )
                report.unverified_other += 1
            return
        try:
            settled = self.apply(receipt)
        except UnknownBatch as exc:
            if receipt.agency == self._agency and self.dataset not in (None, receipt.dataset):
                report.other_datasets += 1  # for a sibling connector: not ours to note
                return
            log.warning("receipt skipped: [%s] %s", exc.code, exc.message)
            report.unknown.append(receipt.batch_id)
            return
        report.applied += 1
        report.settled.extend(settled)

    def apply_notice(self, value: bytes, headers: HeaderInput, report: ReceiptReport) -> None:
        """Verify an agreement notice and keep it when it is about the config's agreement."""
        try:
            notice = open_agreement_notice(
                value,
                headers,
                catalog=self._catalog,
                public_key_for=self._keys.get,
                now=self._clock(),
                max_skew=self._max_skew,
            )
        except EnvelopeError as exc:
            log.warning("agreement notice refused: [%s] %s", exc.code, exc.message)
            report.invalid.append(exc.code)
            return
        mine = self.agreement is None or notice.agreement_id == self.agreement[0]
        if notice.agency != self._agency or not mine:
            report.notices_other += 1  # another agreement (or agency): not this connector's
            return
        if not record_notice(self._state, notice, at=self._clock()):
            report.repeated += 1
            return
        report.notices += 1
        if self.agreement is not None and self.agreement[1] < notice.current_version:
            log.warning(
                "agreement %s version %d is superseded by version %d: set agreement_version: "
                "%d (the hub refuses batches naming version %d with "
                "agreement.version_superseded)",
                notice.agreement_id,
                self.agreement[1],
                notice.current_version,
                notice.current_version,
                self.agreement[1],
            )
        else:
            log.info(
                "agreement notice: %s version %d is superseded by version %d",
                notice.agreement_id,
                notice.superseded_version,
                notice.current_version,
            )


def _sent_key_id(headers: bytes, part_index: int) -> str | None:
    """The ``lmis-key-id`` a part was last sent with, from the outbox's header JSON."""
    try:
        pairs = json.loads(headers.decode("ascii"))[part_index]
        return next((str(v) for n, v in pairs if n == "lmis-key-id"), None)
    except (ValueError, IndexError, TypeError, UnicodeError):
        return None


#: The least time a pass gives the broker to name the receipts topic's partitions and
#: end offsets.
def resend_due(
    publisher: EnvelopePublisher, state: StateDB, *, now: datetime, timeout: timedelta
) -> list[str]:
    """Send again every batch without a receipt for ``timeout``; their batch ids."""
    sent = []
    for held in Outbox(state).due_for_resend(now, timeout):
        publisher.resend(held)
        sent.append(held.batch_id)
    return sent


def resend_now(
    publisher: EnvelopePublisher,
    state: StateDB,
    *,
    batch_ids: list[str] | None = None,
    rejected: bool = False,
) -> list[str]:
    """Send again, now, the named batches (default: every one without a receipt).

    A named batch the outbox never held raises :class:`UnknownBatch`; one that already
    has its receipt raises :class:`BatchSettled` — unless ``rejected`` is given and the
    hub rejected it: then it is sent again under the publisher's agreement (the config
    as corrected) and waits for a new receipt. Nothing is sent unless every named batch
    can be.
    """
    outbox = Outbox(state)
    dataset = publisher.schema.dataset
    if batch_ids is None:
        chosen = [b for b in outbox.batches(dataset=dataset) if b.state in ("pending", "sent")]
    else:
        chosen = [outbox.get(batch_id) for batch_id in batch_ids]
        other = [b for b in chosen if b.dataset != dataset]
        if other:
            raise UnknownBatch(
                f"batch {other[0].batch_id!r} is of dataset {other[0].dataset}, not {dataset}",
                batch_id=other[0].batch_id,
            )
        final = ("accepted",) if rejected else ("accepted", "rejected")
        settled = [b for b in chosen if b.state in final]
        if settled:
            first = settled[0]
            hint = "; " + ways_back(first.batch_id) if first.state == "rejected" else ""
            raise BatchSettled(
                f"batch {first.batch_id!r} is already {first.state} "
                f"({first.reason_code or 'no reason'}); only batches without a receipt are "
                f"sent again{hint}",
                batch_id=first.batch_id,
            )
    sent = []
    for held in chosen:
        publisher.resend(held, reopen=held.state == "rejected")
        sent.append(held.batch_id)
    return sent


def ways_back(batch_id: str) -> str:
    """What the operator can do about a batch the hub rejected, once its cause is fixed."""
    return (
        f"once its cause is fixed, send it again: `connector resend --batch {batch_id} "
        "--rejected` sends the same records under the agreement and key the config names "
        f"now; when the mapping was wrong, `connector rewind --to-batch {batch_id}` then "
        "`connector run` read its rows again under the corrected mapping"
    )
