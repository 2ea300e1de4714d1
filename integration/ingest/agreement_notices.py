"""Publishing the agreement notices the hub owes its providers.

Activating a newer agreement version writes one pending notice per version it
supersedes (:meth:`AgreementService.activate`, in the same transaction: a
transactional outbox). :class:`AgreementNoticeSender` holds what publishing needs — a
Kafka producer is passed in, the hub signing key and the schema catalog are held — and
sends every pending notice, signed by the hub like a receipt
(:func:`schemas.agreement_notices.seal_agreement_notice`), to
``lmis.receipts.<agency>``, then marks it sent (with an ``agreement_notice:send`` audit
entry) in one hub-database transaction.

Delivery is at least once: a crash between the broker's confirmation and the commit
sends the notice again, and connectors record each notice once (keyed by agreement and
versions). On PostgreSQL a sender claims the rows it publishes (``FOR UPDATE SKIP
LOCKED``), so the workers of a group do not send one notice twice. The ingest loop
calls :meth:`AgreementNoticeSender.send_due` before each group, at most every
``every_s`` seconds; ``lmis-hub ingest notices`` sends them at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from governance.agreements.models import AgreementNotice
from governance.agreements.services import AgreementService
from governance.timestamps import Clock
from integration.ingest.errors import ReceiptUndelivered
from integration.ingest.producing import produce_all
from schemas.agreement_notices import Supersession, seal_agreement_notice
from schemas.catalog import SchemaCatalog
from schemas.receipts import receipt_topic
from schemas.signing import Signer

log = logging.getLogger(__name__)

#: Seconds between the ingest loop's looks for pending notices.
NOTICE_INTERVAL_S = 5.0


class AgreementNoticeSender:
    """Publishes pending agreement notices and marks them sent; dependencies explicit."""

    def __init__(
        self,
        session: Session,
        *,
        agreements: AgreementService,
        schemas: SchemaCatalog,
        signer: Signer,
        clock: Clock,
        actor: str,
        every_s: float = NOTICE_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
        topic_for: Callable[[str], str] = receipt_topic,
    ) -> None:
        """``topic_for``: the receipts topic of an agency (tests isolate themselves on
        copies of it)."""
        self.session = session
        self.agreements = agreements
        self.schemas = schemas
        self.signer = signer
        self.clock = clock
        self.actor = actor
        self.every_s = every_s
        self._monotonic = monotonic
        self._topic_for = topic_for
        self._last: float | None = None

    def send_due(self, producer: Any) -> int:
        """:meth:`send_pending` when ``every_s`` has passed since the last look, else 0."""
        now = self._monotonic()
        if self._last is not None and now - self._last < self.every_s:
            return 0
        self._last = now
        return self.send_pending(producer)

    def send_pending(self, producer: Any, *, timeout_s: float = 30.0) -> int:
        """Publish every pending notice and mark it sent; the number sent.

        Raises :class:`ReceiptUndelivered` (nothing marked sent) when the broker does
        not confirm every one: they stay pending and go out at the next look.
        """
        try:
            pending = self.agreements.pending_notices(claim=True)
            if pending:
                self._send(producer, pending, timeout_s=timeout_s)
            # Also when nothing was pending: ends the read transaction (on SQLite an old
            # read transaction would keep the next group from writing).
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        return len(pending)

    def _send(self, producer: Any, pending: list[AgreementNotice], *, timeout_s: float) -> None:
        now = self.clock()
        messages = [
            (
                self._topic_for(row.agency),
                seal_agreement_notice(
                    Supersession(
                        agency=row.agency,
                        agreement_id=row.agreement_id,
                        superseded_version=row.superseded_version,
                        current_version=row.current_version,
                        activated_at=row.created_at,
                    ),
                    catalog=self.schemas,
                    signer=self.signer,
                    now=now,
                ),
            )
            for row in pending
        ]
        try:
            produce_all(producer, messages, timeout_s=timeout_s, what="agreement notice(s)")
        except ReceiptUndelivered as exc:
            raise ReceiptUndelivered(
                f"{exc.message}; they stay pending and are sent again"
            ) from exc
        for row in pending:
            self.agreements.mark_notice_sent(row, at=now, actor=self.actor)
            log.info(
                "agreement notice sent to %s: %s v%d is superseded by v%d",
                row.agency,
                row.agreement_id,
                row.superseded_version,
                row.current_version,
            )
