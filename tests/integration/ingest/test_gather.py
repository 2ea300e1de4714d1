"""How the Kafka loop gathers a group: bounded by messages, records and wait (a pure
unit: a scripted consumer stands in for confluent-kafka's)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from integration.ingest.loop import (
    GroupLimits,
    Subscription,
    _awaiting_partitions,
    _gather,
    _record_count,
)
from integration.ingest.notices import QUARANTINE_TOPIC
from lmis_hub.topics import delivery_pattern
from schemas.receipts import receipt_topic


@dataclass
class _Msg:
    records: int
    failed: bool = False

    def error(self) -> str | None:
        return "broker hiccup" if self.failed else None

    def headers(self) -> list[tuple[str, bytes]]:
        return [("lmis-record-count", str(self.records).encode())]


class _Consumer:
    def __init__(self, queue: list[_Msg]) -> None:
        self.queue = list(queue)
        self.timeouts: list[float] = []

    def poll(self, timeout: float) -> _Msg | None:
        self.timeouts.append(timeout)
        return self.queue.pop(0) if self.queue else None


@given(
    counts=st.lists(st.integers(min_value=0, max_value=500), max_size=40),
    max_messages=st.integers(min_value=1, max_value=16),
    max_records=st.integers(min_value=1, max_value=2000),
)
def test_a_group_respects_its_bounds(counts: list[int], max_messages: int, max_records: int):
    consumer = _Consumer([_Msg(n) for n in counts])
    limits = GroupLimits(max_messages=max_messages, max_records=max_records, max_wait_s=0)
    group = _gather(consumer, 0.5, limits)
    assert len(group) <= max_messages
    assert [m.records for m in group] == counts[: len(group)]  # in order, none skipped
    taken = sum(m.records for m in group)
    # The records bound closes the group at the message that reaches it.
    assert taken - (group[-1].records if group else 0) < max_records
    if len(group) < len(counts):
        assert len(group) == max_messages or taken >= max_records


def test_the_first_message_waits_the_poll_timeout_the_rest_only_the_group_wait():
    consumer = _Consumer([_Msg(1), _Msg(1)])
    group = _gather(consumer, 0.5, GroupLimits(max_messages=10, max_records=100, max_wait_s=0))
    assert len(group) == 2
    assert consumer.timeouts[0] == 0.5 and all(t == 0 for t in consumer.timeouts[1:])


def test_an_error_event_is_skipped_and_nothing_is_an_empty_group():
    assert _gather(_Consumer([]), 0.01, GroupLimits()) == []
    assert _gather(_Consumer([_Msg(1, failed=True)]), 0.01, GroupLimits()) == []
    consumer = _Consumer([_Msg(2), _Msg(1, failed=True), _Msg(3)])
    group = _gather(consumer, 0.01, GroupLimits(max_wait_s=0))
    assert [m.records for m in group] == [2, 3]


@given(st.binary(max_size=20))
def test_a_malformed_record_count_counts_as_zero(value: bytes):
    count = _record_count([("lmis-record-count", value)])
    assert count == (int(value) if value.isdigit() and len(value) < 12 else 0)


def test_the_subscription_reads_neither_receipts_nor_the_quarantine_topic():
    pattern = delivery_pattern(["nis", "moe", "hub"])
    assert re.match(pattern, "lmis.nis.contribution.v1")
    assert re.match(pattern, "lmis.moe.school_leaver.v1")
    for topic in (
        QUARANTINE_TOPIC,
        receipt_topic("nis"),
        "lmis.hub.quarantine",
        "lmis.nis_other.x.v1",
        "lmis.tvet.trainee.v2",
    ):
        assert re.match(pattern, topic) is None
    assert re.match(delivery_pattern(["hub"]), "lmis.nis.contribution.v1") is None


class _Subscriber:
    def __init__(self) -> None:
        self.subscriptions: list[list[str]] = []

    def subscribe(self, topics: list[str]) -> None:
        self.subscriptions.append(topics)


def test_the_subscription_follows_the_registered_agencies():
    registered = ["nis"]

    def pattern() -> str:
        if registered == ["fail"]:
            raise OSError("database away")
        return delivery_pattern(registered)

    sub = Subscription(pattern, refresh_s=30)
    consumer = _Subscriber()
    assert sub.refresh(consumer, now=0.0)
    registered.append("moe")
    assert not sub.refresh(consumer, now=10.0)  # not due yet
    assert sub.refresh(consumer, now=31.0)
    assert not sub.refresh(consumer, now=62.0)  # due, unchanged: no rebalance
    registered[:] = ["fail"]
    assert not sub.refresh(consumer, now=93.0)  # kept, logged
    assert consumer.subscriptions == [
        [delivery_pattern(["nis"])],
        [delivery_pattern(["moe", "nis"])],
    ]


class _Joining:
    """A consumer of a group that has (or has not yet) been given partitions."""

    def __init__(self, assigned: list[str], topics: list[str]) -> None:
        self._assigned = assigned
        self._topics = topics

    def assignment(self) -> list[str]:
        return self._assigned

    def list_topics(self, timeout: float) -> Any:
        return type("Metadata", (), {"topics": {t: None for t in self._topics}})()

    def subscribe(self, topics: list[str]) -> None:
        pass


def test_a_worker_waits_for_partitions_only_while_a_topic_could_give_it_some():
    sub = Subscription(lambda: delivery_pattern(["moe"]))
    joining = _Joining([], ["lmis.moe.school_leaver.v1", "lmis.receipts.moe"])
    sub.refresh(joining, now=0.0)
    assert _awaiting_partitions(joining, sub)  # the group has not given it any yet
    assert not _awaiting_partitions(_Joining(["p0"], ["lmis.moe.school_leaver.v1"]), sub)
    assert not _awaiting_partitions(_Joining([], ["lmis.receipts.moe"]), sub)  # none to get
    assert not _awaiting_partitions(_Consumer([]), sub)  # a consumer that cannot say
