"""Reading the hub's receipts (and agreement notices) from ``lmis.receipts.<agency>``.

The connector reads its agency's receipts topic from the offsets kept in its state
database, hands every message to a :class:`~connectors.sdk.receipts.ReceiptApplier`
and keeps the new offsets; a topic that now ends before the kept offset, or is gone,
means the broker lost it (the memory-only embedded broker restarted), and every batch
without a receipt is made pending so the same pass sends it again.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from connectors.sdk.errors import (
    ReceiptConflict,
)
from connectors.sdk.outbox import Outbox
from connectors.sdk.receipts import ReceiptApplier, ReceiptReport
from connectors.sdk.state import StateDB

# One logger for everything about receipts (operators filter on it), applier and reader.
log = logging.getLogger("connectors.sdk.receipts")


METADATA_TIMEOUT_S = 2.0


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

    def _assign(self, timeout_s: float, report: ReceiptReport) -> None:
        try:
            self._assign_from_stored(timeout_s, report)
        except KafkaException as exc:
            # The broker did not answer in time: keep reading where the reader is.
            log.warning("receipts topic %s: cannot assign (%s)", self.topic, exc)

    def _assign_from_stored(self, timeout_s: float, report: ReceiptReport) -> None:
        meta = self._consumer.list_topics(self.topic, timeout=timeout_s).topics.get(self.topic)
        stored = dict(
            self._state.connection.execute(
                "SELECT partition, next_offset FROM offsets WHERE topic = ?", (self.topic,)
            ).fetchall()
        )
        if meta is None or meta.error is not None:
            gone = meta is None or meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            if stored and gone:
                # Receipts were read from it, so the broker had it: it lost its topics.
                self._broker_lost(report, "the broker no longer has it")
            if self._partitions:
                self._consumer.unassign()
                self._partitions = set()
            return  # no receipts topic (yet): nothing to read
        starts = []
        restart = set(meta.partitions) != self._partitions
        lost: list[str] = []
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
                    lost.append(f"partition {p} ends at {high}, before the stored offset {start}")
                    start = low
                    restart = True
            starts.append(TopicPartition(self.topic, p, start))
        if lost:
            self._broker_lost(report, "; ".join(lost))
        if restart:
            # Only then: assigning again starts each partition's fetch over, and a pass
            # shorter than that start-up would never get to a message.
            self._consumer.assign(starts)
            self._partitions = set(meta.partitions)

    def _broker_lost(self, report: ReceiptReport, detail: str) -> None:
        """The broker lost the receipts topic, and with it (a memory-only broker that
        restarted) every batch it held: forget the stored offsets (so this is said once)
        and make every batch without a receipt pending, to be sent again now rather than
        after the resend timeout."""
        outbox = Outbox(self._state)
        dataset = self._applier.dataset
        with self._state.transaction() as conn:
            conn.execute("DELETE FROM offsets WHERE topic = ?", (self.topic,))
            report.requeued = outbox.requeue(dataset=dataset)
            waiting = len(outbox.batches(dataset=dataset, state="pending"))
        report.broker_lost = True
        log.warning(
            "broker lost the receipts topic %s (%s): it has lost its topics, reading receipts "
            "from the start and resending %d batches without a receipt now",
            self.topic,
            detail,
            waiting,
        )

    def poll(self, *, timeout_s: float = 5.0, max_messages: int = 500) -> ReceiptReport:
        """Apply the receipts available now (waits at most ``timeout_s`` for the first)."""
        report = ReceiptReport()
        # Checked against the stored offsets on every pass, so a topic the broker lost
        # since the last pass is noticed. The metadata and end offsets get at least
        # METADATA_TIMEOUT_S: a short pass must not turn a slow answer into a warning.
        self._assign(max(timeout_s, METADATA_TIMEOUT_S), report)
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
