"""Errors of the ingest worker; the refusal codes are also quarantine reason codes."""

from __future__ import annotations

from typing import ClassVar

from lmis_hub.errors import Arises, HubError


class IngestError(HubError):
    """A delivered message could not be ingested; read the message for the batch and topic."""

    http_status = 422
    arises: ClassVar[tuple[Arises, ...]] = (Arises.QUARANTINE,)


class BatchConflict(IngestError):
    """A batch id was already accepted with other content; the producer must issue a new id."""

    code = "ingest.batch_conflict"


class WrongAgencyOnTopic(IngestError):
    """The lmis-agency header differs from the topic's agency; publish on your own topic."""

    code = "ingest.wrong_agency"


class WrongTopic(IngestError):
    """The batch's dataset/version does not belong on this topic; publish on the schema's topic."""

    code = "ingest.wrong_topic"


class QuarantineUnknown(IngestError):
    """No quarantined message has this id; list them with `quarantine list`."""

    code = "ingest.quarantine_unknown"
    http_status = 404
    arises = (Arises.SERVICE,)


class KeyOfAnotherAgency(IngestError):
    """The signing key belongs to another agency than lmis-agency; sign with your own key."""

    code = "ingest.key_agency_mismatch"


class Undecodable(IngestError):
    """The message could not be checked for an unexpected reason; inspect it in quarantine."""

    code = "ingest.undecodable"


class CheckFailed(IngestError):
    """The hub's own checks failed on this message (a defect); report it, then replay it."""

    code = "ingest.check_failed"


class ReceiptUndelivered(IngestError):
    """The broker did not take a receipt; check the broker, the worker resumes from the offset."""

    code = "ingest.receipt_undelivered"
    http_status = 503
    arises = (Arises.SERVICE,)


class QuarantineAlreadyReplayed(IngestError):
    """This quarantined message was already replayed and ingested; see `quarantine show`."""

    code = "ingest.quarantine_replayed"
    http_status = 409
    arises = (Arises.SERVICE,)
