"""Errors of research extracts: a build that raises one leaves no extract behind."""

from __future__ import annotations

from lmis_hub.errors import HubError


class ExtractError(HubError):
    """The extract could not be built; fix what the message names and build again."""

    code = "extract.error"
    http_status = 500


class ExtractSourceMissing(ExtractError):
    """A dataset the project was approved for has no table in the lake yet; wait for its
    first delivery, or build when it has landed."""

    code = "extract.source_missing"
    http_status = 409


class ExtractNoLinkage(ExtractError):
    """No linkage run has committed, so no record has a person key to pseudonymise; run
    `lmis-hub linkage run` first."""

    code = "extract.no_linkage"
    http_status = 409


class ExtractUnknown(ExtractError):
    """No live extract of this project has this id; list them with `research extract
    list` (a deleted one stays listed as deleted)."""

    code = "extract.unknown"
    http_status = 404


class ExtractFileUnknown(ExtractError):
    """The extract has no file of this name; `research extract show` lists its files."""

    code = "extract.file_unknown"
    http_status = 404


class ExtractTampered(ExtractError):
    """A file of the extract no longer matches the signed manifest; do not use it, and
    report it to the LMIS unit (the audit log says who built and downloaded it)."""

    code = "extract.tampered"
    http_status = 409


class OutputUnknown(ExtractError):
    """No output of this project has this id; `research output list` shows them."""

    code = "output.unknown"
    http_status = 404


class OutputNotInState(ExtractError):
    """The output is not in a state that allows this step (only outputs awaiting checkers
    are reviewed, only released ones are downloaded); check `research output show`."""

    code = "output.state"
    http_status = 409
