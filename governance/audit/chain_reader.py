"""The chain read from PostgreSQL as raw rows, in one streamed query, for a fast verify.

One statement (so one snapshot, like the reference reader) streams the entries in
sequence order in the binary protocol, in chunks when the client library allows it.
Text columns arrive as their UTF-8 bytes (``text`` is loaded as bytes; the two hashes
are cast to ``varchar`` and arrive as strings), and the server writes the instant's
canonical text with ``to_char`` in UTC, which equals :func:`~governance.timestamps.iso`
for the years 1000 to 9999 AD (outside them it differs: it pads a year below 1000, which
``iso`` does not, and prints a year BC as the same year AD). Other instants arrive as
timestamps, and the walk leaves them to the reference path.

The query runs inside a savepoint that is always rolled back: a walk that stops early
cancels the rest of the stream, and the cancellation must not abort the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from typing import Any, cast

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg.types.string import ByteaBinaryLoader
from sqlalchemy.orm import Session

from governance.audit.chain import Checkpoint, Verification
from governance.audit.chain_rows import RawRow, verify_rows

#: Instants whose canonical text ``to_char`` writes exactly as ``iso`` does.
_FOUR_DIGIT_YEARS = (
    "at >= TIMESTAMPTZ '1000-01-01 00:00:00+00' AND at < TIMESTAMPTZ '10000-01-01 00:00:00+00'"
)
_ROWS = f"""
SELECT seq,
       CASE WHEN {_FOUR_DIGIT_YEARS}
            THEN to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END,
       CASE WHEN {_FOUR_DIGIT_YEARS} THEN NULL ELSE at END,
       tag::text, actor::text, subject::text, details::text,
       prev_hash::varchar, hash::varchar
FROM audit_entries
WHERE seq >= %s
ORDER BY seq
"""
#: libpq 17 is the first to deliver a streamed result in chunks of many rows.
_CHUNKED_LIBPQ = 170000


def verify_on_postgres(
    session: Session,
    *,
    head: tuple[int, str],
    checkpoints: Iterable[Checkpoint],
    public_keys: Mapping[str, Ed25519PublicKey] | None,
    batch: int,
) -> Verification | None:
    """Verify the whole chain from raw rows; None when the session is not on a UTF-8
    PostgreSQL database through psycopg (the caller then takes the reference path)."""
    conn = session.connection().connection.driver_connection
    if not isinstance(conn, psycopg.Connection) or not _utf8(conn):
        return None
    with conn.transaction(force_rollback=True):
        rows = raw_rows(conn, first=1, batch=batch)
        try:
            return verify_rows(rows, head=head, checkpoints=checkpoints, public_keys=public_keys)
        finally:
            rows.close()  # cancels the query if the walk stopped early


def raw_rows(
    conn: psycopg.Connection[Any], *, first: int, batch: int
) -> Generator[RawRow, None, None]:
    """The entries from ``first`` on, in order, as raw rows (closing it cancels the query).

    psycopg's own generator, not a wrapper around it: it yields once an entry.
    """
    cursor = conn.cursor(binary=True)
    cursor.adapters.register_loader("text", ByteaBinaryLoader)
    size = batch if psycopg.pq.version() >= _CHUNKED_LIBPQ else 1
    return cast(Generator[RawRow, None, None], cursor.stream(_ROWS, (first,), size=size))


def _utf8(conn: psycopg.Connection[Any]) -> bool:
    """True when text travels as UTF-8 and the database stores it as UTF-8."""
    server = conn.info.parameter_status("server_encoding")
    return conn.info.encoding == "utf-8" and server == "UTF8"
