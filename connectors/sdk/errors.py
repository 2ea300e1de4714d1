"""Errors of the connector SDK; each code is stable and reaches the operator's log.

The row refusals at the end are reported as data, not raised: a refused row is kept in
the connector's refusals table with the code of its class (``UnknownCode.code``) and
the run goes on. The ``validation.*`` codes a connector shares with the hub's own checks
(code list, range, date, type) are the classes of :mod:`schemas.errors`.
"""

from __future__ import annotations

from lmis_hub.errors import Arises, HubError


class ConnectorError(HubError):
    """The connector could not do what was asked; fix what the message names, run again."""

    code = "connector.error"


class ConnectorConfigInvalid(ConnectorError):
    """The connector's YAML file is wrong; fix the key path named in the message."""

    code = "connector.config_invalid"


class RecordIdFromIdentifier(ConnectorConfigInvalid):
    """The record id is taken from a personal identifier; map it from another row key."""

    code = "connector.record_id_identifier"


class SourceUnavailable(ConnectorError):
    """The source cannot be read; check the location named in the message."""

    code = "source.unavailable"


class CsvSourceUnavailable(SourceUnavailable):
    """The CSV export directory is missing or unreadable; check `source.directory`."""

    code = "source.csv_unavailable"


class SqlSourceUnavailable(SourceUnavailable):
    """The database or its table cannot be read; check `source.url` and `source.table`."""

    code = "source.sql_unavailable"


class HttpSourceUnavailable(SourceUnavailable):
    """The API does not answer after retries; check `source.url` and the network link."""

    code = "source.http_unavailable"


class HttpSourceRefused(ConnectorError):
    """The API refused the request (4xx); fix the URL, parameters or credentials."""

    code = "source.http_refused"


class SourceDataInvalid(ConnectorError):
    """A source row lacks its watermark or key, or arrives out of order; fix the export."""

    code = "source.data_invalid"


class MappingInvalid(ConnectorError):
    """The mapping names a code table or column that does not exist; fix the mapping."""

    code = "connector.mapping_invalid"


class LinkKeyInvalid(ConnectorError):
    """The linkage key could not be loaded; check the key file and its passphrase."""

    code = "connector.link_key_invalid"


class IdentifierInvalid(ConnectorError):
    """An identifier cannot be normalised (wrong length, not a date...); fix the source row."""

    code = "identifier.invalid"
    arises = (Arises.ROW_REFUSAL,)


class UnknownBatch(ConnectorError):
    """A receipt names a batch the outbox never held; check the agency and the batch id."""

    code = "outbox.unknown_batch"


class BatchSettled(ConnectorError):
    """The batch already has the hub's receipt; there is nothing to send again."""

    code = "outbox.batch_settled"


class ReceiptConflict(ConnectorError):
    """A receipt contradicts one already applied to the batch; report it to the LMIS unit."""

    code = "outbox.receipt_conflict"


class SigningKeyInvalid(ConnectorError):
    """The agency signing key or the hub public key cannot be loaded; check file and passphrase."""

    code = "connector.signing_key_invalid"


class PublishFailed(ConnectorError):
    """Kafka did not confirm delivery; check the broker (the outbox keeps the batch, resends it)."""

    code = "connector.publish_failed"


class OutboxDataInvalid(ConnectorError):
    """A stored batch's bytes cannot be read back; restore the state database from backup."""

    code = "outbox.data_invalid"


class RewindBlocked(ConnectorError):
    """Batches from the rewind point still await the hub's receipt; wait, or use --force."""

    code = "outbox.rewind_blocked"


class RewindPointUnknown(ConnectorError):
    """The outbox did not keep where this batch's rows start; rewind with --to-start."""

    code = "outbox.rewind_point_unknown"


class RowRefusal(ConnectorError):
    """A source row was refused, not published; correct it at the source, then run again."""

    arises = (Arises.ROW_REFUSAL,)


class UnknownCode(RowRefusal):
    """A value is not in the mapping's code table; add it to the table or correct the row."""

    code = "mapping.unknown_code"


class BadDate(RowRefusal):
    """A date matches none of the field's date_formats; correct the row or add its format."""

    code = "mapping.bad_date"


class NotMoney(RowRefusal):
    """An amount is not a number, or has fractions of a cent; correct the amount in the row."""

    code = "mapping.not_money"


class BadCast(RowRefusal):
    """A value cannot be cast to the field's `cast` type; correct the row or the mapping."""

    code = "mapping.bad_type"


class RequiredMissing(RowRefusal):
    """A required field is empty; fill it at the source or map it from the right column."""

    code = "validation.required"


class BadLength(RowRefusal):
    """A text is shorter or longer than the field's rule allows; correct it at the source."""

    code = "validation.length"
