"""Producing the hub's own messages (receipts, quarantine and agreement notices)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError

from integration.ingest.errors import ReceiptUndelivered
from schemas.envelope import Message


def produce_all(
    producer: Any, messages: Sequence[tuple[str, Message]], *, timeout_s: float, what: str
) -> None:
    """Produce every ``(topic, message)`` and wait for all deliveries, one flush.

    Raises :class:`ReceiptUndelivered` naming how many of ``what`` (e.g. "receipt(s)")
    were not delivered within ``timeout_s``, and the first broker error."""
    if not messages:
        return
    failed: list[str] = []

    def delivered(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            failed.append(f"{msg.topic()}: {err}")

    for topic, message in messages:
        producer.produce(
            topic,
            key=message.key,
            value=message.value,
            headers=message.headers,
            on_delivery=delivered,
        )
    left = producer.flush(timeout_s)
    if left != 0 or failed:
        detail = f"; {failed[0]}" if failed else ""
        raise ReceiptUndelivered(
            f"{left + len(failed)} of {len(messages)} {what} were not delivered "
            f"within {timeout_s:.0f} s{detail}"
        )
