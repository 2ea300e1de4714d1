"""The one audit writer and the reader/verifier of the chain.

The writer can sign checkpoints by itself: given a :class:`CheckpointPolicy`, ``record``
signs one, in the same transaction, once the policy's number of entries or its interval
has passed since the last checkpoint (see :mod:`governance.audit.chain` for what a
checkpoint vouches for and what stays undetectable).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from governance.audit.chain import (
    CHECKPOINT_TAG,
    GENESIS,
    ChainEntry,
    Checkpoint,
    Verification,
    entry_hash,
    verify_chain,
)
from governance.audit.chain_reader import verify_on_postgres
from governance.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from governance.audit.tags import check_tag
from governance.canonical import canonical_json
from governance.errors import AuditTampered
from governance.timestamps import Clock

log = logging.getLogger(__name__)

HEAD_ID = 1
_entries: Table = AuditEntry.__table__  # type: ignore[assignment]
_head: Table = AuditHead.__table__  # type: ignore[assignment]
_checkpoints: Table = AuditCheckpoint.__table__  # type: ignore[assignment]


class CheckpointSigner(Protocol):
    """What signs a checkpoint: the hub signing key (``HubSigningKey`` fits)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


@dataclass(frozen=True)
class KeySigner:
    """A private key with its key id, as a :class:`CheckpointSigner`."""

    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def __repr__(self) -> str:
        return f"KeySigner(key_id={self.key_id!r})"


@dataclass(frozen=True)
class CheckpointPolicy:
    """When the writer signs a checkpoint by itself, with which key, in whose name.

    ``signer`` is called only when a checkpoint is due; it returns None while no hub
    key exists (the entries then wait for the next checkpoint).
    """

    every_entries: int
    every_s: float
    signer: Callable[[], CheckpointSigner | None]
    actor: str = "hub"

    def due(self, *, uncovered: int, since: datetime | None, now: datetime) -> bool:
        """True when ``uncovered`` entries, the oldest reference ``since``, call for one."""
        if uncovered <= 0:
            return False
        if uncovered >= self.every_entries:
            return True
        return since is not None and (now - since).total_seconds() >= self.every_s


@dataclass(frozen=True)
class _HeadState:
    seq: int
    hash: str
    checkpoint_seq: int
    checkpoint_at: datetime | None


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
    return RecordedEntry(
        row.seq, row.at, row.tag, row.actor, row.subject, json.loads(row.details), row.hash
    )


