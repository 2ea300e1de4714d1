"""Verification through the PostgreSQL reader gives the reference verdict on both backends.

On PostgreSQL ``AuditLog.verify`` streams raw rows and walks them fast; on SQLite it
walks entries. Each test compares ``verify`` with the reference walk over the entries
read as the reference reader reads them (``iter_chain``), and names the entry expected.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import psycopg
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from governance.audit.chain import Verification, entry_hash, verify_chain
from governance.audit.chain_reader import raw_rows, verify_on_postgres
from governance.audit.chain_rows import RawRow
from governance.audit.models import AuditEntry
from governance.audit.services import AuditLog, KeySigner
from governance.timestamps import iso, utc_now

SIGNER = KeySigner("hub-test", Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.private_key.public_key()}
_entries: sa.Table = AuditEntry.__table__  # type: ignore[assignment]
AWKWARD = ['quote " and \\ backslash', "tab\tnew\nline\r", "\x01\x1f control", "é € 😀", "\\N"]


def reference(audit: AuditLog, keys=KEYS) -> Verification:
    """The reference walk over the entries as the reference reader reads them."""
    return verify_chain(
        audit.iter_chain(),
        head=audit.head(),
        checkpoints=audit.list_checkpoints(),
        public_keys=keys,
    )


def verified(audit: AuditLog, keys=KEYS) -> Verification:
    """``verify``, checked against the reference walk."""
    result = audit.verify(public_keys=keys)
    assert result == reference(audit, keys), result.summary()
    return result


def fill(audit: AuditLog, n: int, *, awkward: bool = False) -> int:
    start, _ = audit.head()
    for i in range(n):
        text = AWKWARD[i % len(AWKWARD)] if awkward else f"user{i % 3}"
        audit.record("policy:decision", text, f"dataset:{text}{i}", {"i": i, "note": text})
    audit.session.flush()
    return start


def unguard(conn: Connection) -> None:
    """What an insider with owner rights does first."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        conn.execute(sa.text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
    else:
        for table in ("audit_entries", "audit_checkpoints"):
            conn.execute(sa.text(f"DROP TRIGGER {table}_no_update"))
            conn.execute(sa.text(f"DROP TRIGGER {table}_no_delete"))


