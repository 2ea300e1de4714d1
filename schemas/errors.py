"""Errors of the data contracts: schemas, code lists, compatibility and the batch envelope.

The ``envelope.*`` codes are also the quarantine reason codes the hub writes when it
refuses a delivered message, so they are stable and listed in :data:`ENVELOPE_CODES`.
"""

from __future__ import annotations

from lmis_hub.errors import HubError


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


class BadSignature(EnvelopeError):
    """The signature does not verify for the key id; the message was altered or mis-signed."""

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
    """The number of records differs from lmis-record-count; the batch is incomplete."""

    code = "envelope.count_mismatch"


class FutureTimestamp(EnvelopeError):
    """The producer time is ahead of the hub clock by more than the allowed skew; fix the clock."""

    code = "envelope.future_timestamp"


class SchemaViolation(EnvelopeError):
    """A record does not decode with its writer schema; the producer's encoder is faulty."""

    code = "envelope.schema_violation"


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
        )
    )
)
