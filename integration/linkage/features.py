"""From bronze rows to linkage features: tokens become 64-bit integers, records become nodes.

The linkage compares tokens for equality only (a keyed hash has no string distance), so
a token is reduced to the first 64 bits of its MAC: equality keeps its meaning (two
different values collide with probability 2^-64 per pair), and a join on an integer is
far cheaper than on 32 bytes. The key id (the K_link generation, the token's first two
bytes) is kept apart: records of different generations are never compared, because
their tokens of the same value differ.

Records fall in three kinds, by the tokens they carry (never by a list of datasets, so a
new agency's datasets link without a code change):

* **person records** carry descriptive tokens (names, date of birth): they are compared
  probabilistically, and joined deterministically on strong tokens;
* **reference records** carry only strong tokens (a contribution's NIS number, an
  enrolment's trainee number): they join the person holding the same strong token;
* **unlinkable records** carry no token at all (the LFS file has no identifiers): they
  are counted, never given a person key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from integration.linkage.errors import LinkageInputUnreadable, TokenKeyIdsMixed
from lmis_hub.tokens import KEY_ID_BYTES, TOKEN_BYTES, TOKEN_KINDS, token_field

#: Strong tokens: one value names one person. ``person_ref`` is the agency's own person
#: number, so it only joins records of the same agency.
STRONG_KINDS: tuple[str, ...] = ("national_id", "nis_number", "person_ref")
AGENCY_SCOPED_KINDS: frozenset[str] = frozenset({"person_ref"})
#: The national ID and each of its one-digit deletions, as an array per record.
VARIANTS_KIND = "national_id_variants"
#: Descriptive tokens, compared by the match model: every other kind of the contract.
DESCRIPTIVE_KINDS: tuple[str, ...] = tuple(
    kind for kind in TOKEN_KINDS if kind not in (*STRONG_KINDS, VARIANTS_KIND)
)
#: Clear, non-identifying attributes the model may compare where a dataset has them.
ATTRIBUTES: tuple[str, ...] = ("sex", "region", "birth_year")
#: Sex codes that say nothing ("not stated").
UNKNOWN_SEX: frozenset[str] = frozenset({"9"})

_MAC_START = KEY_ID_BYTES
_FEATURE_BYTES = 8
_NO_KEY_ID = 0  # no token: generations start at 1


@dataclass(frozen=True)
class Source:
    """One bronze table the linkage reads."""

    agency: str
    dataset: str

    def __str__(self) -> str:
        return f"{self.agency}/{self.dataset}"


@dataclass
class Features:
    """Every record of a linkage input, in one row order (the node index).

    ``persons`` is the person records' table for the match model (``unique_id`` is the
    node index); ``strong`` holds each strong kind's feature for every node (null where
    absent), already scoped (a ``person_ref`` is mixed with its agency).
    """

    sources: list[Source]
    source_index: npt.NDArray[np.int16]
    record_ids: pa.Array
    key_ids: npt.NDArray[np.int32]
    is_person: npt.NDArray[np.bool_]
    strong: dict[str, pa.Array]
    persons: pa.Table
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def nodes(self) -> int:
        return len(self.source_index)

    def linkable(self) -> npt.NDArray[np.bool_]:
        """Nodes that carry at least one token."""
        linkable: npt.NDArray[np.bool_] = self.key_ids != _NO_KEY_ID
        return linkable


def token_features(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, npt.NDArray[np.int32]]:
    """A token column as (64-bit features with the column's nulls, key ids with 0 where
    null). Accepts ``fixed_size_binary(32)`` or ``binary`` of 32-byte values."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_fixed_size_binary(array.type):
        lengths = pc.binary_length(array)
        if pc.any(pc.not_equal(lengths, TOKEN_BYTES)).as_py():
            raise ValueError(f"a token is {TOKEN_BYTES} bytes")
        array = array.cast(pa.binary(TOKEN_BYTES))
    n = len(array)
    if n == 0:
        return pa.array([], pa.int64()), np.zeros(0, np.int32)
    data = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    raw = data[array.offset * TOKEN_BYTES : (array.offset + n) * TOKEN_BYTES].reshape(
        n, TOKEN_BYTES
    )
    values = np.ascontiguousarray(raw[:, _MAC_START : _MAC_START + _FEATURE_BYTES])
    features = values.view(">i8").reshape(n).astype(np.int64)
    key_ids = (raw[:, 0].astype(np.int32) << 8) | raw[:, 1].astype(np.int32)
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    key_ids[~valid] = _NO_KEY_ID
    return pa.array(features, mask=~valid), key_ids


def variant_features(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, npt.NDArray[np.int32]]:
    """A column of token arrays as lists of 64-bit features, and each row's key id
    (the first token's; every token of a row must share it)."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    flat, flat_ids = token_features(pc.list_flatten(array))
    offsets = array.offsets
    lists = pa.ListArray.from_arrays(offsets, flat, mask=array.is_null())
    starts = offsets.to_numpy()[:-1]
    stops = offsets.to_numpy()[1:]
    key_ids = np.zeros(len(array), np.int32)
    has = stops > starts
    key_ids[has] = flat_ids[starts[has] - offsets[0].as_py()]
    mixed = np.zeros(len(array), bool)
    if len(flat_ids):
        row_of = np.repeat(np.arange(len(array)), stops - starts)
        mixed[row_of[flat_ids != key_ids[row_of]]] = True
    key_ids[mixed] = -1
    return lists, key_ids


def _scope(values: pa.Array, agency: str) -> pa.Array:
    """A person_ref feature mixed with its agency, so two agencies' numbers never meet."""
    salt = int.from_bytes(agency.encode()[:8].ljust(8, b"\0"), "big", signed=True)
    mixed = np.bitwise_xor(values.fill_null(0).to_numpy(zero_copy_only=False), salt)
    return pa.array(mixed, mask=values.is_null().to_numpy(zero_copy_only=False))


