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

:meth:`IngestWorker.process_group` knows nothing of Kafka; :func:`run` drives it from a
confluent-kafka consumer group and commits the group's offsets (the highest per
partition) only after its decisions are stored and its receipts delivered.
:meth:`IngestWorker.replay` puts quarantined originals through the same decision.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyiceberg.catalog import Catalog as LakeCatalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from governance.agreements.coverage import Coverage
from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.errors import KeyRevoked, KeyUnknown
from governance.keys.models import AgencyKey
from governance.keys.services import KeyService
from governance.timestamps import Clock
from integration.ingest.errors import (
    BatchConflict,
    CheckFailed,
    KeyOfAnotherAgency,
    ReceiptUndelivered,
    WrongAgencyOnTopic,
    WrongTopic,
)
from integration.ingest.ledger import Ledger, Origin
from integration.ingest.models import IngestedBatch, QuarantinedMessage
from integration.ingest.notices import QUARANTINE_TOPIC, quarantine_notice
from integration.ingest.rekey import TokenRekeyer
from integration.lake.bronze import (
    BATCH_IDS_PROPERTY,
    Lineage,
    StagedAppend,
    bronze_identifier,
    commit_staged,
    discard_staged,
    ensure_bronze_table,
    expire_appends,
    lineage_values,
    stage_batches,
)
from integration.lake.data_files import ColumnBatch, columns_of
from integration.lake.errors import LakeCommitFailed
from lmis_hub.errors import HubError, ServiceUnavailable
from schemas.catalog import Catalog, SchemaVersion
from schemas.envelope import (
    BatchHeaders,
    Message,
    OpenedBatch,
    decode_envelope,
    parse_headers,
    verify_envelope,
)
from schemas.receipts import UNVERIFIED_REASONS, Receipt, receipt_topic, seal_receipt
from schemas.signing import Signer
from schemas.validation import Problem, RecordRules

log = logging.getLogger(__name__)

AGENCIES = ("nso", "nis", "tvet", "dol", "jobboard")
# The longest base wait between two attempts at a conflicting lake commit (before jitter).
MAX_COMMIT_BACKOFF_S = 1.0
#: The consumer group's subscription: every agency dataset topic (not receipts, not
#: the quarantine topic).
TOPIC_PATTERN = r"^lmis\.(nso|nis|tvet|dol|jobboard)\..*"
_TOPIC = re.compile(r"^lmis\.(nso|nis|tvet|dol|jobboard)\.([a-z][a-z0-9_]*)(\.|$)")
NO_AGREEMENT = ("none", 0)
SUPERSEDED = "agreement.version_superseded"

Status = Literal["accepted", "duplicate", "quarantined"]


@dataclass(frozen=True)
class Delivered:
    """One message as read from Kafka."""

    topic: str
    partition: int
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Outcome:
    """The decision on one message, the receipt to send (topic, message) and, for a
    refusal, the notice for the quarantine topic."""

    status: Status
    batch_id: str
    agency: str | None
    reason_code: str | None = None
    message: str = ""
    receipt_topic: str | None = None
    receipt: Message | None = None
    snapshot_id: int | None = None
    quarantine_id: str | None = None
    records: int = 0
    notice: Message | None = None
    replayed: bool = False


@dataclass
class _Known:
    """What is known of a message so far (for the quarantine row and receipt)."""

    agency: str | None = None
    dataset: str | None = None
    batch_id: str | None = None
    agreement: tuple[str, int] = NO_AGREEMENT
    records: int = 0
    # True once the signature verified and the batch id is the one the bytes give: only
    # then may a receipt name the batch (see UNVERIFIED_REASONS).
    bound: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Pending:
    """A verified, covered batch new to the ledger: to land in the lake."""

    delivered: Delivered
    opened: OpenedBatch
    headers: BatchHeaders
    digest: str
    agreement_version: int  # the version whose terms cover it (see replay)
    columns: dict[str, list[Any]]  # the records column-wise, by reader field name
    rows: int  # (``opened`` keeps no records: the group holds them column-wise only)

    @property
    def batch_id(self) -> str:
        return self.headers.batch_id


@dataclass
class _Refused:
    delivered: Delivered
    value: bytes
    known: _Known
    code: str
    message: str
    digest: str
    problems: tuple[Problem, ...] = ()


