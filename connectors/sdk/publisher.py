"""Publishing a batch: seal it in the signed envelope and produce every part to Kafka.

:class:`EnvelopePublisher` is the pipeline's ``publish`` seam. For each batch it

1. seals the records with :func:`schemas.envelope.seal_batch` (agreement id/version and
   the agency's signing key from the connector config, the pipeline's batch id as the
   source batch, so equal records in two source batches never share an envelope id),
   which may split the batch into several parts, each a message that verifies on its own;
2. stores the batch as ``pending`` in the outbox together with its parts' envelope batch
   ids (the ids the hub's receipts name), in one local transaction, BEFORE sending;
3. produces every part with confluent-kafka (idempotent producer, ``acks=all``) and
   waits for every delivery report;
4. marks the batch ``sent``.

A crash or a failed delivery between 2 and 4 leaves a ``pending`` batch; the resend
path (:mod:`connectors.sdk.receipts`) sends the stored bytes again, unchanged (same
signature, same envelope ids), and the hub deduplicates by batch id. When sealing fails
nothing is stored, so the pipeline's watermark stays and the rows are read again.

The outbox keeps the parts as opaque bytes: ``payload`` is, per part, the key and the
value each prefixed by its length (u32 big-endian); ``headers`` is JSON, per part, the
list of ``[name, value]`` header pairs (the envelope's header values are ASCII).
"""

from __future__ import annotations

import contextlib
import json
import logging
import struct
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import Message as KafkaMessage
from pydantic import SecretStr

from connectors.sdk.errors import OutboxDataInvalid, PublishFailed, SigningKeyInvalid
from connectors.sdk.outbox import Outbox, OutboxBatch
from connectors.sdk.pipeline import Batch, Published
from connectors.sdk.state import StateDB
from governance.errors import KeyInvalid
from governance.keys.material import key_id_for, load_private_pem
from schemas.catalog import SchemaVersion
from schemas.envelope import DEFAULT_MAX_MESSAGE_BYTES, Message, parse_headers, seal_batch
from schemas.signing import Signer

log = logging.getLogger(__name__)

_LEN = struct.Struct(">I")
#: Room for the headers and the record batch framing on top of the envelope's limit.
PRODUCER_OVERHEAD_BYTES = 64 * 1024


def pack_messages(messages: Sequence[Message]) -> Published:
    """The outbox bytes of a sealed batch's parts (see the module docstring)."""
    payload = bytearray()
    for message in messages:
        payload += _LEN.pack(len(message.key)) + message.key
        payload += _LEN.pack(len(message.value)) + message.value
    headers = [[[name, value.decode("ascii")] for name, value in m.headers] for m in messages]
    return Published(payload=bytes(payload), headers=json.dumps(headers).encode("ascii"))


def unpack_messages(payload: bytes, headers: bytes, *, batch_id: str = "?") -> list[Message]:
    """The parts stored by :func:`pack_messages`, byte for byte."""
    try:
        header_lists = json.loads(headers.decode("ascii"))
        chunks: list[bytes] = []
        pos = 0
        while pos < len(payload):
            (size,) = _LEN.unpack_from(payload, pos)
            pos += _LEN.size
            if pos + size > len(payload):
                raise ValueError("truncated")
            chunks.append(payload[pos : pos + size])
            pos += size
        if len(chunks) != 2 * len(header_lists):
            raise ValueError("part count differs between payload and headers")
        return [
            Message(
                key=chunks[2 * i],
                value=chunks[2 * i + 1],
                headers=[(str(n), str(v).encode("ascii")) for n, v in header_lists[i]],
            )
            for i in range(len(header_lists))
        ]
    except (ValueError, TypeError, struct.error, UnicodeError) as exc:
        raise OutboxDataInvalid(
            f"outbox batch {batch_id}: stored parts unreadable ({exc})"
        ) from exc


