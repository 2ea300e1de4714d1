"""Errors of the data contracts: schemas, code lists, compatibility and the batch envelope.

The ``envelope.*`` codes are also the quarantine reason codes the hub writes when it
refuses a delivered message, so they are stable and listed in :data:`ENVELOPE_CODES`.
The ``validation.*`` codes of the content rules are also the codes of a connector's
refused rows where its own checks test the same thing (code list, range, date, type).
"""

from __future__ import annotations

from typing import ClassVar

from lmis_hub.errors import Arises, HubError


class SchemaError(HubError):
    """A data contract problem; read the message for the file and field."""

    http_status = 422


class InvalidSchema(SchemaError):
    """A .avsc file does not parse or lacks a required attribute; fix the named file."""

    code = "schema.invalid"


class UnknownDataset(SchemaError):
    """No schema exists for this agency/dataset/version; check the names with `schemas list`."""

    code = "schema.unknown_dataset"
    http_status = 404


class UnknownCodeList(SchemaError):
    """A field names a code list that does not exist; fix the field's "codelist" attribute."""

    code = "schema.unknown_codelist"


class IncompatibleSchema(SchemaError):
    """A schema version breaks its compatibility mode; restore the field or add a default."""

    code = "schema.incompatible"


class EnvelopeError(HubError):
    """A delivered message was refused; the code is the quarantine reason."""

    http_status = 422
    arises: ClassVar[tuple[Arises, ...]] = (Arises.QUARANTINE,)


class BadSignature(EnvelopeError):
    """The signature does not verify for the key id; sign again with the key of that id."""

    code = "envelope.bad_signature"


class UnknownKey(EnvelopeError):
    """No public key is registered for the message's key id; register the agency key first."""

    code = "envelope.unknown_key"


class UnknownSchema(EnvelopeError):
    """The schema fingerprint is not in the catalog; deploy the schema or fix the producer."""

    code = "envelope.unknown_schema"


class SchemaMismatch(EnvelopeError):
    """The fingerprint belongs to another dataset than the headers name; fix the producer."""

    code = "envelope.schema_mismatch"


class Truncated(EnvelopeError):
    """The message value ends in the middle of a record; the producer must resend the batch."""

    code = "envelope.truncated"


class BadFraming(EnvelopeError):
    """The value is not an Avro object container as the envelope requires; fix the producer."""

    code = "envelope.bad_framing"


class Oversized(EnvelopeError):
    """The message (or one record) exceeds the maximum message size; split the batch."""

    code = "envelope.oversized"


class MissingHeader(EnvelopeError):
    """A required lmis- header is absent; the producer must send every envelope header."""

    code = "envelope.missing_header"


class BadHeader(EnvelopeError):
    """A header value is malformed or repeated; the producer must follow the envelope format."""

    code = "envelope.bad_header"


class CountMismatch(EnvelopeError):
    """The record count differs from lmis-record-count; the producer must resend the batch."""

    code = "envelope.count_mismatch"


class FutureTimestamp(EnvelopeError):
    """The producer time is ahead of the hub clock by more than the allowed skew; fix the clock."""

    code = "envelope.future_timestamp"


class SchemaViolation(EnvelopeError):
    """A record does not decode with its writer schema; fix the producer's encoder, resend."""

    code = "envelope.schema_violation"


class BatchIdMismatch(EnvelopeError):
    """lmis-batch-id is not the id the message's bytes give; the producer must seal it again."""

    code = "envelope.batch_id_mismatch"


class EmptyBatch(EnvelopeError):
    """The batch holds no record; a producer sends only batches with records."""

    code = "envelope.empty_batch"


class StaleTimestamp(EnvelopeError):
    """The producer time is older than the hub accepts; the producer must sign it again now."""

    code = "envelope.stale"


class RecordsInvalid(EnvelopeError):
    """Records break the schema's content rules; fix them at the source and send them again.

    ``context["problems"]`` lists the broken rules (record number, field, rule), never
    the values.
    """


