"""Project pseudonyms: ``HMAC-SHA256(K_proj, person key)``, one key per project, so two
projects' extracts cannot be joined on their pseudonyms, and nobody without K_proj (which
is destroyed when the project ends) can make them again."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

#: Hex characters kept of the MAC (128 bits: collisions are out of reach).
PSEUDONYM_CHARS = 32


def pseudonym(key: bytes, person_key: str) -> str:
    return hmac.digest(key, person_key.encode("utf-8"), hashlib.sha256).hex()[:PSEUDONYM_CHARS]


def project_pseudonyms(
    person_keys: Sequence[pa.Array | pa.ChunkedArray], key: bytes
) -> list[pa.Array]:
    """The pseudonym of each person key of each array (null stays null). The MAC is
    computed once per distinct person over all the arrays, then spread to the rows."""
    arrays = [
        (a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a).cast(pa.string())
        for a in person_keys
    ]
    if not arrays:
        return []
    distinct = pc.unique(pa.chunked_array(arrays, pa.string()).drop_null())
    macs = pa.array([pseudonym(key, k) for k in distinct.to_pylist()], pa.string())
    return [pc.take(macs, pc.index_in(a, value_set=distinct)) for a in arrays]
