"""The audit writer on both backends: chain, taxonomy, append-only rows, concurrency."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.errors import AuditTagUnknown
from governance.roles import grant_application_role
from governance.timestamps import utc_now


def _fill(audit: AuditLog, n: int) -> int:
    start, _ = audit.head()
    for i in range(n):
        audit.record(
            "policy:decision", f"user{i % 3}", f"dataset:nis.d{i}", {"i": i, "ok": i % 2 == 0}
        )
    return start


def test_entries_chain_and_verify(audit: AuditLog, clock) -> None:
    start = _fill(audit, 5)
    head_seq, head_hash = audit.head()
    assert head_seq == start + 5
    entries = audit.tail(5)
    assert [e.seq for e in entries] == list(range(start + 1, start + 6))
    assert entries[-1].hash == head_hash
    assert entries[2].details == {"i": 2, "ok": True}
    result = audit.verify()
    assert result.ok, result.summary()
    assert result.intact_up_to == head_seq


def test_unknown_tag_is_refused(audit: AuditLog) -> None:
    before = audit.head()
    with pytest.raises(AuditTagUnknown):
        audit.record("agreement:delete", "me", "x", {})
    assert audit.head() == before


def test_search_by_tag_actor_subject_and_time(audit: AuditLog, clock) -> None:
    t0 = clock.now
    audit.record("agency:create", "alice", "agency:zz", {})
    clock.advance(hours=1)
    audit.record("key:revoke", "bob", "key:zz-1", {"reason": "lost"})
    audit.record("key:register", "bob", "key:zz-2", {})
    assert [e.subject for e in audit.search(tag="key:", since=t0)] == ["key:zz-1", "key:zz-2"]
    assert [e.tag for e in audit.search(actor="alice", since=t0)] == ["agency:create"]
    assert [e.tag for e in audit.search(subject="key:zz-1")] == ["key:revoke"]
    assert [e.actor for e in audit.search(since=clock.now)] == ["bob", "bob"]


def test_checkpoint_is_signed_and_verified(audit: AuditLog) -> None:
    key = Ed25519PrivateKey.generate()
    _fill(audit, 3)
    cp = audit.checkpoint(signer=key, key_id="hub-test", actor="ops")
    assert cp is not None
    _fill(audit, 2)
    assert audit.verify(public_keys={"hub-test": key.public_key()}).checkpoints_verified >= 1
    other = Ed25519PrivateKey.generate().public_key()
    result = audit.verify(public_keys={"hub-test": other})
    assert not result.ok and result.bad_seq == cp.seq


def _expect_refused(conn: Connection, statement: str) -> str:
    nested = conn.begin_nested()
    with pytest.raises(DBAPIError) as info:
        conn.execute(sa.text(statement))
    nested.rollback()
    return str(info.value)


def test_rows_cannot_be_updated_or_deleted(audit: AuditLog, db_connection: Connection) -> None:
    _fill(audit, 2)
    audit.session.flush()
    assert "append-only" in _expect_refused(db_connection, "UPDATE audit_entries SET actor = 'x'")
    assert "append-only" in _expect_refused(db_connection, "DELETE FROM audit_entries")
    assert audit.verify().ok


def _disable_guard(conn: Connection) -> None:
    """What an attacker with superuser rights would do first."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
    else:
        conn.execute(sa.text("DROP TRIGGER audit_entries_no_update"))
        conn.execute(sa.text("DROP TRIGGER audit_entries_no_delete"))


@pytest.mark.parametrize("kind", ["edit", "delete", "insert", "reorder", "truncate_tail"])
def test_tampering_in_the_database_is_detected(
    kind: str, audit: AuditLog, db_connection: Connection
) -> None:
    start = _fill(audit, 6)
    audit.session.flush()
    _disable_guard(db_connection)
    target = start + 3
    if kind == "edit":
        db_connection.execute(
            sa.text(f"UPDATE audit_entries SET actor = 'mallory' WHERE seq = {target}")
        )
    elif kind == "delete":
        db_connection.execute(sa.text(f"DELETE FROM audit_entries WHERE seq = {target}"))
    elif kind == "insert":
        # Make room by shifting later entries, then slip a forged one in.
        db_connection.execute(
            sa.text(f"UPDATE audit_entries SET seq = seq + 1000000 WHERE seq >= {target}")
        )
        db_connection.execute(
            sa.text(
                f"UPDATE audit_entries SET seq = seq - 1000000 + 1 WHERE seq >= {target + 1000000}"
            )
        )
        db_connection.execute(
            sa.text(
                "INSERT INTO audit_entries "
                "(seq, at, tag, actor, subject, details, prev_hash, hash) "
                "SELECT :t, at, tag, 'mallory', subject, details, prev_hash, :h "
                "FROM audit_entries "
                "WHERE seq = :t + 1"
            ),
            {"t": target, "h": "f" * 64},
        )
    elif kind == "reorder":
        db_connection.execute(sa.text(f"UPDATE audit_entries SET seq = -1 WHERE seq = {target}"))
        db_connection.execute(
            sa.text(f"UPDATE audit_entries SET seq = {target} WHERE seq = {target + 1}")
        )
        db_connection.execute(
            sa.text(f"UPDATE audit_entries SET seq = {target + 1} WHERE seq = -1")
        )
    else:
        db_connection.execute(sa.text(f"DELETE FROM audit_entries WHERE seq > {start + 4}"))
    result = audit.verify()
    assert not result.ok
    expected_bad = start + 5 if kind == "truncate_tail" else target
    assert result.bad_seq == expected_bad, result.summary()
    assert result.intact_up_to == expected_bad - 1


