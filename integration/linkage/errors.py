"""Errors of the linkage: each run that raises one leaves the silver layer as it was."""

from __future__ import annotations

from lmis_hub.errors import HubError


class LinkageError(HubError):
    """The linkage could not run; fix what the message names, then run it again."""

    code = "linkage.error"


class NoLinkageInput(LinkageError):
    """No table holds a person record with tokens; deliver person datasets (names or a
    date of birth) before linking."""

    code = "linkage.no_input"
    http_status = 409


class LinkageInputUnreadable(LinkageError):
    """A table could not be read or lacks the record id; check the lake and the table
    named in the message, then run again."""

    code = "linkage.input_unreadable"
    http_status = 503


class TokenKeyIdsMixed(LinkageError):
    """One record carries tokens of two linkage-key generations, which no connector makes;
    find the batch by the record id named and have it re-delivered."""

    code = "linkage.key_id_mixed"
    http_status = 409


class ModelNotConverged(LinkageError):
    """The match model's training found no pairs to learn from or gave unusable
    parameters, and the previous links stay; link more records (at least some with a
    national ID) or check the table counts the message names."""

    code = "linkage.not_converged"
    http_status = 409


class ReviewDecisionInvalid(LinkageError):
    """The decision names no open pair of the review queue or is not match / no_match;
    list the open pairs with `lmis-hub linkage review list`."""

    code = "linkage.review_invalid"
    http_status = 409


class ReviewPairUnknown(LinkageError):
    """The review queue has no pair with this id; list the open pairs with
    `lmis-hub linkage review list`."""

    code = "linkage.pair_unknown"
    http_status = 404


class PersonKeyUnknown(LinkageError):
    """No linkage run issued this person key; check the key (32 hexadecimal characters)."""

    code = "linkage.key_unknown"
    http_status = 404