def _attribute(table: pa.Table, name: str, n: int) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(n, pa.int32() if name == "birth_year" else pa.string())
    column = table[name].combine_chunks()
    if name == "birth_year":
        return column.cast(pa.int32())
    text = column.cast(pa.string())
    if name == "sex":
        text = pc.if_else(pc.is_in(text, pa.array(sorted(UNKNOWN_SEX))), None, text)
    return text


def _take(
    source: Source,
    table: pa.Table,
    key_ids: npt.NDArray[np.int32],
    columns: dict[str, pa.Array],
    kind: str,
    values: pa.Array,
    ids: npt.NDArray[np.int32],
) -> None:
    """Keep ``kind``'s features, checking its key ids against the record's others."""
    clash = (ids != _NO_KEY_ID) & (key_ids != _NO_KEY_ID) & (ids != key_ids)
    clash |= ids < 0
    if clash.any():
        first = int(np.flatnonzero(clash)[0])
        record = table["record_id"][first].as_py()
        raise TokenKeyIdsMixed(
            f"{source}: record {record} carries {kind} tokens of another linkage-key "
            "generation than its other tokens"
        )
    np.copyto(key_ids, ids, where=ids != _NO_KEY_ID)
    columns[kind] = values


def build_features(tables: Mapping[Source, pa.Table]) -> Features:
    """The nodes and features of ``tables`` (each with ``record_id`` and any token columns).

    Raises :class:`TokenKeyIdsMixed` when a record's tokens come from two generations.
    """
    sources = list(tables)
    source_parts: list[npt.NDArray[np.int16]] = []
    record_parts: list[pa.Array] = []
    key_parts: list[npt.NDArray[np.int32]] = []
    person_parts: list[npt.NDArray[np.bool_]] = []
    strong_parts: dict[str, list[pa.Array]] = {kind: [] for kind in STRONG_KINDS}
    person_tables: list[pa.Table] = []
    counts: dict[str, dict[str, int]] = {}
    offset = 0
    for index, source in enumerate(sources):
        table = tables[source]
        if "record_id" not in table.column_names:
            raise LinkageInputUnreadable(f"{source}: the table has no record_id column")
        n = table.num_rows
        key_ids = np.zeros(n, np.int32)
        columns: dict[str, pa.Array] = {}

        for kind in (*STRONG_KINDS, *DESCRIPTIVE_KINDS):
            name = token_field(kind)
            if name in table.column_names:
                try:
                    values, ids = token_features(table[name])
                except (ValueError, pa.ArrowInvalid) as exc:
                    raise LinkageInputUnreadable(f"{source}: column {name}: {exc}") from exc
                _take(source, table, key_ids, columns, kind, values, ids)
        variants_name = token_field(VARIANTS_KIND)
        if variants_name in table.column_names:
            values, ids = variant_features(table[variants_name])
            _take(source, table, key_ids, columns, VARIANTS_KIND, values, ids)

        descriptive = np.zeros(n, bool)
        for kind in DESCRIPTIVE_KINDS:
            if kind in columns:
                descriptive |= columns[kind].is_valid().to_numpy(zero_copy_only=False)
        for kind in STRONG_KINDS:
            values = columns.get(kind, pa.nulls(n, pa.int64()))
            if kind in AGENCY_SCOPED_KINDS and kind in columns:
                values = _scope(values, source.agency)
            strong_parts[kind].append(values)

        node = np.arange(offset, offset + n, dtype=np.int64)
        if descriptive.any():
            rows = np.flatnonzero(descriptive)
            person = {"unique_id": pa.array(node[rows]), "key_id": pa.array(key_ids[rows])}
            for kind in (*STRONG_KINDS, *DESCRIPTIVE_KINDS):
                person[kind] = columns.get(kind, pa.nulls(n, pa.int64())).take(pa.array(rows))
            variants = columns.get(VARIANTS_KIND, pa.nulls(n, pa.list_(pa.int64())))
            person[VARIANTS_KIND] = variants.take(pa.array(rows))
            for name in ATTRIBUTES:
                person[name] = _attribute(table, name, n).take(pa.array(rows))
            person_tables.append(pa.table(person))

        linked = key_ids != _NO_KEY_ID
        counts[str(source)] = {
            "records": n,
            "person_records": int(descriptive.sum()),
            "reference_records": int((linked & ~descriptive).sum()),
            "unlinkable_records": int((~linked).sum()),
        }
        source_parts.append(np.full(n, index, np.int16))
        record_parts.append(table["record_id"].combine_chunks().cast(pa.string()))
        key_parts.append(key_ids)
        person_parts.append(descriptive)
        offset += n

    persons = (
        pa.concat_tables(person_tables, promote_options="default")
        if person_tables
        else pa.table({"unique_id": pa.array([], pa.int64())})
    )
    return Features(
        sources=sources,
        source_index=_concat(source_parts, np.int16),
        record_ids=pa.concat_arrays(record_parts) if record_parts else pa.array([], pa.string()),
        key_ids=_concat(key_parts, np.int32),
        is_person=_concat(person_parts, np.bool_),
        strong={kind: _concat_arrow(parts) for kind, parts in strong_parts.items()},
        persons=persons,
        counts=counts,
    )


def _concat(parts: Sequence[npt.NDArray], dtype: type) -> npt.NDArray:  # type: ignore[type-arg]
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _concat_arrow(parts: Sequence[pa.Array]) -> pa.Array:
    return pa.concat_arrays(list(parts)) if parts else pa.array([], pa.int64())
