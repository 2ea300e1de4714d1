"""Errors of the indicator package: its definitions, the tables they read, and the
computation. Nothing is computed or published when one is raised."""

from __future__ import annotations

from lmis_hub.errors import HubError


class IndicatorError(HubError):
    """The indicators could not be computed; fix what the message names and run them again."""

    code = "indicators.error"


class DefinitionInvalid(IndicatorError):
    """An indicator definition file is malformed (a missing or mistyped field, a query
    that does not parse or lacks a required output column, a disclosure rule that does
    not fit the measure); correct the file and field named in the message."""

    code = "indicators.definition_invalid"
    http_status = 422


class TableUnknown(IndicatorError):
    """A definition names or queries a table the lake does not have, or one it does not
    list among its sources; use a ``bronze.<agency>__<dataset>`` of the schema catalog or
    a ``silver`` table, and list it under ``sources``."""

    code = "indicators.table_unknown"
    http_status = 422


class ColumnUnknown(IndicatorError):
    """A definition's query uses a column its source tables lack (or a token column,
    which only the linkage may read); use a column of the dataset's schema, or a person
    key from ``silver.person_links`` instead of a token."""

    code = "indicators.column_unknown"
    http_status = 422


class DimensionUnknown(IndicatorError):
    """A definition names a dimension outside the agreed set, or a code its codelist
    lacks; use sex, age_group, region, isic_section, isco_major or field and their codes."""

    code = "indicators.dimension_unknown"
    http_status = 422


class CodeUnknown(IndicatorError):
    """A definition's query gave a dimension a value its codelist lacks; map the source
    values to the dimension's codes in the query (or add the code to the codelist)."""

    code = "indicators.code_unknown"
    http_status = 422


class SourceEmpty(IndicatorError):
    """A source table an indicator reads is empty or was not read; deliver (or ingest)
    the dataset before computing the indicators that rely on it."""

    code = "indicators.source_empty"
    http_status = 409


class SourceUnreadable(IndicatorError):
    """A source table could not be read from the lake; check the lake and the table named
    in the message, then run again."""

    code = "indicators.source_unreadable"
    http_status = 503


class ReleaseUnknown(IndicatorError):
    """No indicator release has the id named; list the releases with
    `lmis-hub indicators releases` and use one of their ids."""

    code = "indicators.release_unknown"
    http_status = 404


class ReleaseNotBuilt(IndicatorError):
    """The release is not in the state the step needs (only a built release is
    published, once); build a new release to publish newer figures."""

    code = "indicators.release_state"
    http_status = 409


class PublicationUnreadable(IndicatorError):
    """A published release's files could not be read back or no longer match its
    manifest; restore the publication folder named in the message from a backup."""

    code = "indicators.publication_unreadable"
    http_status = 503
