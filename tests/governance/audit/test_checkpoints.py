"""Automatic signed checkpoints on both backends, and what they let verification name.

The insider here can write the audit tables (the guard triggers are dropped first) but
does not hold the hub's private key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from governance.audit.chain import GENESIS, checkpoint_bytes, entry_hash
from governance.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from governance.audit.services import AuditLog, CheckpointPolicy, KeySigner
from governance.db import make_engine, migrate
from governance.errors import AuditTampered
from tests.fixtures.database import BACKENDS, new_postgres_database
from tests.governance.conftest import FakeClock

SIGNER = KeySigner("hub-test", Ed25519PrivateKey.generate())
KEYS = {SIGNER.key_id: SIGNER.private_key.public_key()}
_entries: sa.Table = AuditEntry.__table__  # type: ignore[assignment]
_head: sa.Table = AuditHead.__table__  # type: ignore[assignment]
_checkpoints: sa.Table = AuditCheckpoint.__table__  # type: ignore[assignment]


def _log(session, clock: FakeClock, *, every: int = 5, every_s: float = 3600) -> AuditLog:
    policy = CheckpointPolicy(
        every_entries=every, every_s=every_s, signer=lambda: SIGNER, actor="test"
    )
    audit = AuditLog(session, clock=clock, checkpoints=policy)
    audit.sign_checkpoint(SIGNER, actor="test")  # start from a known coverage
    return audit


def _record(audit: AuditLog, n: int) -> None:
    for i in range(n):
        audit.record("policy:decision", f"user{i % 3}", f"dataset:nis.d{i}", {"i": i})


def _last_checkpoint(audit: AuditLog) -> int:
    cps = audit.list_checkpoints()
    return cps[-1].seq if cps else 0


def _uncovered(audit: AuditLog) -> int:
    return audit.head()[0] - _last_checkpoint(audit)


def _unguard(conn: Connection) -> None:
    """What an insider with owner rights does first."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        conn.execute(sa.text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
    else:
        for table in ("audit_entries", "audit_checkpoints"):
            conn.execute(sa.text(f"DROP TRIGGER {table}_no_update"))
            conn.execute(sa.text(f"DROP TRIGGER {table}_no_delete"))


def _rewrite(conn: Connection, k: int, actor: str = "mallory") -> None:
    """Edit entry ``k`` and recompute every later hash and link, and the head."""
    rows = conn.execute(
        sa.select(_entries).where(_entries.c.seq >= k).order_by(_entries.c.seq)
    ).all()
    prev = rows[0].prev_hash
    for r in rows:
        who = actor if r.seq == k else r.actor
        h = entry_hash(r.seq, r.at, r.tag, who, r.subject, r.details, prev)
        conn.execute(
            sa.update(_entries)
            .where(_entries.c.seq == r.seq)
            .values(actor=who, prev_hash=prev, hash=h)
        )
        prev = h
    conn.execute(sa.update(_head).values(hash=prev))


def test_a_checkpoint_is_signed_after_n_entries(db_session, clock: FakeClock) -> None:
    audit = _log(db_session, clock, every=5)
    before = len(audit.list_checkpoints())
    _record(audit, 5 - _uncovered(audit) - 1)
    assert len(audit.list_checkpoints()) == before and _uncovered(audit) == 4
    _record(audit, 1)
    cps = audit.list_checkpoints()
    assert len(cps) == before + 1
    cp = cps[-1]
    assert cp.first_seq is not None and cp.seq - cp.first_seq + 1 == 5
    # The checkpoint is announced in the chain, right after the entries it covers.
    announcement = audit.tail(1)[0]
    assert (announcement.tag, announcement.seq) == ("audit:checkpoint", cp.seq + 1)
    assert announcement.details == {"first_seq": cp.first_seq, "key_id": "hub-test", "seq": cp.seq}
    result = audit.verify(public_keys=KEYS)
    assert result.ok and result.covered_up_to == cp.seq and result.uncovered == 1


