"""Canonical JSON: the exact bytes that are hashed and signed.

Rules: UTF-8; object keys sorted by code point; no insignificant whitespace
(separators ``,`` and ``:``); non-ASCII characters written as themselves, not escaped;
no NaN or infinities. Two equal documents always give the same bytes, so a signature
or hash over these bytes is independent of how the document was written.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
