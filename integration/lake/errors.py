"""Errors of the lake."""

from __future__ import annotations

from lmis_hub.errors import HubError


class LakeError(HubError):
    """The lake refused an operation; fix what the message names, then try again."""

    code = "lake.error"


class UnsupportedAvroType(LakeError):
    """An Avro type has no Iceberg equivalent here; change the schema or extend the mapping."""

    code = "lake.unsupported_type"


class LakeCommitFailed(LakeError):
    """A lake commit did not complete; nothing was written, retry the batch."""

    code = "lake.commit_failed"


class LakeUnavailable(LakeError):
    """The lake catalog or warehouse cannot be reached; check HUB_DATABASE_URL and HUB_LAKE__*."""

    code = "lake.unavailable"
