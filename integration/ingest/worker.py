"""The ingest worker: one delivered message in, one decision (and receipt) out.

For each message: parse and verify the envelope (key valid at the producer time and
owned by the header's agency), check the topic's agency, dedupe by batch id, check the
agreement covers the dataset and the fields carrying data, re-key the tokens with
K_hub, append to the bronze table (one lake commit), then record the ledger row, the
agreement delivery and the audit entry in ONE hub-database transaction. A crash
between the lake commit and the ledger is recovered on redelivery: the batch id is
found in the table's snapshot summaries and not appended twice. Every refusal becomes
a quarantine row (original bytes KEK-encrypted), an audit entry and a signed
rejection receipt; the worker goes on with the next message.

:meth:`IngestWorker.process` knows nothing of Kafka; :func:`run` drives it from a
confluent-kafka consumer group and commits an offset only after the decision is
stored and its receipt delivered.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pyiceberg.catalog import Catalog as LakeCatalog
from pyiceberg.table import Table
from sqlalchemy.orm import Session

from governance.agreements.services import AgreementService
from governance.audit.services import AuditLog
from governance.errors import KeyUnknown
from governance.keys.services import KeyService
from governance.timestamps import Clock
from integration.ingest.errors import (
    BatchConflict,
    KeyOfAnotherAgency,
    ReceiptUndelivered,
    Undecodable,
    WrongAgencyOnTopic,
    WrongTopic,
)
from integration.ingest.ledger import Ledger, Origin
from integration.ingest.models import IngestedBatch
from integration.ingest.rekey import TokenRekeyer
from integration.lake.bronze import (
    BATCH_IDS_PROPERTY,
    LakeBatch,
    Lineage,
    append_batches,
    bronze_identifier,
    committed_batch_ids,
    ensure_bronze_table,
)
from lmis_hub.errors import HubError
from schemas.catalog import Catalog, SchemaVersion
from schemas.envelope import BatchHeaders, Message, OpenedBatch, open_batch, parse_headers
from schemas.receipts import Receipt, receipt_topic, seal_receipt
from schemas.signing import Signer

log = logging.getLogger(__name__)

AGENCIES = ("nso", "nis", "tvet", "dol", "jobboard")
#: The consumer group's subscription: every agency dataset topic (not receipts).
TOPIC_PATTERN = r"^lmis\.(nso|nis|tvet|dol|jobboard)\..*"
_TOPIC = re.compile(r"^lmis\.(nso|nis|tvet|dol|jobboard)\.([a-z][a-z0-9_]*)(\.|$)")
NO_AGREEMENT = ("none", 0)

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
    """The decision on one message and the receipt to send (topic, message)."""

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


@dataclass
class _Known:
    """What is known of a message so far (for the quarantine row and receipt)."""

    agency: str | None = None
    dataset: str | None = None
    batch_id: str | None = None
    agreement: tuple[str, int] = NO_AGREEMENT
    records: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


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
        actor: str = "ingest",
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
        self.actor = actor
        self._tables: dict[str, Table] = {}

    # The decision --------------------------------------------------------------------

    def process(self, delivered: Delivered) -> Outcome:
        """Decide on one message; refusals are quarantined, never raised.

        Lake and database outages (not the message's fault) are raised so the caller
        does not commit the offset and the message is read again.
        """
        now = self.clock()
        value = delivered.value or b""
        known = _Known()
        try:
            opened, headers = self._verify(delivered, value, now, known)
            previous = self.ledger.accepted(headers.batch_id)
            digest = hashlib.sha256(value).hexdigest()
            if previous is not None:
                if previous.content_digest != digest:
                    raise BatchConflict(
                        f"batch {headers.batch_id} on {delivered.topic}@{delivered.offset} was "
                        f"accepted at {previous.received_at.isoformat()} with digest "
                        f"{previous.content_digest}, this one has {digest}"
                    )
                return self._duplicate(previous, now)
            self._check_coverage(opened, headers, now)
        except HubError as exc:
            return self._quarantine(delivered, value, now, known, exc.code, exc.message)
        except Exception as exc:
            log.exception("unexpected failure checking %s@%d", delivered.topic, delivered.offset)
            return self._quarantine(
                delivered, value, now, known, Undecodable.code, f"{type(exc).__name__}: {exc}"
            )
        return self._accept(opened, headers, digest, now)

    def _verify(
        self, delivered: Delivered, value: bytes, now: datetime, known: _Known
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
            try:
                status = self.keys.status(key_id)
            except KeyUnknown:
                return None
            if status.agency != headers.agency:
                raise KeyOfAnotherAgency(
                    f"key {key_id} belongs to {status.agency}, the batch says {headers.agency}"
                )
            return self.keys.public_key_at(key_id, headers.producer_time)

        opened = open_batch(
            value,
            list(delivered.headers),
            catalog=self.schemas,
            public_key_for=public_key_for,
            now=now,
            max_skew=self.max_skew,
            max_message_bytes=self.max_message_bytes,
        )
        if opened.writer.dataset != known.dataset:
            raise WrongTopic(
                f"batch {headers.batch_id} of {opened.writer.key} v{opened.writer.version} "
                f"does not belong on topic {delivered.topic}"
            )
        return opened, headers

    def _check_coverage(self, opened: OpenedBatch, headers: BatchHeaders, now: datetime) -> None:
        record_id = opened.reader.record_id_field
        present = {
            name
            for record in opened.records
            for name, item in record.items()
            if item is not None and name != record_id
        }
        coverage = self.agreements.check_delivery(
            headers.agency,
            headers.dataset,
            frozenset(present),
            headers.agreement_id,
            headers.agreement_version,
            now,
        )
        coverage.raise_if_refused()

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

    def _accept(
        self, opened: OpenedBatch, headers: BatchHeaders, digest: str, now: datetime
    ) -> Outcome:
        reader = opened.reader
        # End the read transaction before the lake commit: on SQLite (WAL) a read
        # transaction older than the lake's write could not be upgraded to write the ledger.
        self.session.commit()
        table = self._table(reader)
        table.refresh()
        snapshot_id = _snapshot_holding(table, headers.batch_id)
        if snapshot_id is None:
            records = self.rekeyer.records(opened.records, reader.token_fields())
            lineage = Lineage(
                batch_id=headers.batch_id,
                agreement_id=headers.agreement_id,
                agreement_version=headers.agreement_version,
                schema_fingerprint=headers.schema_fingerprint,
                received_at=now,
            )
            snapshot_id = append_batches(table, [LakeBatch(records, lineage)])
        else:
            log.warning(
                "batch %s is already in %s (snapshot %d) but not in the ledger; recording it",
                headers.batch_id,
                table.name(),
                snapshot_id,
            )
        self.ledger.record_accepted(
            IngestedBatch(
                batch_id=headers.batch_id,
                agency=headers.agency,
                dataset=headers.dataset,
                content_digest=digest,
                agreement_id=headers.agreement_id,
                agreement_version=headers.agreement_version,
                lake_table=bronze_identifier(headers.agency, headers.dataset),
                snapshot_id=str(snapshot_id),
                records=len(opened.records),
                received_at=now,
            )
        )
        self.agreements.record_delivery(
            headers.agreement_id,
            headers.agreement_version,
            headers.dataset,
            now,
            batch_id=headers.batch_id,
            actor=self.actor,
        )
        self.audit.record(
            "delivery:accepted",
            self.actor,
            f"batch:{headers.batch_id}",
            {
                "agency": headers.agency,
                "dataset": headers.dataset,
                "records": len(opened.records),
                "snapshot_id": str(snapshot_id),
                "k_hub_version": self.rekeyer.version,
            },
        )
        self.session.commit()
        receipt = Receipt(
            batch_id=headers.batch_id,
            agency=headers.agency,
            dataset=headers.dataset,
            outcome="accepted",
            reason_code=None,
            lake_commit_id=str(snapshot_id),
            records_received=len(opened.records),
            records_accepted=len(opened.records),
            records_rejected=0,
            decided_at=now,
        )
        log.info("accepted batch %s of %s/%s", headers.batch_id, headers.agency, headers.dataset)
        return Outcome(
            "accepted",
            headers.batch_id,
            headers.agency,
            receipt_topic=receipt_topic(headers.agency),
            receipt=self._seal(receipt, (headers.agreement_id, headers.agreement_version), now),
            snapshot_id=snapshot_id,
            records=len(opened.records),
        )

    def _duplicate(self, previous: IngestedBatch, now: datetime) -> Outcome:
        """A replay of an accepted batch: the same receipt again, nothing else."""
        receipt = Receipt(
            batch_id=previous.batch_id,
            agency=previous.agency,
            dataset=previous.dataset,
            outcome="accepted",
            reason_code=None,
            lake_commit_id=previous.snapshot_id,
            records_received=previous.records,
            records_accepted=previous.records,
            records_rejected=0,
            decided_at=previous.received_at,
        )
        log.debug("batch %s replayed; receipt sent again", previous.batch_id)
        agreement = (previous.agreement_id, previous.agreement_version)
        return Outcome(
            "duplicate",
            previous.batch_id,
            previous.agency,
            receipt_topic=receipt_topic(previous.agency),
            receipt=self._seal(receipt, agreement, now),
            snapshot_id=int(previous.snapshot_id) if previous.snapshot_id else None,
            records=previous.records,
        )

    def _quarantine(
        self,
        delivered: Delivered,
        value: bytes,
        now: datetime,
        known: _Known,
        code: str,
        message: str,
    ) -> Outcome:
        self.session.rollback()
        row = self.ledger.quarantine(
            value=value,
            headers=list(delivered.headers),
            origin=Origin(delivered.topic, delivered.partition, delivered.offset),
            reason_code=code,
            message=message,
            received_at=now,
            agency=known.agency,
            dataset=known.dataset,
            batch_id=known.batch_id,
        )
        self.audit.record(
            "delivery:quarantined",
            self.actor,
            f"quarantine:{row.id}",
            {
                "reason_code": code,
                "topic": delivered.topic,
                "partition": delivered.partition,
                "offset": delivered.offset,
                "batch_id": known.batch_id,
            },
        )
        self.session.commit()
        log.warning("quarantined %s@%d: [%s] %s", delivered.topic, delivered.offset, code, message)
        batch_id = known.batch_id or hashlib.sha256(value).hexdigest()
        outcome = Outcome(
            "quarantined",
            batch_id,
            known.agency,
            reason_code=code,
            message=message,
            quarantine_id=row.id,
        )
        if known.agency is None:
            return outcome  # no agency to answer to
        receipt = Receipt(
            batch_id=batch_id,
            agency=known.agency,
            dataset=known.dataset or "unknown",
            outcome="rejected",
            reason_code=code,
            lake_commit_id=None,
            records_received=known.records,
            records_accepted=0,
            records_rejected=known.records,
            decided_at=now,
        )
        return Outcome(
            "quarantined",
            batch_id,
            known.agency,
            reason_code=code,
            message=message,
            receipt_topic=receipt_topic(known.agency),
            receipt=self._seal(receipt, known.agreement, now),
            quarantine_id=row.id,
        )

    def _seal(self, receipt: Receipt, agreement: tuple[str, int], now: datetime) -> Message:
        return seal_receipt(
            receipt,
            catalog=self.schemas,
            agreement_id=agreement[0],
            agreement_version=agreement[1],
            signer=self.signer,
            now=now,
        )


def _snapshot_holding(table: Table, batch_id: str) -> int | None:
    """The snapshot whose summary names ``batch_id`` (a lake commit the ledger missed)."""
    if batch_id not in committed_batch_ids(table):
        return None
    for snapshot in table.metadata.snapshots:
        ids = snapshot.summary.get(BATCH_IDS_PROPERTY) if snapshot.summary else None
        if ids and batch_id in ids.split(","):
            return snapshot.snapshot_id
    return None


# The Kafka loop ------------------------------------------------------------------------


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
) -> int:
    """Consume, decide, store, receipt, then commit the offset; returns messages processed.

    ``consumer`` is a confluent-kafka Consumer already subscribed to :data:`TOPIC_PATTERN`
    with manual commits; ``producer`` a confluent-kafka Producer. With ``once`` the loop
    ends when no message arrived for ``idle_timeout_s`` seconds.
    """
    processed = 0
    idle = 0.0
    while not should_stop():
        msg = consumer.poll(poll_timeout_s)
        if msg is None:
            idle += poll_timeout_s
            if once and idle >= idle_timeout_s:
                break
            continue
        if msg.error():
            log.warning("consumer error: %s", msg.error())
            continue
        idle = 0.0
        headers = [(k, v or b"") for k, v in (msg.headers() or [])]
        outcome = worker.process(
            Delivered(msg.topic(), msg.partition(), msg.offset(), msg.value(), headers)
        )
        if outcome.receipt is not None and outcome.receipt_topic is not None:
            producer.produce(
                outcome.receipt_topic,
                key=outcome.receipt.key,
                value=outcome.receipt.value,
                headers=outcome.receipt.headers,
            )
            if producer.flush(30) != 0:
                raise ReceiptUndelivered(
                    f"receipt for batch {outcome.batch_id} to {outcome.receipt_topic} was not "
                    "delivered within 30 s; the message will be read again"
                )
        consumer.commit(message=msg, asynchronous=False)
        processed += 1
        if on_outcome is not None:
            on_outcome(outcome)
    return processed
