"""From opaque record ids back to the agency's own rows.

A record id is keyed with the linkage key (:mod:`schemas.record_ids`), so nobody
without it — the hub included — can say which source row it names. The agency can:
its connector holds the key, reads the source again and maps every row as a run
would, and notes the row key of each wanted id. This is how an operator finds the
rows behind a rejected batch (`connector status` lists their record ids) or behind
a receipt's problem list.

The whole source is read (a record id cannot be inverted, only recomputed), one
chunk at a time, so memory stays flat; rows the mapping refuses for other reasons
still give their id when the id's own column maps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from connectors.sdk.mapping import Mapper
from connectors.sdk.sources.base import Source


@dataclass
class Found:
    """Which source rows carry the wanted record ids."""

    rows: dict[str, list[str]] = field(default_factory=dict)  # record id -> row keys
    rows_read: int = 0

    def missing(self, wanted: Iterable[str]) -> list[str]:
        return [rid for rid in wanted if rid not in self.rows]


def find_rows(source: Source, mapper: Mapper, record_id_field: str, wanted: set[str]) -> Found:
    """The row keys (``mapping.key_column``) of the source rows whose record id is wanted.

    An id may name several rows (a row exported again after a change keeps its id)."""
    found = Found()
    for chunk in source.read(None):
        for row in chunk:
            found.rows_read += 1
            mapped = mapper.map(row.values)
            record_id = mapped.fields.get(record_id_field)
            if record_id in wanted:
                found.rows.setdefault(record_id, []).append(mapped.key)
    return found
