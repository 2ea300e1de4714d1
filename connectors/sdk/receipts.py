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
unit, not a reason to stop reading).

:func:`resend_due` sends again the batches still ``pending`` or ``sent`` without a
receipt for longer than a timeout, byte for byte from the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from connectors.sdk.errors import (
    BatchSettled,
    OutboxDataInvalid,
    ReceiptConflict,
    SigningKeyInvalid,
    UnknownBatch,
)
from connectors.sdk.outbox import Outbox
from connectors.sdk.outbox import Receipt as OutboxReceipt
from connectors.sdk.publisher import EnvelopePublisher, unpack_messages
from connectors.sdk.state import StateDB
from governance.errors import KeyInvalid
from governance.keys.material import key_id_for, load_public_pem
from schemas.catalog import Catalog
from schemas.envelope import HeaderInput, decode_records, parse_headers
from schemas.errors import EnvelopeError
from schemas.receipts import HUB_AGENCY, Receipt, open_receipt

log = logging.getLogger(__name__)


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


class ReceiptApplier:
    """Verifies receipts and applies them to the outbox."""

    def __init__(
        self,
        state: StateDB,
        *,
        catalog: Catalog,
        hub_keys: list[Ed25519PublicKey],
        agency: str,
        clock: Callable[[], datetime],
        max_skew: timedelta,
        dataset: str | None = None,
    ) -> None:
        """``dataset``: the connector's own; receipts the agency's other connectors get
        on the shared topic are then counted, not logged as unknown batches."""
        self._state = state
        self._dataset = dataset
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
                    raise ReceiptConflict(
                        f"part {receipt.batch_id!r} of batch {batch_id!r} is already {outcome}"
                        f" ({reason or 'no reason'}); receipt says {receipt.outcome}"
                        f" ({receipt.reason_code or 'no reason'})",
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
        """The record ids (the agency's own row keys, never identifiers) of some parts."""
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

    def apply_message(self, value: bytes, headers: HeaderInput, report: ReceiptReport) -> None:
        """Verify and apply one message, counting what happened in ``report``."""
        try:
            receipt = self.verify(value, headers)
        except EnvelopeError as exc:
            log.warning("receipt refused: [%s] %s", exc.code, exc.message)
            report.invalid.append(exc.code)
            return
        try:
            settled = self.apply(receipt)
        except UnknownBatch as exc:
            if receipt.agency == self._agency and self._dataset not in (None, receipt.dataset):
                report.other_datasets += 1  # for a sibling connector: not ours to note
                return
            log.warning("receipt skipped: [%s] %s", exc.code, exc.message)
            report.unknown.append(receipt.batch_id)
            return
        report.applied += 1
        report.settled.extend(settled)


class ReceiptReader:
    """Reads ``lmis.receipts.<agency>`` from the offsets kept in the state database."""

    def __init__(
        self,
        state: StateDB,
        *,
        topic: str,
        consumer_config: dict[str, Any],
        applier: ReceiptApplier,
    ) -> None:
        self._state = state
        self.topic = topic
        self._applier = applier
        self._consumer = Consumer(
            {
                "group.id": "lmis-connector-receipts",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **consumer_config,
            }
        )
        self._partitions: set[int] = set()  # those assigned

    def _assign(self, timeout_s: float) -> None:
        try:
            self._assign_from_stored(timeout_s)
        except KafkaException as exc:
            # The broker did not answer in time: keep reading where the reader is.
            log.warning("receipts topic %s: cannot assign (%s)", self.topic, exc)

    def _assign_from_stored(self, timeout_s: float) -> None:
        meta = self._consumer.list_topics(self.topic, timeout=timeout_s).topics.get(self.topic)
        if meta is None or meta.error is not None:
            return  # no receipts topic yet: nothing to read
        stored = dict(
            self._state.connection.execute(
                "SELECT partition, next_offset FROM offsets WHERE topic = ?", (self.topic,)
            ).fetchall()
        )
        starts = []
        restart = set(meta.partitions) != self._partitions
        for p in meta.partitions:
            start = stored.get(p, OFFSET_BEGINNING)
            if start != OFFSET_BEGINNING:
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=timeout_s
                )
                if start > high:
                    # The broker has the topic anew (a memory-only broker restarted):
                    # waiting for offset `start` would skip every receipt below it.
                    # Reading them all again is harmless: applying one twice is a no-op.
                    log.warning(
                        "receipts topic %s[%d] ends at %d, before the stored offset %d; "
                        "reading it from the start",
                        self.topic,
                        p,
                        high,
                        start,
                    )
                    start = low
                    restart = True
            starts.append(TopicPartition(self.topic, p, start))
        if restart:
            # Only then: assigning again starts each partition's fetch over, and a pass
            # shorter than that start-up would never get to a message.
            self._consumer.assign(starts)
            self._partitions = set(meta.partitions)

    def poll(self, *, timeout_s: float = 5.0, max_messages: int = 500) -> ReceiptReport:
        """Apply the receipts available now (waits at most ``timeout_s`` for the first)."""
        report = ReceiptReport()
        # Checked against the stored offsets on every pass, so a topic the broker lost
        # since the last pass is noticed.
        self._assign(timeout_s)
        if not self._partitions:
            return report
        wait = timeout_s
        for _ in range(max_messages):
            m = self._consumer.poll(wait)
            if m is None:
                break
            wait = 0.5  # the first came: drain what is already there, then return
            if m.error() is not None:
                log.warning("receipts topic %s: %s", self.topic, m.error())
                continue
            with self._state.transaction() as conn:
                try:
                    self._applier.apply_message(m.value() or b"", m.headers() or [], report)
                except ReceiptConflict as exc:
                    log.error("receipt conflict: [%s] %s", exc.code, exc.message)
                    report.invalid.append(exc.code)
                conn.execute(
                    "INSERT INTO offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT (topic, partition) "
                    "DO UPDATE SET next_offset = excluded.next_offset",
                    (self.topic, m.partition(), (m.offset() or 0) + 1),
                )
        return report

    def close(self) -> None:
        self._consumer.close()


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
    publisher: EnvelopePublisher, state: StateDB, *, batch_ids: list[str] | None = None
) -> list[str]:
    """Send again, now, the named batches (default: every one without a receipt).

    A named batch the outbox never held raises :class:`UnknownBatch`; one that already
    has its receipt raises :class:`BatchSettled`. Nothing is sent unless every named
    batch can be.
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
        settled = [b for b in chosen if b.state in ("accepted", "rejected")]
        if settled:
            raise BatchSettled(
                f"batch {settled[0].batch_id!r} is already {settled[0].state}; "
                "only batches without a receipt are sent again",
                batch_id=settled[0].batch_id,
            )
    sent = []
    for held in chosen:
        publisher.resend(held)
        sent.append(held.batch_id)
    return sent