def _postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL behaviour")


def test_application_role_cannot_update_or_delete(
    db_engine: Engine, db_connection: Connection
) -> None:
    _postgres_only(db_engine)
    role = f"lmis_app_{uuid.uuid4().hex[:8]}"
    db_connection.execute(sa.text(f'CREATE ROLE "{role}" NOLOGIN'))
    grant_application_role(db_connection, role)
    session = Session(bind=db_connection, join_transaction_mode="create_savepoint")
    db_connection.execute(sa.text(f'SET ROLE "{role}"'))
    try:
        # The role may append (through the one writer) ...
        entry = AuditLog(session, clock=utc_now).record("agency:create", role, "agency:x", {})
        session.flush()
        # ... but the privilege check refuses rewriting before any trigger runs.
        for statement in (
            "UPDATE audit_entries SET actor = 'x'",
            "DELETE FROM audit_entries",
            "TRUNCATE audit_entries",
        ):
            assert "permission denied" in _expect_refused(db_connection, statement)
    finally:
        db_connection.execute(sa.text("RESET ROLE"))
    assert entry.seq >= 1
    db_connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
    db_connection.execute(sa.text(f'DROP ROLE "{role}"'))
    assert (
        db_connection.execute(
            sa.text("SELECT count(*) FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).scalar_one()
        == 0
    )


def test_concurrent_writers_do_not_fork_the_chain(db_engine: Engine) -> None:
    _postgres_only(db_engine)
    with Session(db_engine) as s:
        start, _ = AuditLog(s, clock=utc_now).head()
    per_writer, errors = 40, []
    barrier = threading.Barrier(2)

    def writer(name: str) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with Session(db_engine) as s, s.begin():
                    AuditLog(s, clock=utc_now).record("policy:decision", name, f"n:{i}", {"i": i})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{k}",)) for k in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        with Session(db_engine) as s:
            log = AuditLog(s, clock=utc_now)
            head, _ = log.head()
            assert head == start + 2 * per_writer
            result = log.verify()
            assert result.ok, result.summary()
            actors = {e.actor for e in log.search(since=None, limit=None) if e.seq > start}
            assert actors == {"w0", "w1"}
    finally:
        # Leave the shared test database as the other tests expect it (superuser cleanup).
        with db_engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            conn.execute(sa.text(f"DELETE FROM audit_entries WHERE seq > {start}"))
            conn.execute(sa.text("ALTER TABLE audit_entries ENABLE TRIGGER USER"))
            conn.execute(
                sa.text(
                    f"UPDATE audit_head SET seq = {start}, hash = "
                    f"COALESCE((SELECT hash FROM audit_entries WHERE seq = {start}), '{'0' * 64}')"
                )
            )


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(min_value=3, max_value=10),
    kind=st.sampled_from(["edit", "delete", "swap", "truncate_tail", "forge_tail"]),
    data=st.data(),
)
def test_random_tampering_in_the_database_is_detected(
    n: int, kind: str, data: st.DataObject, db_connection: Connection
) -> None:
    savepoint = db_connection.begin_nested()
    session = Session(bind=db_connection, join_transaction_mode="create_savepoint")
    audit = AuditLog(session, clock=utc_now)
    try:
        start = _fill(audit, n)
        audit.session.flush()
        assert audit.verify().ok
        _disable_guard(db_connection)
        target = start + data.draw(st.integers(min_value=1, max_value=n - 1))
        run = db_connection.execute
        if kind == "edit":
            column = data.draw(st.sampled_from(["tag", "actor", "subject", "details"]))
            value = '{"forged":1}' if column == "details" else "forged"
            run(
                sa.text(f"UPDATE audit_entries SET {column} = :v WHERE seq = {target}"),
                {"v": value},
            )
            expected = target
        elif kind == "delete":
            run(sa.text(f"DELETE FROM audit_entries WHERE seq = {target}"))
            expected = target
        elif kind == "swap":
            run(sa.text(f"UPDATE audit_entries SET seq = -1 WHERE seq = {target}"))
            run(sa.text(f"UPDATE audit_entries SET seq = {target} WHERE seq = {target + 1}"))
            run(sa.text(f"UPDATE audit_entries SET seq = {target + 1} WHERE seq = -1"))
            expected = target
        elif kind == "truncate_tail":
            run(sa.text(f"DELETE FROM audit_entries WHERE seq >= {target}"))
            expected = target
        else:  # an entry appended behind the writer's back
            run(
                sa.text(
                    "INSERT INTO audit_entries "
                    "(seq, at, tag, actor, subject, details, prev_hash, hash) "
                    "SELECT seq + 1, at, tag, actor, subject, details, hash, :h "
                    "FROM audit_entries WHERE seq = :s"
                ),
                {"s": start + n, "h": "e" * 64},
            )
            expected = start + n + 1
        result = audit.verify()
        assert not result.ok
        assert result.bad_seq == expected, result.summary()
    finally:
        session.close()
        if savepoint.is_active:
            savepoint.rollback()