def test_a_checkpoint_is_signed_once_the_interval_has_passed(db_session, clock: FakeClock) -> None:
    audit = _log(db_session, clock, every=1000, every_s=60)
    before = len(audit.list_checkpoints())
    _record(audit, 2)
    clock.advance(seconds=59)
    _record(audit, 1)
    assert len(audit.list_checkpoints()) == before
    clock.advance(seconds=1)
    _record(audit, 1)
    assert len(audit.list_checkpoints()) == before + 1
    assert audit.list_checkpoints()[-1].at == clock.now
    clock.advance(seconds=30)
    _record(audit, 1)
    assert len(audit.list_checkpoints()) == before + 1
    assert audit.checkpoint_if_due() is None
    clock.advance(seconds=31)
    cp = audit.checkpoint_if_due(actor="cron")  # an idle hub: the periodic job signs
    assert cp is not None and cp.seq == audit.head()[0] - 1
    assert audit.verify(public_keys=KEYS).ok
    clock.advance(hours=2)  # only its own announcement since: nothing to sign again
    assert audit.checkpoint_if_due(actor="cron") is None


def test_no_hub_key_yet_means_no_checkpoint(db_session, clock: FakeClock) -> None:
    policy = CheckpointPolicy(every_entries=2, every_s=1, signer=lambda: None)
    audit = AuditLog(db_session, clock=clock, checkpoints=policy)
    before = audit.list_checkpoints()
    _record(audit, 4)
    assert audit.list_checkpoints() == before


def test_a_rewritten_entry_is_named_exactly(
    db_session, db_connection: Connection, clock: FakeClock
) -> None:
    audit = _log(db_session, clock, every=5)
    _record(audit, 12)
    covered = _last_checkpoint(audit)
    target = covered - 6  # inside a signed range, not at a checkpoint's end
    db_session.flush()
    assert audit.verify(public_keys=KEYS).ok
    _unguard(db_connection)
    _rewrite(db_connection, target)
    result = audit.verify(public_keys=KEYS)
    assert not result.ok
    assert result.bad_seq == target, result.summary()
    assert result.intact_up_to == target - 1
    assert "rewritten" in (result.reason or "")


def test_a_rewrite_after_the_last_checkpoint_is_undetectable_but_reported_as_uncovered(
    db_session, db_connection: Connection, clock: FakeClock
) -> None:
    audit = _log(db_session, clock, every=5)
    _record(audit, 7)
    db_session.flush()
    head = audit.head()[0]
    _unguard(db_connection)
    _rewrite(db_connection, head)
    result = audit.verify(public_keys=KEYS)
    assert result.ok  # by definition: no signature vouches for it yet
    assert result.uncovered == head - _last_checkpoint(audit) >= 1
    assert "not yet covered by a signature" in result.summary()


def test_a_deleted_entry_is_named(db_session, db_connection: Connection, clock) -> None:
    audit = _log(db_session, clock, every=5)
    _record(audit, 8)
    db_session.flush()
    target = _last_checkpoint(audit) - 2
    _unguard(db_connection)
    db_connection.execute(sa.delete(_entries).where(_entries.c.seq == target))
    result = audit.verify(public_keys=KEYS)
    assert not result.ok and result.bad_seq == target
    assert "missing" in (result.reason or "")


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_deleted_checkpoint_is_detected(
    which: str, db_session, db_connection: Connection, clock: FakeClock
) -> None:
    audit = _log(db_session, clock, every=4)
    _record(audit, 10)
    db_session.flush()
    cps = audit.list_checkpoints()
    assert len(cps) >= 3
    victim = cps[-2] if which == "middle" else cps[-1]
    _unguard(db_connection)
    db_connection.execute(sa.delete(_checkpoints).where(_checkpoints.c.seq == victim.seq))
    result = audit.verify(public_keys=KEYS)
    assert not result.ok, result.summary()
    if which == "middle":
        assert result.bad_seq == victim.first_seq
        assert f"no signed checkpoint covers entries {victim.first_seq}..{victim.seq}" in (
            result.reason or ""
        )
    else:  # its announcement entry is still in the chain
        assert result.bad_seq == victim.seq + 1
        assert f"checkpoint at {victim.seq}, which is missing" in (result.reason or "")


