"""Project pseudonyms: ``HMAC-SHA256(K_proj, person key)``, one key per project, so two
projects' extracts cannot be joined on their pseudonyms, and nobody without K_proj (which
is destroyed when the project ends) can make them again."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa
import pyarrow.compute as pc

#: Hex characters kept of the MAC (128 bits: collisions are out of reach).
PSEUDONYM_CHARS = 32


def pseudonym(key: bytes, person_key: str) -> str:
    return hmac.new(key, person_key.encode("utf-8"), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]


def project_pseudonyms(person_keys: pa.Array | pa.ChunkedArray, key: bytes) -> pa.Array:
    """The pseudonym of each person key (null stays null). The MAC is computed once per
    distinct person, then spread to the rows."""
    if isinstance(person_keys, pa.ChunkedArray):
        person_keys = person_keys.combine_chunks()
    distinct = pc.unique(person_keys.drop_null())
    macs = pa.array([pseudonym(key, k) for k in distinct.to_pylist()], pa.string())
    return pc.take(macs, pc.index_in(person_keys, value_set=distinct))
