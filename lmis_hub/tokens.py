"""The token kinds of the identifier contract, shared by the schemas and the connectors.

A raw personal identifier never leaves an agency: the connector replaces it with
``HMAC-SHA256(K_link, kind || 0x1F || normalised value)``, and a schema field named
``<kind>_token`` (with the field attribute ``"token": "<kind>"``) carries it.
"""

from __future__ import annotations

#: Every token kind (the HMAC tag), in the contract's order.
TOKEN_KINDS: tuple[str, ...] = (
    "national_id",
    "nis_number",
    "name",
    "given_name",
    "family_name",
    "given_name_phonetic",
    "family_name_phonetic",
    "dob",
    "birth_year",
    "birth_month",
    "birth_day",
    "sex",
    "region",
    "person_ref",
)


def token_field(kind: str) -> str:
    """The schema field that carries a token of ``kind``."""
    return f"{kind}_token"
