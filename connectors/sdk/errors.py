"""Errors of the connector SDK; each code is stable and reaches the operator's log."""

from __future__ import annotations

from lmis_hub.errors import HubError


class ConnectorError(HubError):
    """The connector could not do what was asked; read the message and the code."""

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

    code = "connector.identifier_invalid"


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
    """Kafka did not confirm delivery; the batch stays in the outbox and is resent later."""

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
