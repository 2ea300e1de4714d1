"""The record-id format: one opaque id per source row, the same in every run.

A record id is exactly 32 lowercase hexadecimal characters: the first 128 bits of
``HMAC-SHA256(K_rid, agency || 0x1F || dataset || 0x1F || source key)``, where the
record-id key ``K_rid = HMAC-SHA256(K_link, "record_id" || 0x1F)`` is derived from the
linkage key the connector holds and the hub does not.

Why this shape:

* **Opaque.** Without K_link nobody, the hub included, can turn a record id back into
  the agency's row key or test a guessed person number against it; a person number
  used as a row key therefore leaks nothing (ARCHITECTURE: "Record ids are opaque").
* **Stable.** The same source row gives the same id in every run and in every schema
  major, so updates and replays keep their id and references (e.g. a placement's
  ``vacancy_record_id``) still join.
* **Checkable.** A strict fixed shape lets the hub refuse anything else — a national
  id, ``nis-ip-<row>``, a name — by shape alone, without knowing any key.
* **128 bits.** Collisions are negligible far beyond any agency's row count (the
  birthday bound is ~2^64 rows), and 32 characters stay short in keys and logs.
  Lowercase hex has one spelling per id, so ids compare as plain strings.

The agency and the dataset are inside the MAC so the same row key in two datasets
(or two agencies) never gives the same id.
"""

from __future__ import annotations

import hmac
import re
from typing import Final

#: The only shape a record id may have.
RECORD_ID_PATTERN: Final = re.compile(r"[0-9a-f]{32}")
RECORD_ID_LENGTH: Final = 32

SEPARATOR: Final = b"\x1f"
#: The tag that separates the record-id key from the token tags under K_link.
RECORD_ID_TAG: Final = b"record_id" + SEPARATOR


def record_id_problem(value: object) -> str | None:
    """Why ``value`` is not an opaque record id, or None when it is one.

    The reason never repeats the value (it may be a person number or a name).
    """
    if not isinstance(value, str):
        return f"record id must be a string, not {type(value).__name__}"
    if len(value) != RECORD_ID_LENGTH:
        return f"record id must be {RECORD_ID_LENGTH} characters, not {len(value)}"
    if RECORD_ID_PATTERN.fullmatch(value) is None:
        return "record id must be lowercase hexadecimal (an opaque keyed id)"
    return None


def is_record_id(value: object) -> bool:
    """True when ``value`` has the record-id shape."""
    return record_id_problem(value) is None


def record_id_key(link_key: bytes) -> bytes:
    """K_rid: the record-id key derived from the linkage key K_link."""
    return hmac.digest(link_key, RECORD_ID_TAG, "sha256")


def opaque_record_id(key: bytes, agency: str, dataset: str, source_key: str) -> str:
    """The record id of the source row ``source_key`` of ``agency``/``dataset``.

    ``key`` is the linkage key K_link (the record-id key is derived from it here);
    ``source_key`` is the agency's own row key, surrounding spaces removed.
    """
    source = source_key.strip()
    if not source:
        raise ValueError("source key is empty")
    for name, part in (("agency", agency), ("dataset", dataset)):
        if not part or "\x1f" in part:
            raise ValueError(f"{name} must be a non-empty name without 0x1F")
    message = SEPARATOR.join(p.encode("utf-8") for p in (agency, dataset, source))
    digest = hmac.digest(record_id_key(key), message, "sha256")
    return digest[: RECORD_ID_LENGTH // 2].hex()
