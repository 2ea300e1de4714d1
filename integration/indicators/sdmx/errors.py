"""Errors of the SDMX structures and messages: nothing is written when one is raised."""

from __future__ import annotations

from lmis_hub.errors import HubError


class SdmxError(HubError):
    """An SDMX message could not be built; fix what the message names, then build it again."""

    code = "sdmx.error"


class CodeUnknown(SdmxError):
    """An observation holds a code its dimension's codelist lacks; add the code to the
    codelist (a new codelist version) or correct the indicator table in the column named."""

    code = "sdmx.code_unknown"
    http_status = 422


class CodelistUnknown(SdmxError):
    """A flow names a codelist the registry does not hold; register it (for a project
    classification, from its codes and labels) before publishing the flow."""

    code = "sdmx.codelist_unknown"
    http_status = 422


class CodelistInvalid(SdmxError):
    """A codelist or its local-code mapping is malformed (an id SDMX does not allow, a
    duplicate code, a local code mapped twice); correct the codes named in the message."""

    code = "sdmx.codelist_invalid"
    http_status = 422


class FlowInvalid(SdmxError):
    """A flow definition cannot be published as it stands (a reserved or duplicate
    dimension, an unknown unit or frequency, a malformed id or version); correct the flow
    named in the message."""

    code = "sdmx.flow_invalid"
    http_status = 422


class ObservationsInvalid(SdmxError):
    """The indicator table lacks a column, has a column of the wrong type, a time period
    that does not match the flow's frequency, or the same key twice; correct the table
    the message names before publishing it."""

    code = "sdmx.observations_invalid"
    http_status = 422


class StructureUnknown(SdmxError):
    """The release holds no structure of that id and version; check the id, or build the
    release with the flow or codelist first."""

    code = "sdmx.structure_unknown"
    http_status = 404


class VersionConflict(SdmxError):
    """One structure version would be published with two different contents, which SDMX
    consumers cannot tell apart; publish the changed structure under a higher version."""

    code = "sdmx.version_conflict"
    http_status = 409


class StructureMessageInvalid(SdmxError):
    """A structure message could not be read back (not SDMX-ML 2.1, or a reference
    to a structure it does not hold); give the message the hub wrote for the release."""

    code = "sdmx.structure_message_invalid"
    http_status = 422


class VersionInvalid(SdmxError):
    """A version string is not dot-separated numbers such as "1.0"; give versions as
    "major.minor"."""

    code = "sdmx.version_invalid"
    http_status = 422