@dataclass
class _Repeat:
    """A batch already accepted (ledger) or already pending in this group."""

    previous: IngestedBatch | None = None
    pending: _Pending | None = None


_Decision = _Pending | _Refused | _Repeat


class IngestWorker:
    """Decides on delivered messages; every dependency is explicit."""

    def __init__(
        self,
        session: Session,
        *,
        schemas: Catalog,
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
        self.lake = lake
        self.keys = keys
        self.agreements = agreements
        self.audit = audit
        self.ledger = ledger
        self.rekeyer = rekeyer
        self.signer = signer
        self.clock = clock
        self.max_skew = max_skew
        self.max_message_bytes = max_message_bytes
        self.max_age = max_age
        self.rules = rules
        # The deployment's name of a delivered topic as lmis.<agency>.<dataset>.v<major>
        # (the identity; tests isolate themselves on suffixed copies of the topics).
        self.canonical_topic = canonical_topic
        self.actor = actor
        self.commit_attempts = commit_attempts
        self.commit_backoff_s = commit_backoff_s
        self.sleep = sleep
        self.max_snapshots = max_snapshots
        self._tables: dict[str, Table] = {}
        self._accepted: dict[str, IngestedBatch] = {}
        self._coverage: dict[tuple[str, str, frozenset[str], str, int], Coverage] = {}
        # Rows the group reads again and again (agency keys, agreements), held so the
        # session's weak identity map answers instead of the database.
        self._pinned: dict[tuple[str, ...], Any] = {}

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
        pending: dict[str, _Pending] = {}
        # The group's lookups: the ledger in one query, each agreement's coverage once.
        self._accepted = self.ledger.accepted_many(_batch_ids(deliveries))
        self._coverage = {}
        self._pinned = {}
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
        snapshots = self._land(list(pending.values()), now) if pending else {}
        try:
            outcomes = [
                self._store(decision, snapshots, now, replaying.get(i))
                for i, decision in enumerate(decisions)
            ]
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if pending:
            self._bound_snapshots({p.opened.reader.key for p in pending.values()})
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
        pending: dict[str, _Pending],
        *,
        replay: bool,
        received_at: datetime,
    ) -> _Decision:
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
        known = _Known()
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
                return _Repeat(previous=previous, pending=earlier)
            columns = columns_of(opened.records, [f["name"] for f in opened.reader.fields])
            version = self._check_coverage(opened, columns, headers, now, replay=replay)
            self.rules(opened.reader).raise_if_broken(columns, today=received_at.date())
        except HubError as exc:
            problems = tuple(exc.context.get("problems", ()))
            return _Refused(delivered, value, known, exc.code, exc.message, digest, problems)
        except (SQLAlchemyError, OSError) as exc:
            self.session.rollback()  # nothing of the group is written yet: only reads
            raise ServiceUnavailable(
                f"checking {delivered.topic}@{delivered.offset} failed: "
                f"{type(exc).__name__}; the group is not committed and will be read again"
            ) from exc
        except Exception as exc:
            log.exception("defect checking %s@%d", delivered.topic, delivered.offset)
            self.session.rollback()  # nothing of the group is written yet: only reads
            return _Refused(
                delivered, value, known, CheckFailed.code, f"{type(exc).__name__}: {exc}", digest
            )
        # Only the columns stay: a group's record dicts would otherwise live until the
        # lake commit, and every garbage collection pass would walk all of them.
        rows = len(opened.records)
        opened = replace(opened, records=[])
        decision = _Pending(delivered, opened, headers, digest, version, columns, rows)
        pending[headers.batch_id] = decision
        return decision

    def _verify(
        self, delivered: Delivered, value: bytes, received_at: datetime, known: _Known
    ) -> tuple[OpenedBatch, BatchHeaders]:
        match = _TOPIC.match(delivered.topic)
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

    # The lake ------------------------------------------------------------------------

    def _table(self, reader: SchemaVersion) -> Table:
        table = self._tables.get(reader.key)
        if table is None:
            table = ensure_bronze_table(
                self.lake,
                agency=reader.agency,
                dataset=reader.dataset,
                avro_schema=dict(reader.raw),
                event_date_field=reader.event_date_field,
            )
            self._tables[reader.key] = table
        return table

    def _land(self, pending: Sequence[_Pending], now: datetime) -> dict[str, int]:
        """Append the pending batches, one commit per table; batch id → snapshot id."""
        by_table: dict[str, list[_Pending]] = {}
        for p in pending:
            by_table.setdefault(p.opened.reader.key, []).append(p)
        snapshots: dict[str, int] = {}
        for items in by_table.values():
            table = self._table(items[0].opened.reader)
            snapshots.update(self._commit(table, items, now))
        return snapshots

    def _commit(self, table: Table, items: Sequence[_Pending], now: datetime) -> dict[str, int]:
        """One lake commit for ``items``, retried on conflict with a bounded backoff.

        The data files are written once; a conflicting commit is retried with the same
        files, so a retry costs only new metadata. Before every attempt the table is
        refreshed and batches whose ids a snapshot summary already names (an earlier
        crash, or another worker of the group after a rebalance) are left out: then the
        files are written again for the rest.
        """
        batches = {p.batch_id: self._column_batch(p, now) for p in items}
        staged: StagedAppend | None = None
        for attempt in range(1, self.commit_attempts + 1):
            table.refresh()
            found = snapshots_holding(table, batches)
            if found:
                log.warning(
                    "%d batch(es) already in %s but not in the ledger; recording them",
                    len(found),
                    table.name(),
                )
            todo_ids = tuple(batch_id for batch_id in batches if batch_id not in found)
            if staged is not None and staged.batch_ids != todo_ids:
                # Its commits failed (pyiceberg tells a failed commit from one that landed
                # with a lost response) and only this worker knows the file names.
                discard_staged(table, staged)
                staged = None
            if not todo_ids:
                return found
            if staged is None:
                staged = stage_batches(table, [batches[batch_id] for batch_id in todo_ids])
            try:
                snapshot_id = commit_staged(table, staged)
            except LakeCommitFailed:
                if attempt == self.commit_attempts:
                    discard_staged(table, staged)
                    raise
                # Jittered, doubling, capped: two workers appending to one table must not
                # keep colliding, and a long run of conflicts must not stall a group.
                backoff = min(self.commit_backoff_s * 2 ** (attempt - 1), MAX_COMMIT_BACKOFF_S)
                delay = backoff * (1 + random.random())  # noqa: S311 (jitter)
                log.warning(
                    "lake commit to %s conflicted (attempt %d of %d); retrying in %.2f s",
                    table.name(),
                    attempt,
                    self.commit_attempts,
                    delay,
                )
                self.sleep(delay)
                continue
            return found | dict.fromkeys(todo_ids, snapshot_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _column_batch(self, p: _Pending, now: datetime) -> ColumnBatch:
        """The batch column-wise with its token columns re-keyed with K_hub."""
        columns = dict(p.columns)
        for name in p.opened.reader.token_fields():
            if name in columns:
                columns[name] = self.rekeyer.column(columns[name])
        lineage = Lineage(
            batch_id=p.batch_id,
            agreement_id=p.headers.agreement_id,
            agreement_version=p.agreement_version,
            schema_fingerprint=p.headers.schema_fingerprint,
            received_at=now,
        )
        return ColumnBatch(columns, p.rows, lineage_values(lineage))

    def _bound_snapshots(self, keys: set[str]) -> None:
        """Keep the tables' snapshot lists short: pyiceberg copies the whole table
        metadata on every commit, so time per group would grow with every snapshot.

        Past ``max_snapshots``, snapshots are expired (never the newest half) when the
        ledger holds every batch id their summaries name: crash recovery only looks up
        batches that reached the lake but not the ledger (:func:`snapshots_holding`),
        and those stay. Their manifest lists and merged-away manifests are deleted; data
        files stay (every append's files are still live). A failed expiry is only
        logged: the next group tries again.
        """
        for key in keys:
            table = self._tables.get(key)
            if table is None or len(table.metadata.snapshots) <= self.max_snapshots:
                continue
            table.refresh()  # another worker of the group may have expired some already
            current = table.current_snapshot()
            keep = max(1, self.max_snapshots // 2)
            older = sorted(table.metadata.snapshots, key=lambda s: s.sequence_number or 0)
            older = [
                s for s in older[:-keep] if current is None or s.snapshot_id != current.snapshot_id
            ]
            named = {s.snapshot_id: _summary_ids(s.summary) for s in older}
            recorded = self.ledger.recorded({i for ids in named.values() for i in ids})
            doomed = [sid for sid, ids in named.items() if ids <= recorded]
            if not doomed:
                continue
            try:
                deleted = expire_appends(table, doomed)
            except (CommitFailedException, LakeCommitFailed, OSError) as exc:
                log.warning("expiring %d snapshot(s) of %s failed: %s", len(doomed), key, exc)
                continue
            log.debug("expired %d snapshot(s) of %s, %d file(s) deleted", len(doomed), key, deleted)

    # The records ---------------------------------------------------------------------

    def _store(
        self,
        decision: _Decision,
        snapshots: Mapping[str, int],
        now: datetime,
        replaying: QuarantinedMessage | None,
    ) -> Outcome:
        reason_before = replaying.reason_code if replaying is not None else None
        if isinstance(decision, _Pending):
            outcome = self._accept(decision, snapshots[decision.batch_id], now, replaying)
        elif isinstance(decision, _Repeat):
            outcome = self._duplicate(decision, snapshots, now)
        else:
            outcome = self._quarantine(decision, now, replaying)
        if replaying is not None:
            self._record_replay(replaying, outcome, now, reason_before)
        return outcome

    def _accept(
        self,
        p: _Pending,
        snapshot_id: int,
        now: datetime,
        replaying: QuarantinedMessage | None,
    ) -> Outcome:
        headers, records = p.headers, p.rows
        agreement = (headers.agreement_id, p.agreement_version)
        self._pin(
            ("agreement", *map(str, agreement)),
            lambda: self.agreements.get(headers.agreement_id, p.agreement_version),
        )
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
            "k_hub_version": self.rekeyer.version,
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

    def _duplicate(self, repeat: _Repeat, snapshots: Mapping[str, int], now: datetime) -> Outcome:
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
        self, r: _Refused, now: datetime, replaying: QuarantinedMessage | None
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


def _summary_ids(summary: Any) -> set[str]:
    ids = summary.get(BATCH_IDS_PROPERTY) if summary else None
    return set(ids.split(",")) if ids else set()


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


def snapshots_holding(table: Table, batch_ids: Mapping[str, Any] | set[str]) -> dict[str, int]:
    """For each of ``batch_ids`` that a snapshot summary names: that snapshot's id."""
    wanted = set(batch_ids)
    found: dict[str, int] = {}
    for snapshot in table.metadata.snapshots:
        ids = snapshot.summary.get(BATCH_IDS_PROPERTY) if snapshot.summary else None
        if not ids:
            continue
        for batch_id in wanted.intersection(ids.split(",")):
            found[batch_id] = snapshot.snapshot_id
    return found


# The Kafka loop ------------------------------------------------------------------------


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
) -> int:
    """Consume a group, decide, store, send receipts and notices, then commit the group's
    offsets; returns the messages processed.

    ``consumer`` is a confluent-kafka Consumer already subscribed to :data:`TOPIC_PATTERN`
    with manual commits; ``producer`` a confluent-kafka Producer. With ``once`` the loop
    ends when no message arrived for ``idle_timeout_s`` seconds. ``limits`` bounds each
    group (default :class:`GroupLimits`); ``quarantine_topic=None`` sends no notices.
    """
    limits = limits or GroupLimits()
    processed = 0
    idle = 0.0
    while not should_stop():
        group = _gather(consumer, poll_timeout_s, limits)
        if not group:
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
    failed: list[str] = []

    def delivered(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            failed.append(f"{msg.topic()}: {err}")

    messages: list[tuple[str, Message]] = []
    for outcome in outcomes:
        if outcome.receipt is not None and outcome.receipt_topic is not None:
            messages.append((outcome.receipt_topic, outcome.receipt))
        if outcome.notice is not None and quarantine_topic is not None:
            messages.append((quarantine_topic, outcome.notice))
    for topic, message in messages:
        producer.produce(
            topic,
            key=message.key,
            value=message.value,
            headers=message.headers,
            on_delivery=delivered,
        )
    if not messages:
        return
    left = producer.flush(timeout_s)
    if left != 0 or failed:
        detail = f"; {failed[0]}" if failed else ""
        raise ReceiptUndelivered(
            f"{left + len(failed)} of {len(messages)} receipt(s)/notice(s) were not delivered "
            f"within {timeout_s:.0f} s{detail}; the messages will be read again"
        )
