"""The Kafka topic names of the shared contract, and the agency codes they are built from.

Agencies are data: the hub's ``agencies`` table says who delivers, the schema catalog
says what. These rules are the only thing every agency code must satisfy, so that its
topics are unambiguous:

* ``lmis.<agency>.<dataset>.v<major>`` — an agency's deliveries;
* ``lmis.receipts.<agency>`` — the hub's receipts (and notices) to that agency;
* ``lmis.quarantine`` — the hub's quarantine notices.

``receipts`` and ``quarantine`` are therefore not agency codes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Lower-case letters, digits and ``_``; 2 to 32 characters, starting with a letter.
AGENCY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
#: Names that are topic segments of the contract, not agencies.
RESERVED_CODES = frozenset({"receipts", "quarantine", "lmis"})
#: A delivery topic; group 1 is the agency, group 2 the dataset (tests isolate
#: themselves on suffixed copies, so anything may follow the dataset after a dot).
DATASET_TOPIC = re.compile(r"^lmis\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)(\.|$)")
#: The hub itself is registered as an agency (its keys sign receipts) but delivers nothing.
HUB = "hub"


def agency_code_problem(code: str) -> str | None:
    """Why ``code`` cannot name an agency, or None when it can."""
    if not AGENCY_CODE.match(code):
        return (
            f"agency code {code!r} must be 2-32 lower-case letters, digits or _, "
            "starting with a letter"
        )
    if code in RESERVED_CODES:
        return (
            f"agency code {code!r} is a reserved topic name ({', '.join(sorted(RESERVED_CODES))})"
        )
    return None


def dataset_topic(agency: str, dataset: str, major: int) -> str:
    return f"lmis.{agency}.{dataset}.v{major}"


def receipt_topic(agency: str) -> str:
    """The topic an agency reads its receipts (and agreement notices) from."""
    return f"lmis.receipts.{agency}"


def delivery_pattern(agencies: Iterable[str]) -> str:
    """The ingest consumer group's subscription: every dataset topic of ``agencies``
    (a librdkafka regex; never the receipts or quarantine topics). With no agency it
    matches nothing."""
    codes = sorted({a for a in agencies if a != HUB and agency_code_problem(a) is None})
    if not codes:
        return "^$"  # a valid pattern that no topic name matches
    return rf"^lmis\.({'|'.join(codes)})\..*"