def load_signer(path: Path, passphrase: SecretStr | None, *, agency: str) -> Signer:
    """The agency's Ed25519 signer from its passphrase-encrypted PKCS#8 PEM file."""
    if passphrase is None:
        raise SigningKeyInvalid(
            f"signing key file {path}: set HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE to decrypt it"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyInvalid(
            f"signing key file {path}: cannot be read ({exc.strerror})"
        ) from exc
    try:
        private = load_private_pem(
            data, passphrase.get_secret_value().encode("utf-8"), where=str(path)
        )
    except KeyInvalid as exc:
        raise SigningKeyInvalid(exc.message) from exc
    return Signer(key_id=key_id_for(agency, private.public_key()), private_key=private)


class Sender(Protocol):
    """Sends messages to a topic and returns only once every one is delivered."""

    def send(self, topic: str, messages: Sequence[Message]) -> None: ...


class KafkaSender:
    """confluent-kafka producer that waits for every delivery report.

    The producer is idempotent, so a broker that loses its state (the memory-only
    embedded broker restarted) no longer knows its producer id, and librdkafka then
    holds the messages without ever reporting them, or fails with a fatal error. A
    send that fails therefore drops its producer (purging what it still holds: the
    outbox keeps every batch) and the next send starts a new one, so a long-running
    connector recovers by itself.
    """

    def __init__(self, config: dict[str, Any], *, timeout_s: float = 30.0) -> None:
        self._config = {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.max.bytes": DEFAULT_MAX_MESSAGE_BYTES + PRODUCER_OVERHEAD_BYTES,
            **config,
        }
        self._producer = Producer(self._config)
        self._timeout_s = timeout_s

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        try:
            self._send(topic, messages)
        except PublishFailed as exc:
            log.warning("%s; the next send starts a new producer", exc.message)
            self._renew()
            raise
        except KafkaException as exc:  # a fatal producer error raised by poll or flush
            log.warning("topic %s: %s; the next send starts a new producer", topic, exc)
            self._renew()
            raise PublishFailed(f"topic {topic}: the producer failed ({exc})") from exc

    def _send(self, topic: str, messages: Sequence[Message]) -> None:
        errors: list[str] = []
        delivered = 0

        def report(err: KafkaError | None, msg: KafkaMessage) -> None:
            nonlocal delivered
            if err is not None:
                errors.append(str(err))
            else:
                delivered += 1

        for message in messages:
            while True:
                try:
                    self._producer.produce(
                        topic,
                        value=message.value,
                        key=message.key,
                        headers=list(message.headers),
                        on_delivery=report,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
                except Exception as exc:  # KafkaException: too large, unknown topic...
                    raise PublishFailed(f"topic {topic}: cannot produce ({exc})") from exc
            self._producer.poll(0)
        remaining = self._producer.flush(self._timeout_s)
        if remaining or errors or delivered != len(messages):
            detail = "; ".join(errors[:3]) or f"{remaining} not delivered in {self._timeout_s} s"
            raise PublishFailed(
                f"topic {topic}: {delivered} of {len(messages)} parts delivered ({detail})"
            )

    def _renew(self) -> None:
        """Replace a producer that failed a send."""
        with contextlib.suppress(KafkaException):  # a producer in a fatal state
            self._producer.purge()
            self._producer.flush(0)
        self._producer = Producer(self._config)

    def close(self) -> None:
        self._producer.flush(self._timeout_s)


class EnvelopePublisher:
    """The pipeline's ``publish``: seal, store pending, produce, mark sent."""

    def __init__(
        self,
        *,
        schema: SchemaVersion,
        topic: str,
        agreement_id: str,
        agreement_version: int,
        signer: Signer,
        state: StateDB,
        sender: Sender,
        clock: Callable[[], datetime],
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.schema = schema
        self.topic = topic
        self._agreement_id = agreement_id
        self._agreement_version = agreement_version
        self._signer = signer
        self._state = state
        self._outbox = Outbox(state)
        self._sender = sender
        self._clock = clock
        self._max_message_bytes = max_message_bytes
        self._optional = [
            f["name"] for f in schema.fields if isinstance(f["type"], list) and "null" in f["type"]
        ]

    def complete(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with every optional schema field it lacks set to null.

        A mapping fills only the fields the agency has; token kinds the agency does not
        emit and optional fields it does not map are null. A missing required field is
        left missing, so sealing refuses it (``envelope.schema_violation``).
        """
        out = dict(record)
        for name in self._optional:
            out.setdefault(name, None)
        return out

    def seal(self, batch: Batch) -> list[Message]:
        """The signed parts of ``batch`` (nothing stored or sent)."""
        return seal_batch(
            [self.complete(r) for r in batch.records],
            schema=self.schema,
            agreement_id=self._agreement_id,
            agreement_version=self._agreement_version,
            signer=self._signer,
            now=self._clock(),
            max_message_bytes=self._max_message_bytes,
            source_batch=batch.batch_id,
        )

    def __call__(self, batch: Batch) -> Published:
        messages = self.seal(batch)
        published = pack_messages(messages)
        with self._state.transaction() as conn:
            stored = self._outbox.store(
                batch_id=batch.batch_id,
                dataset=batch.dataset,
                payload=published.payload,
                headers=published.headers,
                record_count=len(batch.records),
                created_at=self._clock(),
            )
            if stored:
                conn.executemany(
                    "INSERT INTO batch_parts (part_id, batch_id, part_index) VALUES (?, ?, ?)",
                    [
                        (parse_headers(m.headers).batch_id, batch.batch_id, i)
                        for i, m in enumerate(messages)
                    ],
                )
        if not stored:  # held from an earlier attempt: send exactly those bytes again
            held = self._outbox.get(batch.batch_id)
            messages = unpack_messages(held.payload, held.headers, batch_id=batch.batch_id)
            published = Published(payload=held.payload, headers=held.headers)
        self._sender.send(self.topic, messages)
        self._outbox.mark_sent(batch.batch_id, at=self._clock())
        return published

    def resend(self, held: OutboxBatch) -> int:
        """Send a stored batch's parts again, unchanged; the number of parts sent."""
        messages = unpack_messages(held.payload, held.headers, batch_id=held.batch_id)
        self._sender.send(self.topic, messages)
        self._outbox.mark_sent(held.batch_id, at=self._clock())
        return len(messages)
