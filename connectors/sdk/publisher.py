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
path (:mod:`connectors.sdk.receipts`) sends the stored parts again and the hub
deduplicates by batch id. Every send is signed at send time (:func:`resign`): the key,
value, envelope batch ids and part structure are the stored ones, only
``lmis-producer-time``, ``lmis-key-id`` and ``lmis-signature`` are new, so a batch that
waited in the outbox past its key's revocation or the hub's maximum message age goes out
under the connector's current key and a fresh time. The outbox keeps the headers last
sent. When sealing fails nothing is stored, so the pipeline's watermark stays and the
rows are read again.

The outbox keeps the parts as opaque bytes: ``payload`` is, per part, the key and the
value each prefixed by its length (u32 big-endian); ``headers`` is JSON, per part, the
list of ``[name, value]`` header pairs (the envelope's header values are ASCII).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import struct
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from confluent_kafka import KafkaError, Producer
from confluent_kafka import Message as KafkaMessage
from pydantic import SecretStr

from connectors.sdk.errors import OutboxDataInvalid, PublishFailed, SigningKeyInvalid
from connectors.sdk.outbox import Outbox, OutboxBatch
from connectors.sdk.pipeline import Batch, Published
from connectors.sdk.state import StateDB
from schemas.catalog import SchemaVersion
from schemas.envelope import DEFAULT_MAX_MESSAGE_BYTES, Message, parse_headers, seal_batch
from schemas.errors import EnvelopeError, KeyInvalid
from schemas.keys import key_id_for, load_private_pem
from schemas.signing import SIGNATURE_HEADER, SIGNED_HEADERS, Signer, envelope_digest

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


def value_digest(message: Message) -> str:
    """SHA-256 (hex) of a message's value: how the hub names a message it could not verify."""
    return hashlib.sha256(message.value).hexdigest()


def resign(
    messages: Sequence[Message],
    *,
    signer: Signer,
    now: datetime,
    agreement: tuple[str, int] | None = None,
) -> list[Message]:
    """The same parts signed again by ``signer`` at ``now``.

    Key, value and every other header stay as they are (so the envelope batch ids, which
    the value determines, do not change); ``lmis-producer-time`` and ``lmis-key-id`` are
    replaced and ``lmis-signature`` is computed anew over them. With ``agreement`` (id,
    version) the parts are also put under that agreement: a batch the hub refused for
    its agreement is sent again under the corrected one.
    """
    fresh = {
        "lmis-producer-time": str(int(now.timestamp() * 1000)).encode("ascii"),
        "lmis-key-id": signer.key_id.encode("ascii"),
    }
    if agreement is not None:
        fresh["lmis-agreement-id"] = agreement[0].encode("ascii")
        fresh["lmis-agreement-version"] = str(agreement[1]).encode("ascii")
    out: list[Message] = []
    for message in messages:
        try:
            signed = {**parse_headers(message.headers).raw, **fresh}
            signed.pop(SIGNATURE_HEADER, None)
            signature = signer.sign(envelope_digest(signed, message.value)).hex().encode()
            headers = [(name, signed[name]) for name in SIGNED_HEADERS]
            headers.append((SIGNATURE_HEADER, signature))
            parse_headers(headers)  # the new values are well formed
        except EnvelopeError as exc:
            raise OutboxDataInvalid(
                f"a stored part cannot be signed again ({exc.code}: {exc.message})"
            ) from exc
        out.append(Message(key=message.key, value=message.value, headers=headers))
    return out


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


#: Errors after which a producer is replaced before its next send: every broker was
#: lost (a memory-only broker that comes back has forgotten the idempotent producer's
#: id, and never acknowledges it again), or the broker no longer knows the producer.
_RENEW_AFTER = frozenset(
    {
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.INVALID_PRODUCER_EPOCH,
    }
)
#: How often a send looks for a fatal error while it waits for its delivery reports.
_FLUSH_STEP_S = 0.25

ProducerFactory = Callable[[dict[str, Any]], Any]


class KafkaSender:
    """confluent-kafka producer that waits for every delivery report.

    The producer is idempotent, so a broker that loses its state (the memory-only
    embedded broker restarted) no longer knows its producer id, and librdkafka then
    holds the messages without ever reporting them, or fails with a fatal error
    (raised by ``poll`` or ``flush`` as ``KafkaException``, or, from some librdkafka
    paths, as ``SystemError``). So:

    - a send that fails for any reason drops its producer (purging what it still
      holds: the outbox keeps every batch) and raises :class:`PublishFailed`;
    - a fatal error reported while a send waits ends that send at once rather than at
      its timeout;
    - a producer that reported a fatal error, the loss of every broker or an unknown
      producer id since its last send is replaced before the next send.

    A long-running connector thus recovers by itself. ``producer_factory`` builds the
    producer from its configuration (confluent-kafka's ``Producer``).
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        timeout_s: float = 30.0,
        producer_factory: ProducerFactory = Producer,
    ) -> None:
        self._config = {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.max.bytes": DEFAULT_MAX_MESSAGE_BYTES + PRODUCER_OVERHEAD_BYTES,
            **config,
            "error_cb": self._on_error,
        }
        self._outer_error_cb: Callable[[KafkaError], None] | None = config.get("error_cb")
        self._factory = producer_factory
        self._timeout_s = timeout_s
        self._fatal: KafkaError | None = None
        self._renew_reason: str | None = None
        self.renewals = 0
        self._producer = self._factory(self._config)

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's error callback (served by ``poll`` and ``flush``)."""
        if err.fatal():
            self._fatal = err
            self._renew_reason = f"fatal producer error {err.name()}"
        elif err.code() in _RENEW_AFTER and self._renew_reason is None:
            self._renew_reason = f"producer reported {err.name()} ({err.str()})"
        if self._outer_error_cb is not None:
            self._outer_error_cb(err)

    def send(self, topic: str, messages: Sequence[Message]) -> None:
        self._renew_if_broken(topic)
        try:
            self._send(topic, messages)
        except PublishFailed as exc:
            log.warning("%s; the next send starts a new producer", exc.message)
            self._renew()
            raise
        except Exception as exc:  # KafkaException (fatal), SystemError from librdkafka...
            log.warning("topic %s: %s; the next send starts a new producer", topic, exc)
            self._renew()
            raise PublishFailed(f"topic {topic}: the producer failed ({exc})") from exc

    def _renew_if_broken(self, topic: str) -> None:
        """Serve what the producer reported while idle; replace it if it is broken."""
        try:
            self._producer.poll(0)
        except Exception as exc:  # a producer in a fatal state may raise from poll
            self._renew_reason = f"the producer failed ({exc})"
        if self._renew_reason is not None:
            log.warning("topic %s: %s; sending through a new producer", topic, self._renew_reason)
            self._renew()

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
        remaining = self._flush(topic)
        if remaining or errors or delivered != len(messages):
            detail = "; ".join(errors[:3]) or f"{remaining} not delivered in {self._timeout_s} s"
            raise PublishFailed(
                f"topic {topic}: {delivered} of {len(messages)} parts delivered ({detail})"
            )

    def _flush(self, topic: str) -> int:
        """Wait for the delivery reports; stop at the timeout or at a fatal error."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            left = deadline - time.monotonic()
            remaining = int(self._producer.flush(max(0.0, min(_FLUSH_STEP_S, left))))
            if remaining == 0 or left <= _FLUSH_STEP_S:
                return remaining
            if self._fatal is not None:
                raise PublishFailed(
                    f"topic {topic}: the producer failed ({self._fatal.name()}: "
                    f"{self._fatal.str()}); {remaining} not delivered"
                )

    def _renew(self) -> None:
        """Replace the producer (after a failed send, or one it reported as broken)."""
        with contextlib.suppress(Exception):  # a producer in a fatal state may raise anything
            self._producer.purge()
            self._producer.flush(0)
        self._fatal = None
        self._renew_reason = None
        self._producer = self._factory(self._config)
        self.renewals += 1

    def close(self) -> None:
        try:
            self._producer.flush(self._timeout_s)
        except Exception as exc:  # a producer in a fatal state: the outbox keeps every batch
            log.warning("closing the producer: %s", exc)


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

    @property
    def key_id(self) -> str:
        """The id of the key every send is signed with now."""
        return self._signer.key_id

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
                    "INSERT INTO batch_parts (part_id, batch_id, part_index, value_sha256) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (parse_headers(m.headers).batch_id, batch.batch_id, i, value_digest(m))
                        for i, m in enumerate(messages)
                    ],
                )
        if stored:
            self._sender.send(self.topic, messages)
            self._outbox.mark_sent(batch.batch_id, at=self._clock())
            return published
        held = self._outbox.get(batch.batch_id)
        if held.state == "rejected":
            # Rows read again (after `connector rewind`) that give the records of a batch
            # the hub refused: it goes again, under the agreement the config names now.
            self.resend(held, reopen=True)
        else:
            # Held from an earlier attempt: send those parts again, signed now.
            self._send_held(held)
        held = self._outbox.get(batch.batch_id)
        return Published(payload=held.payload, headers=held.headers)

    def resend(self, held: OutboxBatch, *, reopen: bool = False) -> int:
        """Send a stored batch's parts again, signed now with the current key (see
        :func:`resign`); the number of parts sent. With ``reopen`` a batch the hub
        rejected is sent again under this publisher's agreement (the config as it is
        now) and waits for a new receipt."""
        if reopen:
            self._outbox.reopen(held.batch_id)
            return self._send_held(held, agreement=(self._agreement_id, self._agreement_version))
        return self._send_held(held)

    def _send_held(self, held: OutboxBatch, *, agreement: tuple[str, int] | None = None) -> int:
        stored = unpack_messages(held.payload, held.headers, batch_id=held.batch_id)
        now = self._clock()
        messages = resign(stored, signer=self._signer, now=now, agreement=agreement)
        self._sender.send(self.topic, messages)
        self._outbox.mark_sent(held.batch_id, at=now, headers=pack_messages(messages).headers)
        return len(messages)