class AuditLog:
    """Appends entries to the chain inside the caller's transaction.

    ``record`` first locks the head row (``SELECT … FOR UPDATE`` on PostgreSQL, the
    write lock on SQLite), so concurrent writers queue up and the chain never forks;
    the entry and the new head then commit or roll back with the change they record.
    """

    def __init__(
        self, session: Session, *, clock: Clock, checkpoints: CheckpointPolicy | None = None
    ) -> None:
        self.session = session
        self.clock = clock
        self.checkpoints = checkpoints
        self._signing = False

    def record(
        self, tag: str, actor: str, subject: str, details: Mapping[str, Any] | None = None
    ) -> RecordedEntry:
        check_tag(tag)
        details_json = canonical_json(dict(details or {})).decode("utf-8")
        state = self._lock_head()
        seq, prev = state.seq + 1, state.hash
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
        if self.checkpoints is not None and not self._signing:
            self._checkpoint_when_due(self.checkpoints, state, seq, at)
        return RecordedEntry(seq, at, tag, actor, subject, dict(details or {}), digest)

    def _lock_head(self) -> _HeadState:
        """Take the append lock and read the head.

        PostgreSQL: ``SELECT … FOR UPDATE`` locks the row without writing a new row
        version (so the head gets one new version per append, not two). SQLite: a no-op
        UPDATE takes the database write lock before the head is read.
        """
        columns = (_head.c.seq, _head.c.hash, _head.c.checkpoint_seq, _head.c.checkpoint_at)
        if self.session.get_bind().dialect.name == "postgresql":
            row = self.session.execute(
                select(*columns).where(_head.c.id == HEAD_ID).with_for_update()
            ).one()
        else:
            row = self.session.execute(
                update(_head)
                .where(_head.c.id == HEAD_ID)
                .values(seq=_head.c.seq)
                .returning(*columns)
            ).one()
        return _HeadState(int(row[0]), str(row[1]), int(row[2]), row[3])

    # Checkpoints -----------------------------------------------------------------

    def _uncovered_since(self, state: _HeadState) -> datetime | None:
        """When the last checkpoint was made; before any, when the oldest entry was."""
        if state.checkpoint_at is not None:
            return state.checkpoint_at
        return self.session.scalar(
            select(_entries.c.at).where(_entries.c.seq == state.checkpoint_seq + 1)
        )

    def _checkpoint_when_due(
        self, policy: CheckpointPolicy, state: _HeadState, seq: int, at: datetime
    ) -> None:
        uncovered = seq - state.checkpoint_seq
        # Every append passes here: look up the oldest uncovered entry's time only when
        # the count alone does not decide (and never once a checkpoint exists).
        since = None if uncovered >= policy.every_entries else self._uncovered_since(state)
        if not policy.due(uncovered=uncovered, since=since, now=at):
            return
        signer = policy.signer()
        if signer is None:
            log.debug("audit checkpoint due at entry %d but no hub signing key exists", seq)
            return
        self.sign_checkpoint(signer, actor=policy.actor)

    def checkpoint_if_due(self, *, actor: str | None = None) -> Checkpoint | None:
        """Sign a checkpoint if the policy says one is due (for a periodic job), else None.

        The last checkpoint's own announcement alone does not make one due, so an idle
        hub is not signed again and again.
        """
        policy = self.checkpoints
        if policy is None:
            return None
        state = self._lock_head()
        uncovered = state.seq - state.checkpoint_seq
        if uncovered == 1 and state.checkpoint_at is not None:
            only = self.session.scalar(select(_entries.c.tag).where(_entries.c.seq == state.seq))
            if only == CHECKPOINT_TAG:
                return None
        since = self._uncovered_since(state)
        if not policy.due(uncovered=uncovered, since=since, now=self.clock()):
            return None
        signer = policy.signer()
        if signer is None:
            return None
        return self.sign_checkpoint(signer, actor=actor or policy.actor)

    def checkpoint(
        self, *, signer: Ed25519PrivateKey, key_id: str, actor: str
    ) -> Checkpoint | None:
        """Sign the entries since the last checkpoint with the hub key (None: nothing new)."""
        return self.sign_checkpoint(KeySigner(key_id, signer), actor=actor)

    def sign_checkpoint(self, signer: CheckpointSigner, *, actor: str) -> Checkpoint | None:
        """Sign the entries written since the last checkpoint and announce it in the log.

        The range is verified first (links and hashes, from the last checkpoint's hash):
        a range rewritten before it was signed is refused with :class:`AuditTampered`
        rather than vouched for. None when there is nothing new to sign.
        """
        self._signing = True
        try:
            state = self._lock_head()
            last = self._last_checkpoint()
            after = (last.seq, last.hash) if last is not None else (0, GENESIS)
            if state.seq <= after[0]:
                return None
            rows = list(self._chain_rows(after[0] + 1, state.seq))
            checked = verify_chain(
                rows,
                head=(state.seq, state.hash),
                after=after,
                checkpoints=[] if last is None else [last],
            )
            if not checked.ok:
                raise AuditTampered(
                    f"refusing to sign entries {after[0] + 1}..{state.seq}: {checked.summary()}"
                )
            at = self.clock()
            unsigned = Checkpoint(
                seq=state.seq,
                hash=state.hash,
                at=at,
                key_id=signer.key_id,
                signature=b"",
                first_seq=after[0] + 1,
                hashes=b"".join(bytes.fromhex(r.hash) for r in rows),
            )
            cp = replace(unsigned, signature=signer.sign(unsigned.signed_bytes()))
            self.session.execute(
                _checkpoints.insert().values(
                    seq=cp.seq,
                    hash=cp.hash,
                    at=cp.at,
                    key_id=cp.key_id,
                    signature=cp.signature,
                    first_seq=cp.first_seq,
                    hashes=cp.hashes,
                )
            )
            self.session.execute(
                update(_head)
                .where(_head.c.id == HEAD_ID)
                .values(checkpoint_seq=cp.seq, checkpoint_at=at)
            )
            self.record(
                CHECKPOINT_TAG,
                actor,
                f"audit:{cp.seq}",
                {"first_seq": cp.first_seq, "key_id": cp.key_id, "seq": cp.seq},
            )
            log.info("signed audit checkpoint of entries %s with %s", cp.covers, cp.key_id)
            return cp
        finally:
            self._signing = False

    def _last_checkpoint(self) -> Checkpoint | None:
        row = self.session.execute(
            select(_checkpoints).order_by(_checkpoints.c.seq.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return Checkpoint(
            row.seq, row.hash, row.at, row.key_id, row.signature, row.first_seq, row.hashes
        )

    def list_checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, in order, with its hash list."""
        return [
            Checkpoint(c.seq, c.hash, c.at, c.key_id, c.signature, c.first_seq, c.hashes)
            for c in self.session.execute(select(_checkpoints).order_by(_checkpoints.c.seq))
        ]

    def _chain_rows(
        self, first: int = 1, last: int | None = None, *, batch: int = 20_000
    ) -> Iterator[ChainEntry]:
        query = select(
            _entries.c.seq,
            _entries.c.at,
            _entries.c.tag,
            _entries.c.actor,
            _entries.c.subject,
            _entries.c.details,
            _entries.c.prev_hash,
            _entries.c.hash,
        ).where(_entries.c.seq >= first)
        if last is not None:
            query = query.where(_entries.c.seq <= last)
        rows = self.session.execute(
            query.order_by(_entries.c.seq).execution_options(yield_per=batch)
        )
        for row in rows:
            yield ChainEntry(*row)

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
        before: int | None = None,
        newest_first: bool = False,
    ) -> list[RecordedEntry]:
        """Entries matching every given filter, in chain order (or newest first);
        ``before``: only entries with a smaller sequence number (for paging back)."""
        order = AuditEntry.seq.desc() if newest_first else AuditEntry.seq
        query = select(AuditEntry).order_by(order)
        if before is not None:
            query = query.where(AuditEntry.seq < before)
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

    def iter_chain(self, last: int | None = None) -> Iterator[ChainEntry]:
        """Every entry up to ``last`` as stored (with its previous hash), streamed."""
        return self._chain_rows(1, last)

    def verify(
        self,
        *,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        batch: int = 20_000,
    ) -> Verification:
        """Recompute the chain from the first entry; report the first bad one.

        On PostgreSQL the entries are streamed as raw rows and walked fast
        (:mod:`governance.audit.chain_reader`); elsewhere, and with the same result,
        they are read as entries and walked by :func:`verify_chain`.
        """
        checkpoints = self.list_checkpoints()
        head = self.head()
        if self.session.get_bind().dialect.name == "postgresql":
            fast = verify_on_postgres(
                self.session,
                head=head,
                checkpoints=checkpoints,
                public_keys=public_keys,
                batch=batch,
            )
            if fast is not None:
                return fast
        return verify_chain(
            self._chain_rows(batch=batch),
            head=head,
            checkpoints=checkpoints,
            public_keys=public_keys,
        )
