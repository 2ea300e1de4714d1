"""The ingest worker: a bounded group of delivered messages in, one decision each out.

For each message: parse and verify the envelope (key valid at the producer time and
owned by the header's agency), check the topic's agency, dedupe by batch id (against
the ledger and within the group), check the agreement covers the dataset and the
fields carrying data. Then, for the whole group: re-key the accepted batches' tokens
with K_hub and append them to their bronze tables, ONE lake commit per table whose
snapshot summary names every batch id (retried with a bounded backoff when another
writer committed first); then the ledger rows, agreement deliveries, quarantine rows
and audit entries of the group in ONE hub-database transaction; then the sealed
receipts and quarantine notices.

Nothing is lost or doubled by a crash between any two steps: before the database
commit nothing of the group is recorded, so every message is read again; a batch
already in the lake is found in the table's snapshot summaries and not appended twice;
a refused message read again reuses its quarantine row (same origin, same bytes).
Every refusal becomes a quarantine row (original bytes KEK-encrypted), an audit entry,
a signed rejection receipt and a notice for the quarantine topic; the worker goes on.

:meth:`IngestWorker.process_group` knows nothing of Kafka (:mod:`integration.ingest.loop`
drives it from a consumer group). This module holds the checks and the decision; the
lake side is :mod:`integration.ingest.landing`, the recording of outcomes and receipts
:mod:`integration.ingest.recording`. :meth:`IngestWorker.replay` puts quarantined
originals through the same decision.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyiceberg.catalog import Catalog as LakeCatalog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from governance.agreements.coverage import Coverage
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.deliveries.models import IngestedBatch, QuarantinedMessage
from governance.errors import KeyRevoked, KeyUnknown, VersionSuperseded
from governance.keys.models import AgencyKey
from governance.keys.services import KeyService
from governance.timestamps import Clock
from integration.ingest.decisions import (
    Decision,
    Delivered,
    Known,
    Outcome,
    Pending,
    Refused,
    Repeat,
)
from integration.ingest.errors import (
    BatchConflict,
    CheckFailed,
    KeyOfAnotherAgency,
    WrongAgencyOnTopic,
    WrongTopic,
)
from integration.ingest.landing import BronzeLanding
from integration.ingest.ledger import Ledger
from integration.ingest.recording import OutcomeRecorder
from integration.ingest.rekey import TokenRekeyer
from integration.lake.data_files import columns_of
from lmis_hub.errors import HubError, ServiceUnavailable
from lmis_hub.topics import DATASET_TOPIC
from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.envelope import (
    BatchHeaders,
    OpenedBatch,
    decode_envelope,
    parse_headers,
    verify_envelope,
)
from schemas.signing import Signer
from schemas.validation import RecordRules

log = logging.getLogger(__name__)

SUPERSEDED = VersionSuperseded.code


class IngestWorker:
    """Decides on delivered messages; every dependency is explicit."""

    def __init__(
        self,
        session: Session,
        *,
        schemas: SchemaCatalog,
        lake: LakeCatalog,
        keys: KeyService,
        agreements: AgreementService,
        audit: AuditLog,
        ledger: Ledger,
        rekeyer: TokenRekeyer,
        signer: Signer,
        clock: Clock,
        max_skew: timedelta,
        max_message_bytes: int,
        max_age: timedelta | None = None,
        rules: Callable[[SchemaVersion], RecordRules] = RecordRules.of,
        canonical_topic: Callable[[str], str] = lambda topic: topic,
        actor: str = "ingest",
        commit_attempts: int = 12,
        commit_backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        max_snapshots: int = 16,
    ) -> None:
        self.session = session
        self.schemas = schemas
        self.keys = keys
        self.agreements = agreements
        self.audit = audit
        self.ledger = ledger
        self.clock = clock
        self.max_skew = max_skew
        self.max_message_bytes = max_message_bytes
        self.max_age = max_age
        self.rules = rules
        # The deployment's name of a delivered topic as lmis.<agency>.<dataset>.v<major>
        # (the identity; tests isolate themselves on suffixed copies of the topics).
        self.canonical_topic = canonical_topic
        self.landing = BronzeLanding(
            lake=lake,
            rekeyer=rekeyer,
            ledger=ledger,
            commit_attempts=commit_attempts,
            commit_backoff_s=commit_backoff_s,
            sleep=sleep,
            max_snapshots=max_snapshots,
        )
        self.recorder = OutcomeRecorder(
            session,
            schemas=schemas,
            agreements=agreements,
            audit=audit,
            ledger=ledger,
            signer=signer,
            k_hub_version=rekeyer.version,
            actor=actor,
        )
        self._accepted: dict[str, IngestedBatch] = {}
        self._coverage: dict[tuple[str, str, frozenset[str], str, int], Coverage] = {}
        # Rows the group reads again and again (agency keys), held so the session's weak
        # identity map answers instead of the database.
        self._pinned: dict[tuple[str, ...], Any] = {}

    @property
    def lake(self) -> LakeCatalog:
        """The lake catalog the worker lands batches in."""
        return self.landing.lake

    # The decision --------------------------------------------------------------------

    def process(self, delivered: Delivered) -> Outcome:
        """Decide on one message (a group of one); refusals are quarantined, never raised."""
        return self.process_group([delivered])[0]

    def process_group(self, deliveries: Sequence[Delivered]) -> list[Outcome]:
        """Decide on a group of messages: one lake commit per table, one DB transaction.

        Returns one outcome per message, in order. Lake and database outages (not the
        messages' fault) are raised so the caller commits no offset and the group is
        read again.
        """
        return self._decide(deliveries, {})

    def replay(self, rows: Sequence[QuarantinedMessage]) -> list[Outcome]:
        """Decide again on quarantined originals (after their cause was fixed).

        The same decision as on delivery, with one difference: a batch signed under an
        agreement version that an active amendment has since superseded is checked
        against the newest active version (the amendment that fixed the cause, signed
        by the same parties) and recorded under it. Accepted (or found already
        ingested): the row is marked ``replayed`` with the outcome. Still refused: the
        row stays ``quarantined`` with the new reason. Either way an audit entry.
        """
        deliveries: list[Delivered] = []
        replaying: dict[int, QuarantinedMessage] = {}
        for i, row in enumerate(rows):
            original = self.ledger.original(row)
            deliveries.append(
                Delivered(row.topic, row.partition, row.offset, original.value, original.headers)
            )
            replaying[i] = row
        return self._decide(deliveries, replaying)

    def _decide(
        self, deliveries: Sequence[Delivered], replaying: Mapping[int, QuarantinedMessage]
    ) -> list[Outcome]:
        now = self.clock()
        pending: dict[str, Pending] = {}
        # The group's lookups: the ledger in one query, each agreement's coverage once.
        self._accepted = self.ledger.accepted_many(_batch_ids(deliveries))
        self._coverage = {}
        self._pinned = {}
        self.recorder.start_group()
        decisions = [
            self._check(
                d,
                now,
                pending,
                replay=i in replaying,
                received_at=replaying[i].received_at if i in replaying else now,
            )
            for i, d in enumerate(deliveries)
        ]
        # End the read transaction before the lake commit: on SQLite (WAL) a read
        # transaction older than the lake's write could not be upgraded to write the ledger.
        self.session.commit()
        snapshots = self.landing.land(list(pending.values()), now) if pending else {}
        try:
            outcomes = [
                self.recorder.store(decision, snapshots, now, replaying.get(i))
                for i, decision in enumerate(decisions)
            ]
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if pending:
            self.landing.bound_snapshots({p.opened.reader.key for p in pending.values()})
        for outcome in outcomes:
            if outcome.status == "quarantined":
                log.warning(
                    "quarantined batch %s of %s: [%s] %s",
                    outcome.batch_id[:16],
                    outcome.agency,
                    outcome.reason_code,
                    outcome.message,
                )
        return outcomes

    def _check(
        self,
        delivered: Delivered,
        now: datetime,
        pending: dict[str, Pending],
        *,
        replay: bool,
        received_at: datetime,
    ) -> Decision:
        """The decision on one message. The error policy: a refusal of the message
        (a :class:`HubError`) quarantines it; the hub database or the file system
        failing (not the message's fault) raises :class:`ServiceUnavailable`, so the
        group is stored nowhere, its offsets are not committed and it is read again;
        any other exception is a defect of the hub's own checks: the message is
        quarantined as ``ingest.check_failed`` (kept, replayable once the defect is
        fixed) and the worker goes on with the next one.

        ``received_at`` is when the hub received the message (for a replay, the first
        delivery): key revocation and producer-time limits are judged at that time.
        """
        value = delivered.value or b""
        digest = hashlib.sha256(value).hexdigest()
        known = Known()
        try:
            opened, headers = self._verify(delivered, value, received_at, known)
            previous = self._accepted.get(headers.batch_id)
            earlier = pending.get(headers.batch_id)
            first_digest = (
                previous.content_digest
                if previous is not None
                else (earlier.digest if earlier is not None else None)
            )
            if first_digest is not None:
                if first_digest != digest:
                    where = (
                        f"accepted at {previous.received_at.isoformat()}"
                        if previous is not None
                        else "earlier in the same group"
                    )
                    raise BatchConflict(
                        f"batch {headers.batch_id} on {delivered.topic}@{delivered.offset} was "
                        f"{where} with digest {first_digest}, this one has {digest}"
                    )
                return Repeat(previous=previous, pending=earlier)
            columns = columns_of(opened.records, [f["name"] for f in opened.reader.fields])
            version = self._check_coverage(opened, columns, headers, now, replay=replay)
            self.rules(opened.reader).raise_if_broken(columns, today=received_at.date())
        except HubError as exc:
            problems = tuple(exc.context.get("problems", ()))
            return Refused(delivered, value, known, exc.code, exc.message, digest, problems)
        except (SQLAlchemyError, OSError) as exc:
            self.session.rollback()  # nothing of the group is written yet: only reads
            raise ServiceUnavailable(
                f"checking {delivered.topic}@{delivered.offset} failed: "
                f"{type(exc).__name__}; the group is not committed and will be read again"
            ) from exc
        except Exception as exc:
            log.exception("defect checking %s@%d", delivered.topic, delivered.offset)
            self.session.rollback()  # nothing of the group is written yet: only reads
            return Refused(
                delivered, value, known, CheckFailed.code, f"{type(exc).__name__}: {exc}", digest
            )
        # Only the columns stay: a group's record dicts would otherwise live until the
        # lake commit, and every garbage collection pass would walk all of them.
        rows = len(opened.records)
        opened = replace(opened, records=[])
        decision = Pending(delivered, opened, headers, digest, version, columns, rows)
        pending[headers.batch_id] = decision
        return decision

    def _verify(
        self, delivered: Delivered, value: bytes, received_at: datetime, known: Known
    ) -> tuple[OpenedBatch, BatchHeaders]:
        match = DATASET_TOPIC.match(delivered.topic)
        if match is None:
            raise WrongTopic(f"topic {delivered.topic!r} is not lmis.<agency>.<dataset>...")
        known.agency, known.dataset = match.group(1), match.group(2)
        headers = parse_headers(list(delivered.headers))
        known.batch_id = headers.batch_id
        known.agreement = (headers.agreement_id, headers.agreement_version)
        known.records = headers.record_count
        if headers.agency != known.agency:
            raise WrongAgencyOnTopic(
                f"message at {delivered.topic}@{delivered.offset} says agency "
                f"{headers.agency!r}, the topic belongs to {known.agency!r}"
            )

        def public_key_for(key_id: str) -> Ed25519PublicKey | None:
            self._pin(("key", key_id), lambda: self.session.get(AgencyKey, key_id))
            try:
                status = self.keys.status(key_id)
            except KeyUnknown:
                return None
            if status.agency != headers.agency:
                raise KeyOfAnotherAgency(
                    f"key {key_id} belongs to {status.agency}, the batch says {headers.agency}"
                )
            if status.revoked_at is not None and status.revoked_at <= received_at:
                # Whatever producer time the signer wrote: a revoked key may be in other
                # hands, and they choose the producer time.
                raise KeyRevoked(
                    f"key {key_id} was revoked at {status.revoked_at.isoformat()}, before "
                    f"this message was received; sign it again with the agency's current key"
                )
            return self.keys.public_key_at(key_id, headers.producer_time)

        verified = verify_envelope(
            value,
            list(delivered.headers),
            catalog=self.schemas,
            public_key_for=public_key_for,
            max_message_bytes=self.max_message_bytes,
        )
        if self.canonical_topic(delivered.topic) != verified.writer.topic:
            raise WrongTopic(
                f"batch {headers.batch_id} of {verified.writer.key} v{verified.writer.version} "
                f"belongs on topic {verified.writer.topic}, not {delivered.topic}"
            )
        known.bound = True
        opened = decode_envelope(
            verified,
            catalog=self.schemas,
            now=received_at,
            max_skew=self.max_skew,
            max_age=self.max_age,
        )
        return opened, headers

    def _check_coverage(
        self,
        opened: OpenedBatch,
        columns: Mapping[str, Sequence[Any]],
        headers: BatchHeaders,
        now: datetime,
        *,
        replay: bool,
    ) -> int:
        """The agreement version that covers the batch, or the refusal raised."""
        record_id = opened.reader.record_id_field
        present = frozenset(
            name
            for name, values in columns.items()
            if name != record_id and any(v is not None for v in values)
        )
        asked = (
            headers.agency,
            headers.dataset,
            present,
            headers.agreement_id,
            headers.agreement_version,
        )
        coverage = self._coverage.get(asked)
        if coverage is None:  # nothing of the group is written yet: the answer holds
            coverage = self.agreements.check_delivery(*asked, now)
            self._coverage[asked] = coverage
        if replay and coverage.code == SUPERSEDED:
            newest = self._newest_active(headers.agreement_id, headers.agency)
            if newest is not None and newest > headers.agreement_version:
                again = self.agreements.check_delivery(
                    headers.agency, headers.dataset, present, headers.agreement_id, newest, now
                )
                again.raise_if_refused()
                return newest
        coverage.raise_if_refused()
        return headers.agreement_version

    def _newest_active(self, agreement_id: str, agency: str) -> int | None:
        versions = [
            a.version
            for a in self.agreements.find(state="active", provider=agency)
            if a.id == agreement_id
        ]
        return max(versions) if versions else None

    def _pin(self, key: tuple[str, ...], load: Callable[[], Any]) -> None:
        if key not in self._pinned:
            self._pinned[key] = load()


def _batch_ids(deliveries: Sequence[Delivered]) -> set[str]:
    """The batch ids the deliveries' headers name (a malformed header is skipped here
    and refused by the per-message check)."""
    ids: set[str] = set()
    for d in deliveries:
        for name, value in d.headers:
            if name == "lmis-batch-id" and value:
                ids.add(value.decode("ascii", "replace"))
                break
    return ids