def test_truncating_covered_entries_is_detected(
    db_session, db_connection: Connection, clock: FakeClock
) -> None:
    audit = _log(db_session, clock, every=4)
    _record(audit, 6)
    db_session.flush()
    last = _last_checkpoint(audit)
    _unguard(db_connection)
    cut = last - 1
    db_connection.execute(sa.delete(_entries).where(_entries.c.seq >= cut))
    keep = db_connection.execute(
        sa.select(_entries.c.hash).where(_entries.c.seq == cut - 1)
    ).scalar_one()
    db_connection.execute(sa.update(_head).values(seq=cut - 1, hash=keep))
    result = audit.verify(public_keys=KEYS)
    assert not result.ok and result.bad_seq == cut
    assert "points past the end" in (result.reason or "")


def test_a_range_edited_before_it_was_signed_is_refused(
    db_session, db_connection: Connection, clock: FakeClock
) -> None:
    audit = _log(db_session, clock, every=1000)
    _record(audit, 3)
    db_session.flush()
    _unguard(db_connection)
    target = audit.head()[0] - 1
    db_connection.execute(
        sa.update(_entries).where(_entries.c.seq == target).values(actor="mallory")
    )
    with pytest.raises(AuditTampered, match=f"first bad entry {target}"):
        audit.sign_checkpoint(SIGNER, actor="test")


def test_a_checkpoint_signed_by_another_key_is_refused(db_session, clock: FakeClock) -> None:
    audit = _log(db_session, clock, every=3)
    _record(audit, 4)
    cp = audit.list_checkpoints()[-1]
    other = {SIGNER.key_id: Ed25519PrivateKey.generate().public_key()}
    result = audit.verify(public_keys=other)
    assert not result.ok and "invalid signature" in (result.reason or "")
    assert result.bad_seq is not None and result.bad_seq <= cp.seq
    unknown = audit.verify(public_keys={})
    assert not unknown.ok and "unknown key hub-test" in (unknown.reason or "")


@pytest.fixture(params=BACKENDS)
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    with new_postgres_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


def test_checkpoints_made_before_ranges_still_verify_after_the_upgrade(
    unmigrated_url: str, clock: FakeClock
) -> None:
    engine = make_engine(unmigrated_url)
    try:
        migrate(engine, "0004")
        prev = GENESIS
        with engine.begin() as conn:  # what the previous version wrote
            for seq in (1, 2, 3):
                h = entry_hash(seq, clock.now, "policy:decision", "a", "s", "{}", prev)
                conn.execute(
                    sa.text(
                        "INSERT INTO audit_entries (seq, at, tag, actor, subject, details, "
                        "prev_hash, hash) VALUES (:s, :at, 'policy:decision', 'a', 's', '{}', "
                        ":p, :h)"
                    ),
                    {"s": seq, "at": clock.now.replace(tzinfo=None), "p": prev, "h": h},
                )
                prev = h
            conn.execute(sa.text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
            signature = SIGNER.sign(checkpoint_bytes(3, prev, clock.now))
            conn.execute(
                sa.text(
                    "INSERT INTO audit_checkpoints (seq, hash, at, key_id, signature) "
                    "VALUES (3, :h, :at, :k, :sig)"
                ),
                {
                    "h": prev,
                    "at": clock.now.replace(tzinfo=None),
                    "k": SIGNER.key_id,
                    "sig": signature,
                },
            )
        migrate(engine)
        with Session(engine) as session, session.begin():
            policy = CheckpointPolicy(every_entries=3, every_s=3600, signer=lambda: SIGNER)
            audit = AuditLog(session, clock=clock, checkpoints=policy)
            assert audit.verify(public_keys=KEYS).checkpoints_verified == 1
            _record(audit, 3)  # the head row remembered the old checkpoint at 3
            cps = audit.list_checkpoints()
            assert [(c.first_seq, c.seq) for c in cps] == [(None, 3), (4, 6)]
            result = audit.verify(public_keys=KEYS)
            assert result.ok and result.checkpoints_verified == 2, result.summary()
    finally:
        engine.dispose()
