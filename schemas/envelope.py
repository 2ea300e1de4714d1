"""The batch envelope: one Kafka message = one signed batch of records of one dataset.

Framing — the message value is an Avro object container (:mod:`schemas.container`):
the same records always give the same bytes and so the same batch id, in any process.

Headers (ASCII values; all are covered by the signature, see :mod:`schemas.signing`):

=========================  ==========================================================
``lmis-envelope``          format version, ``1``
``lmis-agency``            agency code (``nso``, ``nis``, ``tvet``, ``dol``, ``jobboard``, ``hub``)
``lmis-dataset``           dataset name
``lmis-agreement-id``      data-sharing agreement id
``lmis-agreement-version`` agreement version (decimal)
``lmis-schema-fingerprint`` CRC-64-AVRO of the writer schema, 16 hex digits (wire order)
``lmis-batch-id``          64 hex digits: SHA-256(``lmis-batch-v1`` 0x1F agency 0x1F
                           dataset 0x1F fingerprint 0x1F part-index/part-count 0x1F value)
``lmis-batch-group``       batch id of a one-part batch; for a split batch, SHA-256 of
                           ``lmis-batch-group-v1`` and the parts' ids in order
``lmis-part-index``        0-based index of this part
``lmis-part-count``        number of parts of the batch
``lmis-record-count``      records in this message
``lmis-producer-time``     milliseconds since the Unix epoch (UTC) when it was signed
``lmis-key-id``            id of the signing key
``lmis-signature``         128 hex digits, Ed25519 over the canonical digest
=========================  ==========================================================

Every failure of :func:`open_batch` (and :func:`parse_headers`)
on any input is an :class:`~schemas.errors.EnvelopeError` whose code is the quarantine
reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.container import decode_records, encode_records
from schemas.errors import (
    BadFraming,
    BadHeader,
    BadSignature,
    BatchIdMismatch,
    CountMismatch,
    EmptyBatch,
    EnvelopeError,
    FutureTimestamp,
    MissingHeader,
    Oversized,
    SchemaMismatch,
    SchemaViolation,
    StaleTimestamp,
    UnknownKey,
)
from schemas.signing import SIGNATURE_HEADER, SIGNED_HEADERS, Signer, envelope_digest, verify

ENVELOPE_VERSION = b"1"
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
_HEADERS = (*SIGNED_HEADERS, SIGNATURE_HEADER)
# Generous upper bound on the bytes the headers take, reserved when filling a message.
HEADER_BUDGET = 1024

_NAME = re.compile(rb"[a-z][a-z0-9_]{0,63}")
_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_UINT = re.compile(rb"0|[1-9][0-9]{0,17}")
_HEX16 = re.compile(rb"[0-9a-f]{16}")
_HEX64 = re.compile(rb"[0-9a-f]{64}")
_HEX128 = re.compile(rb"[0-9a-f]{128}")
_SOURCE_BATCH = re.compile(r"[\x21-\x7e]{1,128}")
_FORMATS: dict[str, re.Pattern[bytes]] = {
    "lmis-envelope": re.compile(rb"1"),
    "lmis-agency": _NAME,
    "lmis-dataset": _NAME,
    "lmis-agreement-id": _ID,
    "lmis-agreement-version": _UINT,
    "lmis-schema-fingerprint": _HEX16,
    "lmis-batch-id": _HEX64,
    "lmis-batch-group": _HEX64,
    "lmis-part-index": _UINT,
    "lmis-part-count": _UINT,
    "lmis-record-count": _UINT,
    "lmis-producer-time": _UINT,
    "lmis-key-id": _ID,
    "lmis-signature": _HEX128,
}

HeaderInput = Sequence[tuple[str, bytes | str | None]] | Mapping[str, bytes | str | None]


@dataclass(frozen=True)
class Message:
    """What a producer sends: key, value and headers, as every Kafka client takes them."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    def size(self) -> int:
        return len(self.value) + sum(len(k) + len(v) for k, v in self.headers)


