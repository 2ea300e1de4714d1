"""The one audit writer and the reader/verifier of the chain."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from governance.audit.chain import (
    ChainEntry,
    Checkpoint,
    Verification,
    checkpoint_bytes,
    entry_hash,
    verify_chain,
)
from governance.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from governance.audit.tags import check_tag
from governance.canonical import canonical_json
from governance.timestamps import Clock

HEAD_ID = 1
_entries: Table = AuditEntry.__table__  # type: ignore[assignment]
_head: Table = AuditHead.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class RecordedEntry:
    seq: int
    at: datetime
    tag: str
    actor: str
    subject: str
    details: dict[str, Any]
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "tag": self.tag,
            "actor": self.actor,
            "subject": self.subject,
            "details": self.details,
            "hash": self.hash,
        }


def _recorded(row: AuditEntry) -> RecordedEntry:
    import json

    return RecordedEntry(
        row.seq, row.at, row.tag, row.actor, row.subject, json.loads(row.details), row.hash
    )


class AuditLog:
    """Appends entries to the chain inside the caller's transaction.

    ``record`` first locks the head row (``SELECT … FOR UPDATE`` on PostgreSQL, the
    write lock on SQLite), so concurrent writers queue up and the chain never forks;
    the entry and the new head then commit or roll back with the change they record.
    """

    def __init__(self, session: Session, *, clock: Clock) -> None:
        self.session = session
        self.clock = clock

    def record(
        self, tag: str, actor: str, subject: str, details: Mapping[str, Any] | None = None
    ) -> RecordedEntry:
        check_tag(tag)
        details_json = canonical_json(dict(details or {})).decode("utf-8")
        seq, prev = self._lock_head()
        seq += 1
        at = self.clock()
        digest = entry_hash(seq, at, tag, actor, subject, details_json, prev)
        insert = _entries.insert().values(
            seq=seq,
            at=at,
            tag=tag,
            actor=actor,
            subject=subject,
            details=details_json,
            prev_hash=prev,
            hash=digest,
        )
        move_head = update(_head).where(_head.c.id == HEAD_ID)
        if self.session.get_bind().dialect.name == "postgresql":
            # One round trip: the insert as a CTE feeding the head update.
            written = insert.returning(_entries.c.seq, _entries.c.hash).cte("written")
            self.session.execute(
                move_head.where(_head.c.seq == written.c.seq - 1).values(
                    seq=written.c.seq, hash=written.c.hash
                )
            )
        else:
            self.session.execute(insert)
            self.session.execute(move_head.values(seq=seq, hash=digest))
        return RecordedEntry(seq, at, tag, actor, subject, dict(details or {}), digest)

    def _lock_head(self) -> tuple[int, str]:
        """Take the append lock and read the head.

        PostgreSQL: ``SELECT … FOR UPDATE`` locks the row without writing a new row
        version (so the head gets one new version per append, not two). SQLite: a no-op
        UPDATE takes the database write lock before the head is read.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            row = self.session.execute(
                select(_head.c.seq, _head.c.hash).where(_head.c.id == HEAD_ID).with_for_update()
            ).one()
        else:
            row = self.session.execute(
                update(_head)
                .where(_head.c.id == HEAD_ID)
                .values(seq=_head.c.seq)
                .returning(_head.c.seq, _head.c.hash)
            ).one()
        return int(row[0]), str(row[1])

    def checkpoint(self, *, signer: Ed25519PrivateKey, key_id: str, actor: str) -> Checkpoint:
        """Sign the current head with the hub key and store the checkpoint."""
        seq, hash_ = self.head()
        at = self.clock()
        signature = signer.sign(checkpoint_bytes(seq, hash_, at))
        self.session.add(
            AuditCheckpoint(seq=seq, hash=hash_, at=at, key_id=key_id, signature=signature)
        )
        self.session.flush()
        self.record("audit:checkpoint", actor, f"audit:{seq}", {"seq": seq, "key_id": key_id})
        return Checkpoint(seq, hash_, at, key_id, signature)

    # Reading ---------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        row = self.session.execute(
            select(_head.c.seq, _head.c.hash).where(_head.c.id == HEAD_ID)
        ).one()
        return int(row[0]), str(row[1])

    def tail(self, n: int = 20) -> list[RecordedEntry]:
        rows = self.session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(n))
        return [_recorded(r) for r in reversed(list(rows))]

    def search(
        self,
        *,
        tag: str | None = None,
        actor: str | None = None,
        subject: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 1000,
    ) -> list[RecordedEntry]:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if tag is not None:
            query = query.where(
                AuditEntry.tag.startswith(tag) if tag.endswith(":") else AuditEntry.tag == tag
            )
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        if subject is not None:
            query = query.where(AuditEntry.subject == subject)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if until is not None:
            query = query.where(AuditEntry.at < until)
        if limit is not None:
            query = query.limit(limit)
        return [_recorded(r) for r in self.session.scalars(query)]

    def iter_all(self, batch: int = 10_000) -> Iterator[RecordedEntry]:
        """Every entry in order, streamed."""
        result = self.session.execute(
            select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch)
        )
        for row in result.scalars():
            yield _recorded(row)

    def verify(
        self,
        *,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        batch: int = 20_000,
    ) -> Verification:
        """Recompute the chain from the first entry; report the first bad one."""
        rows = self.session.execute(
            select(
                _entries.c.seq,
                _entries.c.at,
                _entries.c.tag,
                _entries.c.actor,
                _entries.c.subject,
                _entries.c.details,
                _entries.c.prev_hash,
                _entries.c.hash,
            )
            .order_by(_entries.c.seq)
            .execution_options(yield_per=batch)
        )
        checkpoints = [
            Checkpoint(c.seq, c.hash, c.at, c.key_id, c.signature)
            for c in self.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq))
        ]
        return verify_chain(
            (ChainEntry(*row) for row in rows),
            head=self.head(),
            checkpoints=checkpoints,
            public_keys=public_keys,
        )
