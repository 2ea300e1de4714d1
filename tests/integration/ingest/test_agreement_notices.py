"""The hub publishes the agreement notices it owes, signed like receipts, and marks them
sent; a broker that does not take them leaves them pending for the next look."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from governance.agreements.models import AgreementNotice
from integration.ingest.agreement_notices import AgreementNoticeSender
from integration.ingest.errors import ReceiptUndelivered
from integration.ingest.loop import send_agreement_notices
from schemas.agreement_notices import AGREEMENT_NOTICE_KIND, message_kind, open_agreement_notice
from tests.integration.ingest.conftest import AGREEMENT, contribution_fields


class FakeProducer:
    """Keeps what is produced; ``deliver=False`` confirms nothing."""

    def __init__(self, *, deliver: bool = True) -> None:
        self.deliver = deliver
        self.produced: list[dict[str, Any]] = []
        self._callbacks: list[Any] = []

    def produce(self, topic: str, **kw: Any) -> None:
        self.produced.append({"topic": topic, **kw})
        self._callbacks.append(kw["on_delivery"])

    def flush(self, timeout: float) -> int:
        if not self.deliver:
            return len(self._callbacks)
        self._callbacks.clear()
        return 0


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def sender(hub, ticks: Ticks | None = None) -> AgreementNoticeSender:
    return AgreementNoticeSender(
        hub.worker.session,
        agreements=hub.agreements,
        schemas=hub.schemas,
        signer=hub.hub,
        clock=hub.clock,
        actor="ingest",
        monotonic=ticks or Ticks(),
    )


def test_pending_notices_go_to_the_providers_receipts_topic_signed_and_marked_sent(hub) -> None:
    producer = FakeProducer()
    assert sender(hub).send_pending(producer) == 0 and producer.produced == []
    version = hub.activate_version(contribution_fields(hub.schemas)[:-1])
    assert sender(hub).send_pending(producer) == 1
    (sent,) = producer.produced
    assert sent["topic"] == "lmis.receipts.nis"
    assert message_kind(sent["headers"]) == AGREEMENT_NOTICE_KIND
    notice = open_agreement_notice(
        sent["value"],
        sent["headers"],
        catalog=hub.schemas,
        public_key_for={hub.hub.key_id: hub.hub.public_key()}.get,
        now=hub.clock.now,
        max_skew=timedelta(seconds=5),
    )
    assert (notice.agency, notice.agreement_id) == ("nis", AGREEMENT)
    assert (notice.superseded_version, notice.current_version) == (1, version)
    (row,) = hub.agreements.notices(AGREEMENT)
    assert row.sent_at == hub.clock.now and hub.agreements.pending_notices() == []
    assert hub.audit.tail(1)[0].tag == "agreement_notice:send"
    assert sender(hub).send_pending(producer) == 0 and len(producer.produced) == 1


def test_an_undelivered_notice_stays_pending_and_the_loop_goes_on(
    hub, caplog: pytest.LogCaptureFixture
) -> None:
    hub.activate_version(contribution_fields(hub.schemas)[:-1])
    hub.worker.session.commit()
    with pytest.raises(ReceiptUndelivered):
        sender(hub).send_pending(FakeProducer(deliver=False))
    (row,) = hub.agreements.pending_notices()
    assert isinstance(row, AgreementNotice) and row.sent_at is None
    ticks = Ticks()
    looks = sender(hub, ticks)
    with caplog.at_level(logging.WARNING):
        assert send_agreement_notices(looks, FakeProducer(deliver=False)) == 0
    assert "agreement notices not sent" in caplog.text
    ticks.now += 1  # within the interval: no look at all
    assert send_agreement_notices(looks, FakeProducer()) == 0
    assert len(hub.agreements.pending_notices()) == 1
    ticks.now += looks.every_s
    assert send_agreement_notices(looks, FakeProducer()) == 1
    assert hub.agreements.pending_notices() == []
