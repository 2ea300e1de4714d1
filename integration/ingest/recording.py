"""Recording the worker's decisions: ledger rows, deliveries, quarantine rows, audit
entries, and the signed receipts and quarantine notices to send.

Everything here runs in the group's one hub-database transaction, after the lake commit.
An accepted batch gets its ledger row, its agreement delivery and one
``delivery:accepted`` entry; a repeat gets the same receipt again and nothing else; a
refusal gets its quarantine row (reused when the same message is read again), an audit
entry, a notice and — when its agency is known — a rejection receipt that names the
batch only when the refusal follows from the signed bytes (``UNVERIFIED_REASONS``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from integration.ingest.decisions import (
    NO_AGREEMENT,
    Decision,
    Outcome,
    Pending,
    Refused,
    Repeat,
)
from integration.ingest.ledger import Ledger, Origin
from integration.ingest.notices import quarantine_notice
from integration.lake.bronze import bronze_identifier
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message
from schemas.receipts import UNVERIFIED_REASONS, Receipt, receipt_topic, seal_receipt
from schemas.signing import Signer

log = logging.getLogger(__name__)


class OutcomeRecorder:
    """Stores each decision of a group and seals its receipt; dependencies explicit."""

    def __init__(
        self,
        session: Session,
        *,
        schemas: SchemaCatalog,
        agreements: AgreementService,
        audit: AuditLog,
        ledger: Ledger,
        signer: Signer,
        k_hub_version: int,
        actor: str,
    ) -> None:
        self.session = session
        self.schemas = schemas
        self.agreements = agreements
        self.audit = audit
        self.ledger = ledger
        self.signer = signer
        self.k_hub_version = k_hub_version
        self.actor = actor
        self._agreements_held: dict[tuple[str, int], Any] = {}

    def start_group(self) -> None:
        """Forget the rows held for the previous group."""
        self._agreements_held = {}

    def store(
        self,
        decision: Decision,
        snapshots: Mapping[str, int],
        now: datetime,
        replaying: QuarantinedMessage | None,
    ) -> Outcome:
        reason_before = replaying.reason_code if replaying is not None else None
        if isinstance(decision, Pending):
            outcome = self._accept(decision, snapshots[decision.batch_id], now, replaying)
        elif isinstance(decision, Repeat):
            outcome = self._duplicate(decision, snapshots, now)
        else:
            outcome = self._quarantine(decision, now, replaying)
        if replaying is not None:
            self._record_replay(replaying, outcome, now, reason_before)
        return outcome

    def _accept(
        self,
        p: Pending,
        snapshot_id: int,
        now: datetime,
        replaying: QuarantinedMessage | None,
    ) -> Outcome:
        headers, records = p.headers, p.rows
        agreement = (headers.agreement_id, p.agreement_version)
        key = (headers.agreement_id, p.agreement_version)
        if key not in self._agreements_held:  # held in the session's identity map
            self._agreements_held[key] = self.agreements.get(*key)
        self.ledger.record_accepted(
            IngestedBatch(
                batch_id=headers.batch_id,
                agency=headers.agency,
                dataset=headers.dataset,
                content_digest=p.digest,
                agreement_id=headers.agreement_id,
                agreement_version=p.agreement_version,
                lake_table=bronze_identifier(headers.agency, headers.dataset),
                snapshot_id=str(snapshot_id),
                records=records,
                received_at=now,
            )
        )
        # One audit entry per accepted batch: it carries everything the agreement's
        # "delivery:recorded" entry would (agreement, dataset, time = the entry's own,
        # batch id = the subject), so that entry is not written twice over.
        self.agreements.record_delivery(
            headers.agreement_id,
            p.agreement_version,
            headers.dataset,
            now,
            batch_id=headers.batch_id,
            actor=self.actor,
            audit=False,
        )
        details: dict[str, Any] = {
            "agency": headers.agency,
            "dataset": headers.dataset,
            "agreement": f"{headers.agreement_id}:v{p.agreement_version}",
            "records": records,
            "snapshot_id": str(snapshot_id),
            "k_hub_version": self.k_hub_version,
        }
        if replaying is not None:
            details["replay_of"] = replaying.id
        self.audit.record("delivery:accepted", self.actor, f"batch:{headers.batch_id}", details)
        receipt = Receipt(
            batch_id=headers.batch_id,
            agency=headers.agency,
            dataset=headers.dataset,
            outcome="accepted",
            reason_code=None,
            lake_commit_id=str(snapshot_id),
            records_received=records,
            records_accepted=records,
            records_rejected=0,
            decided_at=now,
        )
        log.debug("accepted batch %s of %s/%s", headers.batch_id, headers.agency, headers.dataset)
        return Outcome(
            "accepted",
            headers.batch_id,
            headers.agency,
            receipt_topic=receipt_topic(headers.agency),
            receipt=self._seal(receipt, agreement, now),
            snapshot_id=snapshot_id,
            records=records,
            replayed=replaying is not None,
        )

    def _duplicate(self, repeat: Repeat, snapshots: Mapping[str, int], now: datetime) -> Outcome:
        """A replay of an accepted batch: the same receipt again, nothing else."""
        if repeat.previous is not None:
            prev = repeat.previous
            batch_id, agency, dataset, records = (
                prev.batch_id,
                prev.agency,
                prev.dataset,
                prev.records,
            )
            snapshot = int(prev.snapshot_id) if prev.snapshot_id else None
            agreement = (prev.agreement_id, prev.agreement_version)
            decided_at = prev.received_at
        else:
            assert repeat.pending is not None
            p = repeat.pending
            batch_id, agency, dataset = p.batch_id, p.headers.agency, p.headers.dataset
            records = p.rows
            snapshot = snapshots[batch_id]
            agreement = (p.headers.agreement_id, p.agreement_version)
            decided_at = now
        receipt = Receipt(
            batch_id=batch_id,
            agency=agency,
            dataset=dataset,
            outcome="accepted",
            reason_code=None,
            lake_commit_id=None if snapshot is None else str(snapshot),
            records_received=records,
            records_accepted=records,
            records_rejected=0,
            decided_at=decided_at,
        )
        log.debug("batch %s replayed; receipt sent again", batch_id)
        return Outcome(
            "duplicate",
            batch_id,
            agency,
            receipt_topic=receipt_topic(agency),
            receipt=self._seal(receipt, agreement, now),
            snapshot_id=snapshot,
            records=records,
        )

    def _quarantine(
        self, r: Refused, now: datetime, replaying: QuarantinedMessage | None
    ) -> Outcome:
        d, known = r.delivered, r.known
        origin = Origin(d.topic, d.partition, d.offset)
        if replaying is not None:
            row = replaying
            row.reason_code = r.code
            row.message = r.message[:2000]
        else:
            existing = self.ledger.quarantined_at(origin, r.digest)
            if existing is not None:
                row = existing  # read again after a crash: the same row, no second entry
            else:
                row = self.ledger.quarantine(
                    value=r.value,
                    headers=list(d.headers),
                    origin=origin,
                    reason_code=r.code,
                    message=r.message,
                    received_at=now,
                    agency=known.agency,
                    dataset=known.dataset,
                    batch_id=known.batch_id,
                    content_digest=r.digest,
                )
                self.audit.record(
                    "delivery:quarantined",
                    self.actor,
                    f"quarantine:{row.id}",
                    {
                        "reason_code": r.code,
                        "topic": d.topic,
                        "partition": d.partition,
                        "offset": d.offset,
                        "batch_id": known.batch_id,
                    },
                )
        batch_id = known.batch_id or r.digest
        # A receipt names the batch only when the refusal follows from the signed bytes
        # themselves; otherwise it names the digest of the value, so that nobody can
        # have a genuine batch marked rejected by sending something that claims its id.
        attributable = known.bound and r.code not in UNVERIFIED_REASONS
        answered = batch_id if attributable else r.digest
        outcome = Outcome(
            "quarantined",
            batch_id,
            known.agency,
            reason_code=r.code,
            message=r.message,
            quarantine_id=row.id,
            notice=quarantine_notice(row, value_bytes=len(r.value)),
            replayed=replaying is not None,
        )
        if known.agency is None:
            return outcome  # no agency to answer to
        receipt = Receipt(
            batch_id=answered,
            agency=known.agency,
            dataset=known.dataset or "unknown",
            outcome="rejected",
            reason_code=r.code,
            lake_commit_id=None,
            records_received=known.records,
            records_accepted=0,
            records_rejected=known.records,
            decided_at=now,
            problems=r.problems,
        )
        return Outcome(
            "quarantined",
            batch_id,
            known.agency,
            reason_code=r.code,
            message=r.message,
            receipt_topic=receipt_topic(known.agency),
            receipt=self._seal(receipt, known.agreement if attributable else NO_AGREEMENT, now),
            quarantine_id=row.id,
            records=0,
            notice=outcome.notice,
            replayed=replaying is not None,
        )

    def _record_replay(
        self, row: QuarantinedMessage, outcome: Outcome, now: datetime, previous: str | None
    ) -> None:
        details: dict[str, Any] = {
            "outcome": outcome.status,
            "batch_id": outcome.batch_id,
            "previous_reason_code": previous,
            "first_reason_code": row.first_reason_code,
            "attempt": row.replays + 1,
        }
        row.replays += 1
        row.replayed_at = now
        row.replay_outcome = outcome.status
        if outcome.status == "quarantined":
            details["reason_code"] = outcome.reason_code
        else:
            row.state = "replayed"
            row.snapshot_id = None if outcome.snapshot_id is None else str(outcome.snapshot_id)
            details["snapshot_id"] = row.snapshot_id
        self.session.flush()
        self.audit.record("quarantine:replay", self.actor, f"quarantine:{row.id}", details)

    def _seal(self, receipt: Receipt, agreement: tuple[str, int], now: datetime) -> Message:
        return seal_receipt(
            receipt,
            catalog=self.schemas,
            agreement_id=agreement[0],
            agreement_version=agreement[1],
            signer=self.signer,
            now=now,
        )