@dataclass(frozen=True)
class BatchHeaders:
    """The parsed envelope headers of one message."""

    agency: str
    dataset: str
    agreement_id: str
    agreement_version: int
    schema_fingerprint: str
    batch_id: str
    batch_group: str
    part_index: int
    part_count: int
    record_count: int
    producer_time: datetime
    key_id: str
    signature: bytes
    raw: Mapping[str, bytes]


@dataclass(frozen=True)
class OpenedBatch:
    """A verified message: its headers, its writer schema and records as the current reader."""

    headers: BatchHeaders
    writer: SchemaVersion
    reader: SchemaVersion
    records: list[dict[str, Any]]


def parse_headers(headers: HeaderInput) -> BatchHeaders:
    """Check and parse the ``lmis-`` headers (other headers are ignored)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    raw: dict[str, bytes] = {}
    try:
        for name, value in items:
            if not isinstance(name, str) or name not in _FORMATS:
                continue
            if name in raw:
                raise BadHeader(f"header {name} appears more than once")
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(value, bytes):
                raise BadHeader(f"header {name} has no value")
            raw[name] = value
    except (TypeError, ValueError) as exc:
        raise BadHeader(f"headers are not (name, value) pairs: {exc}") from exc
    for name in _HEADERS:
        if name not in raw:
            raise MissingHeader(f"header {name} is missing")
        if not _FORMATS[name].fullmatch(raw[name]):
            shown = raw[name][:40].decode("ascii", "replace")
            raise BadHeader(f"header {name} has a malformed value {shown!r}")
    text = {name: value.decode("ascii") for name, value in raw.items()}
    part_index, part_count = int(text["lmis-part-index"]), int(text["lmis-part-count"])
    if part_count < 1 or part_index >= part_count:
        raise BadHeader(f"part {part_index} of {part_count} is not a valid part")
    millis = int(text["lmis-producer-time"])
    try:
        produced = datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise BadHeader(f"header lmis-producer-time {millis} is out of range") from exc
    return BatchHeaders(
        agency=text["lmis-agency"],
        dataset=text["lmis-dataset"],
        agreement_id=text["lmis-agreement-id"],
        agreement_version=int(text["lmis-agreement-version"]),
        schema_fingerprint=text["lmis-schema-fingerprint"],
        batch_id=text["lmis-batch-id"],
        batch_group=text["lmis-batch-group"],
        part_index=part_index,
        part_count=part_count,
        record_count=int(text["lmis-record-count"]),
        producer_time=produced,
        key_id=text["lmis-key-id"],
        signature=bytes.fromhex(text["lmis-signature"]),
        raw=raw,
    )


def batch_id_of(
    agency: str, dataset: str, fingerprint_hex: str, index: int, count: int, value: bytes
) -> str:
    """The batch id of part ``index`` of ``count`` whose container bytes are ``value``."""
    h = hashlib.sha256(
        f"lmis-batch-v1\x1f{agency}\x1f{dataset}\x1f{fingerprint_hex}\x1f{index}/{count}\x1f".encode()
    )
    h.update(value)
    return h.hexdigest()


def _batch_id(schema: SchemaVersion, index: int, count: int, value: bytes) -> str:
    return batch_id_of(schema.agency, schema.dataset, schema.fingerprint_hex, index, count, value)


_SAMPLE = 128


def _split(
    schema: SchemaVersion, records: list[Mapping[str, Any]], budget: int, source: str | None
) -> list[tuple[list[Mapping[str, Any]], bytes]]:
    if len(records) > 2 * _SAMPLE:
        # Estimate the records per message from a sample, so a large batch is encoded
        # once in parts rather than once whole and again in parts.
        one = len(encode_records(schema, records[:1], source_batch=source))
        sample = encode_records(schema, records[:_SAMPLE], source_batch=source)
        per_record = (len(sample) - one) / (_SAMPLE - 1)
        per_message = max(1, int((budget - one) * 0.9 / max(per_record, 1.0)))
        if per_message < len(records):
            parts: list[tuple[list[Mapping[str, Any]], bytes]] = []
            for start in range(0, len(records), per_message):
                parts.extend(_split(schema, records[start : start + per_message], budget, source))
            return parts
    value = encode_records(schema, records, source_batch=source)
    if len(value) <= budget:
        return [(records, value)]
    if len(records) == 1:
        raise Oversized(
            f"record {records[0].get(schema.record_id_field)!r} of {schema.key} alone takes "
            f"{len(value)} bytes, more than the {budget} bytes a message can hold"
        )
    # Cut into chunks of the estimated number of records per message; a chunk that
    # still exceeds the budget (records of uneven size) is halved.
    per_message = max(1, min(len(records) // 2, int(budget * 0.95 * len(records) / len(value))))
    parts = []
    for start in range(0, len(records), per_message):
        parts.extend(_split(schema, records[start : start + per_message], budget, source))
    return parts


def seal_batch(
    records: Sequence[Mapping[str, Any]],
    *,
    schema: SchemaVersion,
    agreement_id: str,
    agreement_version: int,
    signer: Signer,
    now: datetime,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    source_batch: str | None = None,
) -> list[Message]:
    """Encode, split (if larger than ``max_message_bytes``) and sign a batch.

    Each returned message verifies on its own. Records are encoded with ``schema``
    (strictly: a missing or mistyped field raises ``envelope.schema_violation``).
    ``source_batch`` (the producer's own id of the batch, printable ASCII, at most 128
    characters) goes into every part's container metadata, so it is part of the batch
    ids: equal records from different source batches get different ids.
    """
    if source_batch is not None and not _SOURCE_BATCH.fullmatch(source_batch):
        raise BadHeader("source_batch must be 1 to 128 printable ASCII characters")
    if not records:
        raise SchemaViolation(f"a batch of {schema.key} needs at least one record")
    budget = max_message_bytes - HEADER_BUDGET
    try:
        parts = _split(schema, list(records), budget, source_batch)
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise SchemaViolation(
            f"a record does not fit {schema.key} v{schema.version}: {exc}"
        ) from exc
    count = len(parts)
    ids = [_batch_id(schema, i, count, value) for i, (_, value) in enumerate(parts)]
    group = (
        ids[0]
        if count == 1
        else hashlib.sha256(("lmis-batch-group-v1\x1f" + "\x1f".join(ids)).encode()).hexdigest()
    )
    millis = int(now.timestamp() * 1000)
    messages = []
    for index, ((part, value), batch_id) in enumerate(zip(parts, ids, strict=True)):
        fields = {
            "lmis-envelope": ENVELOPE_VERSION,
            "lmis-agency": schema.agency.encode(),
            "lmis-dataset": schema.dataset.encode(),
            "lmis-agreement-id": agreement_id.encode(),
            "lmis-agreement-version": str(agreement_version).encode(),
            "lmis-schema-fingerprint": schema.fingerprint_hex.encode(),
            "lmis-batch-id": batch_id.encode(),
            "lmis-batch-group": group.encode(),
            "lmis-part-index": str(index).encode(),
            "lmis-part-count": str(count).encode(),
            "lmis-record-count": str(len(part)).encode(),
            "lmis-producer-time": str(millis).encode(),
            "lmis-key-id": signer.key_id.encode(),
        }
        for name, item in fields.items():
            if not _FORMATS[name].fullmatch(item):
                raise BadHeader(f"header {name} would be malformed: {item!r}")
        signature = signer.sign(envelope_digest(fields, value)).hex().encode()
        headers = [*fields.items(), (SIGNATURE_HEADER, signature)]
        messages.append(Message(key=group.encode(), value=value, headers=headers))
    return messages


@dataclass(frozen=True)
class VerifiedEnvelope:
    """A message whose signature verified and whose batch id is the one its bytes give."""

    headers: BatchHeaders
    writer: SchemaVersion
    value: bytes


def verify_envelope(
    value: bytes,
    headers: HeaderInput,
    *,
    catalog: SchemaCatalog,
    public_key_for: Callable[[str], Ed25519PublicKey | None],
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> VerifiedEnvelope:
    """Check what binds a message to its signer: size, headers, schema fingerprint (known,
    and of the named dataset), key, signature, and the batch id recomputed from the bytes.

    After this, the batch id names exactly these bytes: a refusal for the content can
    name it; a refusal raised here cannot (see :data:`schemas.receipts.UNVERIFIED_REASONS`).
    """
    if not isinstance(value, bytes | bytearray):
        raise BadFraming("the message has no value")
    value = bytes(value)
    parsed = parse_headers(headers)
    size = len(value) + sum(len(n) + len(v) for n, v in parsed.raw.items())
    if size > max_message_bytes:
        raise Oversized(f"the message takes {size} bytes; the maximum is {max_message_bytes}")
    writer = catalog.by_fingerprint(parsed.schema_fingerprint)
    if (writer.agency, writer.dataset) != (parsed.agency, parsed.dataset):
        raise SchemaMismatch(
            f"fingerprint {parsed.schema_fingerprint} is {writer.key} v{writer.version}, "
            f"the headers name {parsed.agency}/{parsed.dataset}"
        )
    key = public_key_for(parsed.key_id)
    if key is None:
        raise UnknownKey(f"no public key for key id {parsed.key_id!r}")
    if not verify(key, parsed.signature, envelope_digest(parsed.raw, value)):
        raise BadSignature(
            f"the signature of batch {parsed.batch_id} does not verify with key {parsed.key_id!r}"
        )
    expected = _batch_id(writer, parsed.part_index, parsed.part_count, value)
    if parsed.batch_id != expected:
        raise BatchIdMismatch(
            f"lmis-batch-id {parsed.batch_id} is not the id of the message's bytes "
            f"(part {parsed.part_index} of {parsed.part_count} of {writer.key} "
            f"v{writer.version} gives {expected})"
        )
    if parsed.part_count == 1 and parsed.batch_group != parsed.batch_id:
        raise BatchIdMismatch(
            f"batch {parsed.batch_id} has one part, so lmis-batch-group must be its own id"
        )
    return VerifiedEnvelope(parsed, writer, value)


def decode_envelope(
    verified: VerifiedEnvelope,
    *,
    catalog: SchemaCatalog,
    now: datetime,
    max_skew: timedelta,
    max_age: timedelta | None = None,
) -> OpenedBatch:
    """The records of a verified message, resolved to the dataset's current schema.

    Checks, in order: producer time not ahead of ``now`` by more than ``max_skew`` and
    (when ``max_age`` is given) not older than ``now - max_age``; a record count above
    zero; then decoding and the record count.
    """
    parsed, writer = verified.headers, verified.writer
    if parsed.producer_time > now + max_skew:
        raise FutureTimestamp(
            f"producer time {parsed.producer_time.isoformat()} is more than {max_skew} "
            f"ahead of {now.isoformat()}"
        )
    if max_age is not None and parsed.producer_time < now - max_age:
        raise StaleTimestamp(
            f"producer time {parsed.producer_time.isoformat()} is more than {max_age} "
            f"before {now.isoformat()}; messages are signed when they are sent"
        )
    if parsed.record_count == 0:
        raise EmptyBatch(f"batch {parsed.batch_id} announces no record")
    reader = catalog.current(writer.agency, writer.dataset)
    records = decode_records(verified.value, writer, reader)
    if len(records) != parsed.record_count:
        raise CountMismatch(
            f"batch {parsed.batch_id} holds {len(records)} records, "
            f"lmis-record-count says {parsed.record_count}"
        )
    return OpenedBatch(headers=parsed, writer=writer, reader=reader, records=records)


def open_batch(
    value: bytes,
    headers: HeaderInput,
    *,
    catalog: SchemaCatalog,
    public_key_for: Callable[[str], Ed25519PublicKey | None],
    now: datetime,
    max_skew: timedelta,
    max_age: timedelta | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> OpenedBatch:
    """Verify one message and decode its records: :func:`verify_envelope`, then
    :func:`decode_envelope`."""
    verified = verify_envelope(
        value,
        headers,
        catalog=catalog,
        public_key_for=public_key_for,
        max_message_bytes=max_message_bytes,
    )
    return decode_envelope(verified, catalog=catalog, now=now, max_skew=max_skew, max_age=max_age)


__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "BatchHeaders",
    "EnvelopeError",
    "Message",
    "OpenedBatch",
    "VerifiedEnvelope",
    "batch_id_of",
    "decode_envelope",
    "open_batch",
    "parse_headers",
    "seal_batch",
    "verify_envelope",
]