class CodeListViolation(RecordsInvalid):
    """A coded field holds a code that is not in its code list; map it to a listed code."""

    code = "validation.code_list"
    arises = (Arises.ROW_REFUSAL, Arises.QUARANTINE)


class OutOfRange(RecordsInvalid):
    """A number is below its minimum or above its maximum; correct it at the source."""

    code = "validation.range"
    arises = (Arises.ROW_REFUSAL, Arises.QUARANTINE)


class NotFinite(RecordsInvalid):
    """A decimal field is NaN or infinite; send a finite number or leave it empty."""

    code = "validation.not_finite"


class DateOutOfRange(RecordsInvalid):
    """A date lies outside what its field allows (e.g. before 1900); correct it at the source."""

    code = "validation.date"
    arises = (Arises.ROW_REFUSAL, Arises.QUARANTINE)


class TypeViolation(RecordsInvalid):
    """A value is not of its field's type; convert it in the mapping (`cast`, `date_formats`)."""

    code = "validation.type"
    arises = (Arises.ROW_REFUSAL,)


class ImplausibleToken(RecordsInvalid):
    """A token field holds text, not a keyed hash; tokenise the identifier in the connector."""

    code = "validation.token"


class LinkKeyMixed(RecordsInvalid):
    """A batch mixes tokens of several link-key generations; re-tokenise it all with one."""

    code = "token.link_key_mixed"


class BadRecordId(RecordsInvalid):
    """A record id is not an opaque keyed id; derive it in the connector, never copy a key."""

    code = "validation.record_id"


class OrderViolation(RecordsInvalid):
    """A date or amount comes before the one it must follow (end before start); correct it."""

    code = "validation.order"


#: Every code a refused message can carry (the quarantine reason codes).
ENVELOPE_CODES: tuple[str, ...] = tuple(
    sorted(
        cls.code
        for cls in (
            BadSignature,
            UnknownKey,
            UnknownSchema,
            SchemaMismatch,
            Truncated,
            BadFraming,
            Oversized,
            MissingHeader,
            BadHeader,
            CountMismatch,
            FutureTimestamp,
            SchemaViolation,
            BatchIdMismatch,
            EmptyBatch,
            StaleTimestamp,
        )
    )
)

#: The codes of batches refused for their records' content.
VALIDATION_CODES: tuple[str, ...] = tuple(
    sorted(
        cls.code
        for cls in (
            CodeListViolation,
            OutOfRange,
            NotFinite,
            DateOutOfRange,
            ImplausibleToken,
            LinkKeyMixed,
            BadRecordId,
            OrderViolation,
        )
    )
)


# Keys ------------------------------------------------------------------------------
#: Refused when a command or the API asks, and when a delivered batch is checked.
_KEY_BOTH = (Arises.QUARANTINE, Arises.SERVICE)


class KeyProblem(HubError):
    """A signing key is unknown, out of its validity, or not a valid key; read the code."""

    http_status = 400


class KeyUnknown(KeyProblem):
    """No key has this id; register the agency's public key with `lmis-hub keys register`."""

    code = "key.unknown"
    arises = _KEY_BOTH
    http_status = 404


class KeyRevoked(KeyProblem):
    """The key was revoked before the signing time; the agency must sign with a current key."""

    code = "key.revoked"
    arises = _KEY_BOTH
    http_status = 403


class KeyExpired(KeyProblem):
    """The key's validity window ended before the signing time; register a new key."""

    code = "key.expired"
    arises = _KEY_BOTH
    http_status = 403


class KeyNotYetValid(KeyProblem):
    """The key's validity window starts after the signing time; check the sender's clock."""

    code = "key.not_yet_valid"
    arises = _KEY_BOTH
    http_status = 403


class KeySuperseded(KeyProblem):
    """A newer key replaced this one before the signing time; sign with the newest key."""

    code = "key.superseded"
    arises = _KEY_BOTH
    http_status = 403


class KeyInvalid(KeyProblem):
    """The key file is not an Ed25519 key in PEM form, or the passphrase is wrong; check it."""

    code = "key.invalid"
