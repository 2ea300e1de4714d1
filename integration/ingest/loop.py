"""The ingest worker driven by a Kafka consumer group.

:func:`run` gathers a bounded group of messages, has the worker decide it
(:meth:`IngestWorker.process_group`, which knows nothing of Kafka), produces the
group's receipts and quarantine notices, and only then commits the group's offsets
(the highest per partition). A refused offset commit is logged, not fatal: the
messages are read again and deduplicated.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, TopicPartition
from sqlalchemy.exc import SQLAlchemyError

from integration.ingest.agreement_notices import AgreementNoticeSender
from integration.ingest.decisions import Delivered, Outcome
from integration.ingest.errors import ReceiptUndelivered
from integration.ingest.notices import QUARANTINE_TOPIC
from integration.ingest.producing import produce_all
from integration.ingest.worker import IngestWorker
from schemas.envelope import Message

log = logging.getLogger(__name__)


@dataclass
class Subscription:
    """The consumer group's subscription: the dataset topics of the registered agencies
    (:func:`lmis_hub.topics.delivery_pattern`), looked up again every ``refresh_s`` so
    that an agency registered while the workers run is read without a restart.

    ``pattern`` answers the current pattern (from the hub database); a failed look-up
    keeps the previous subscription and is logged.
    """

    pattern: Callable[[], str]
    refresh_s: float = 30.0
    current: str | None = None
    _checked_at: float = float("-inf")

    def refresh(self, consumer: Any, *, now: float | None = None) -> bool:
        """Subscribe ``consumer`` to the current pattern when it changed; True if it did."""
        now = time.monotonic() if now is None else now
        if self.current is not None and now - self._checked_at < self.refresh_s:
            return False
        self._checked_at = now
        try:
            pattern = self.pattern()
        except Exception as exc:  # the database may be away for a moment
            if self.current is None:
                raise
            log.warning("agencies not looked up (%s); the subscription stays as it is", exc)
            return False
        if pattern == self.current:
            return False
        consumer.subscribe([pattern])
        if self.current is not None:
            log.info("subscription changed to %s", pattern)
        self.current = pattern
        return True


@dataclass(frozen=True)
class GroupLimits:
    """How large a group :func:`run` gathers before deciding it."""

    max_messages: int = 64
    max_records: int = 200_000
    max_wait_s: float = 0.2


def _record_count(headers: Sequence[tuple[str, bytes | None]]) -> int:
    for name, value in headers:
        if name == "lmis-record-count" and value and value.isdigit() and len(value) < 12:
            return int(value)
    return 0


def _gather(consumer: Any, poll_timeout_s: float, limits: GroupLimits) -> list[Any]:
    """Up to ``limits`` messages: wait ``poll_timeout_s`` for the first one, then at most
    ``max_wait_s`` more for the rest (whatever is already fetched is taken at once)."""
    group: list[Any] = []
    records = 0
    deadline: float | None = None
    while len(group) < limits.max_messages and records < limits.max_records:
        timeout = poll_timeout_s if deadline is None else max(0.0, deadline - time.monotonic())
        msg = consumer.poll(timeout)
        if msg is None:
            break
        if msg.error():
            log.warning("consumer error: %s", msg.error())
            if deadline is None:
                break
            continue
        group.append(msg)
        records += _record_count(msg.headers() or [])
        if deadline is None:
            deadline = time.monotonic() + limits.max_wait_s
    return group


def run(
    worker: IngestWorker,
    *,
    consumer: Any,
    producer: Any,
    once: bool = False,
    idle_timeout_s: float = 10.0,
    poll_timeout_s: float = 0.5,
    on_outcome: Callable[[Outcome], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    limits: GroupLimits | None = None,
    quarantine_topic: str | None = QUARANTINE_TOPIC,
    subscription: Subscription | None = None,
    agreement_notices: AgreementNoticeSender | None = None,
    join_timeout_s: float = 30.0,
) -> int:
    """Consume a group, decide, store, send receipts and notices, then commit the group's
    offsets; returns the messages processed.

    ``consumer`` is a confluent-kafka Consumer with manual commits, subscribed by
    ``subscription`` (kept current between groups) or beforehand by the caller;
    ``producer`` a confluent-kafka Producer. With ``once`` the loop
    ends when no message arrived for ``idle_timeout_s`` seconds. ``limits`` bounds each
    group (default :class:`GroupLimits`); ``quarantine_topic=None`` sends no notices.
    Idle time counts only once the group has given this worker partitions, or when no
    topic it could be given exists: joining a group takes seconds, and a worker that
    gave up before it was given any work would leave the messages waiting. It waits at
    most ``join_timeout_s`` for partitions.
    ``agreement_notices`` publishes the pending agreement notices before each group, at
    most every few seconds (:func:`send_agreement_notices`).
    """
    limits = limits or GroupLimits()
    processed = 0
    idle = 0.0
    joining = 0.0
    while not should_stop():
        if subscription is not None:
            subscription.refresh(consumer)
        if agreement_notices is not None:
            send_agreement_notices(agreement_notices, producer)
        group = _gather(consumer, poll_timeout_s, limits)
        if not group:
            if once and joining < join_timeout_s and _awaiting_partitions(consumer, subscription):
                joining += poll_timeout_s
                continue
            idle += poll_timeout_s
            if once and idle >= idle_timeout_s:
                break
            continue
        idle = 0.0
        outcomes = worker.process_group(
            [
                Delivered(
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    msg.value(),
                    [(k, v or b"") for k, v in (msg.headers() or [])],
                )
                for msg in group
            ]
        )
        send_outcomes(producer, outcomes, quarantine_topic=quarantine_topic)
        highest: dict[tuple[str, int], int] = {}
        for msg in group:
            key = (msg.topic(), msg.partition())
            highest[key] = max(highest.get(key, -1), msg.offset())
        _commit_offsets(consumer, highest)
        processed += len(group)
        if on_outcome is not None:
            for outcome in outcomes:
                on_outcome(outcome)
    return processed


def _awaiting_partitions(consumer: Any, subscription: Subscription | None) -> bool:
    """True while the group has not given ``consumer`` any partition although a topic of
    its subscription exists (so some member will be given it)."""
    assignment = getattr(consumer, "assignment", None)
    if not callable(assignment) or assignment():
        return False
    if subscription is None or subscription.current is None:
        return True  # subscribed by the caller: assume its topics exist
    try:
        topics = consumer.list_topics(timeout=1.0).topics
    except KafkaException:
        return True
    pattern = re.compile(subscription.current)
    return any(pattern.match(name) for name in topics)


def _commit_offsets(consumer: Any, highest: Mapping[tuple[str, int], int]) -> None:
    """Commit the group's offsets. A refused commit is not an error of the group: its
    decisions are stored and its receipts sent, so it is logged and the loop goes on.
    The partitions moved to another member (a rebalance, or a broker that lost the
    group); whoever reads those messages again finds them in the ledger (duplicates,
    answered with the same receipts) or in the quarantine table."""
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o + 1) for (t, p), o in highest.items()],
            asynchronous=False,
        )
    except KafkaException as exc:
        log.warning(
            "offsets of %d partition(s) not committed (%s); their messages will be read "
            "again and deduplicated",
            len(highest),
            exc.args[0] if exc.args else exc,
        )


def send_outcomes(
    producer: Any,
    outcomes: Sequence[Outcome],
    *,
    quarantine_topic: str | None = QUARANTINE_TOPIC,
    timeout_s: float = 30.0,
) -> None:
    """Produce the receipts (and quarantine notices) of ``outcomes``, one flush for all."""
    messages: list[tuple[str, Message]] = []
    for outcome in outcomes:
        if outcome.receipt is not None and outcome.receipt_topic is not None:
            messages.append((outcome.receipt_topic, outcome.receipt))
        if outcome.notice is not None and quarantine_topic is not None:
            messages.append((quarantine_topic, outcome.notice))
    try:
        produce_all(producer, messages, timeout_s=timeout_s, what="receipt(s)/notice(s)")
    except ReceiptUndelivered as exc:
        raise ReceiptUndelivered(f"{exc.message}; the messages will be read again") from exc


def send_agreement_notices(notices: AgreementNoticeSender, producer: Any) -> int:
    """Publish the pending agreement notices when due (``notices.every_s``); the number
    sent. A broker or database failure is logged, not fatal: the notices stay pending
    and the next look sends them."""
    try:
        return notices.send_due(producer)
    except (ReceiptUndelivered, SQLAlchemyError, KafkaException, BufferError) as exc:
        log.warning("agreement notices not sent (%s); trying again at the next look", exc)
        return 0