def postgres_only(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        pytest.skip("the PostgreSQL reader")


def test_postgres_takes_the_fast_path_and_sqlite_the_reference(
    audit: AuditLog, db_connection: Connection
) -> None:
    fill(audit, 3)
    fast = verify_on_postgres(
        audit.session, head=audit.head(), checkpoints=[], public_keys=None, batch=100
    )
    if db_connection.dialect.name == "postgresql":
        assert fast is not None and fast.ok and fast.intact_up_to == audit.head()[0]
    else:
        assert fast is None
    assert verified(audit).ok


# What an insider writes into each column of one entry.
COLUMN_EDITS: dict[str, object] = {
    "at": None,  # one microsecond later, computed from the stored instant
    "tag": "policy:decisioN",
    "actor": _entries.c.actor + '"',
    "subject": "dataset:other",
    "details": '{"i":-1}',
    "prev_hash": "1" * 64,
    "hash": "a" * 64,
    "seq": _entries.c.seq + 1_000_000,
}


def edit(conn: Connection, column: str, seq: int) -> None:
    value = COLUMN_EDITS[column]
    if column == "at":
        stored = conn.execute(sa.select(_entries.c.at).where(_entries.c.seq == seq)).scalar_one()
        value = stored + timedelta(microseconds=1)
    conn.execute(sa.update(_entries).where(_entries.c.seq == seq).values({column: value}))


@pytest.mark.parametrize("column", sorted(COLUMN_EDITS))
@pytest.mark.parametrize("awkward", [False, True], ids=["plain", "awkward"])
def test_an_edit_in_any_column_names_the_entry(
    column: str, awkward: bool, audit: AuditLog, db_connection: Connection
) -> None:
    audit.sign_checkpoint(SIGNER, actor="test")
    start = fill(audit, 8, awkward=awkward)
    audit.sign_checkpoint(SIGNER, actor="test")
    fill(audit, 3, awkward=awkward)
    assert verified(audit).ok
    target = start + 4
    unguard(db_connection)
    edit(db_connection, column, target)
    result = verified(audit)
    assert not result.ok and result.bad_seq == target, result.summary()
    assert result.intact_up_to == target - 1


def test_awkward_strings_verify_on_the_fast_path(
    audit: AuditLog, db_connection: Connection
) -> None:
    fill(audit, 2 * len(AWKWARD), awkward=True)
    audit.sign_checkpoint(SIGNER, actor="test")
    result = verified(audit)
    assert result.ok and result.uncovered == 1
    if db_connection.dialect.name != "postgresql":
        return
    by_seq = {e.seq: e for e in audit.iter_chain()}
    for seq, at_text, at, tag, actor, subject, details, prev_hash, hash_ in rows(db_connection):
        entry = by_seq[seq]
        assert at_text == iso(entry.at).encode() and at is None
        assert (tag, actor, subject, details) == tuple(
            s.encode() for s in (entry.tag, entry.actor, entry.subject, entry.details)
        )
        assert (prev_hash, hash_) == (entry.prev_hash, entry.hash)


def rows(conn: Connection, first: int = 1) -> list[RawRow]:
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    with driver.transaction(force_rollback=True):
        return list(raw_rows(driver, first=first, batch=3))


def append_raw(conn: Connection, at: datetime | str, hashed_at: datetime | None = None) -> int:
    """Append one entry at ``at`` (a datetime, or a timestamp literal Python may not hold)
    hashed as the writer would hash it at ``hashed_at`` (default ``at``), and move the head."""
    last, prev = conn.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
    seq = int(last) + 1
    hashed_at = hashed_at or (at if isinstance(at, datetime) else None)
    h = "x" * 64
    if hashed_at is not None:
        h = entry_hash(seq, hashed_at, "policy:decision", "a", "s", "{}", prev)
    value = "CAST(:at AS TIMESTAMPTZ)" if isinstance(at, datetime) else f"TIMESTAMPTZ '{at}'"
    conn.execute(
        sa.text(
            "INSERT INTO audit_entries (seq, at, tag, actor, subject, details, prev_hash, hash) "
            f"VALUES (:s, {value}, 'policy:decision', 'a', 's', '{{}}', :p, :h)"
        ),
        {"s": seq, "at": at, "p": prev, "h": h},
    )
    conn.execute(sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": seq, "h": h})
    return seq


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    instants=st.lists(
        st.datetimes(
            min_value=datetime(1000, 1, 2),
            max_value=datetime(9999, 12, 30, 23, 59, 59, 999999),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11, minutes=-30))]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_the_server_writes_every_instant_as_iso_does(
    instants: list[datetime], db_connection: Connection
) -> None:
    postgres_only(db_connection)
    savepoint = db_connection.begin_nested()
    try:
        first = append_raw(db_connection, instants[0])
        for at in instants[1:]:
            append_raw(db_connection, at)
        assert [r[1] for r in rows(db_connection, first)] == [iso(at).encode() for at in instants]
        with Session(bind=db_connection, join_transaction_mode="create_savepoint") as session:
            assert verified(AuditLog(session, clock=utc_now)).ok
    finally:
        savepoint.rollback()


def test_an_instant_before_the_year_1000_goes_to_the_reference_walk(
    audit: AuditLog, db_connection: Connection
) -> None:
    postgres_only(db_connection)
    fill(audit, 2)
    at = datetime(999, 12, 31, 23, 59, 59, 5, tzinfo=UTC)  # iso writes the year as "999"
    old = append_raw(db_connection, at)
    fill(audit, 2)
    assert rows(db_connection, old)[0][1:3] == (None, at)
    assert verified(audit).ok


@pytest.mark.parametrize(
    ("literal", "printed_as"),
    [
        # to_char would print the year as 1000: a hash forged over that must not pass.
        ("1000-06-01 00:00:00+00 BC", datetime(1000, 6, 1, tzinfo=UTC)),
        ("10000-01-01 00:00:00+00", None),
        ("infinity", None),
    ],
)
def test_an_instant_python_cannot_hold_fails_both_readers_alike(
    literal: str, printed_as: datetime | None, audit: AuditLog, db_connection: Connection
) -> None:
    postgres_only(db_connection)
    fill(audit, 2)
    seq = append_raw(db_connection, literal, printed_as)
    with pytest.raises(psycopg.DataError):
        audit.verify()
    with pytest.raises(DataError):
        reference(audit)
    assert audit.head()[0] == seq  # the session lives on


def test_a_walk_stopped_early_leaves_the_transaction_usable(
    audit: AuditLog, db_connection: Connection
) -> None:
    start = fill(audit, 300)
    unguard(db_connection)
    db_connection.execute(
        sa.text("UPDATE audit_entries SET actor = 'mallory' WHERE seq = :s"), {"s": start + 2}
    )
    result = verified(audit)
    assert result.bad_seq == start + 2
    entry = audit.record("audit:verify", "ops", "audit", {"ok": result.ok})
    assert audit.head() == (entry.seq, entry.hash) and entry.seq == start + 301
    assert audit.search(actor="mallory")[0].seq == start + 2


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(min_value=2, max_value=12),
    every=st.integers(min_value=0, max_value=4),
    awkward=st.booleans(),
    column=st.sampled_from([*sorted(COLUMN_EDITS), "delete", "swap", "checkpoint", "none"]),
    data=st.data(),
)
def test_random_chains_and_tampering_agree_with_the_reference(
    n: int, every: int, awkward: bool, column: str, data: st.DataObject, db_connection: Connection
) -> None:
    savepoint = db_connection.begin_nested()
    session = Session(bind=db_connection, join_transaction_mode="create_savepoint")
    audit = AuditLog(session, clock=utc_now)
    try:
        start = audit.head()[0]
        for i in range(n):
            fill(audit, 1, awkward=awkward)
            if every and i % every == every - 1:
                audit.sign_checkpoint(SIGNER, actor="test")
        session.flush()
        assert verified(audit).ok
        unguard(db_connection)
        target = start + data.draw(st.integers(1, n))
        run = db_connection.execute
        if column in COLUMN_EDITS:
            edit(db_connection, column, target)
        elif column == "delete":
            run(sa.text(f"DELETE FROM audit_entries WHERE seq = {target}"))
        elif column == "swap":
            run(sa.text(f"UPDATE audit_entries SET seq = -1 WHERE seq = {target}"))
            run(sa.text(f"UPDATE audit_entries SET seq = {target} WHERE seq = {target + 1}"))
            run(sa.text(f"UPDATE audit_entries SET seq = {target + 1} WHERE seq = -1"))
        elif column == "checkpoint":
            gone = run(sa.text(f"DELETE FROM audit_checkpoints WHERE seq >= {target}")).rowcount
            column = column if gone else "none"
        keys = data.draw(st.sampled_from([KEYS, None]))
        result = verified(audit, keys)
        assert result.ok == (column == "none"), result.summary()
        if column not in ("none", "checkpoint"):
            assert result.bad_seq == target, result.summary()
    finally:
        session.close()
        if savepoint.is_active:
            savepoint.rollback()
