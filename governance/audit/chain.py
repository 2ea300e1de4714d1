"""The hash chain, as pure functions over entries (no database).

An entry's canonical form is the canonical JSON object (see :mod:`governance.canonical`)
``{"actor", "at", "details", "prev", "seq", "subject", "tag"}`` where ``at`` is the
instant in UTC with microseconds and ``details`` the entry's details object. Its hash is
the SHA-256 of those bytes, in hex; ``prev`` is the previous entry's hash (64 zeros for
the first entry, sequence number 1). Checkpoints sign ``{"at", "hash", "seq"}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.canonical import canonical_json
from governance.timestamps import iso

GENESIS = "0" * 64
#: Characters JSON must escape; other strings are written between quotes as they are.
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


@dataclass(frozen=True)
class ChainEntry:
    """One audit entry as stored; ``details`` is its canonical JSON text."""

    seq: int
    at: datetime
    tag: str
    actor: str
    subject: str
    details: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: bytes


@dataclass(frozen=True)
class Verification:
    """``intact_up_to`` entries verified; ``bad_seq``/``reason`` name the first problem."""

    intact_up_to: int
    checked: int
    bad_seq: int | None = None
    reason: str | None = None
    checkpoints_verified: int = 0

    @property
    def ok(self) -> bool:
        return self.reason is None

    def summary(self) -> str:
        if self.ok:
            return (
                f"intact up to {self.intact_up_to} "
                f"({self.checkpoints_verified} signed checkpoints verified)"
            )
        return f"intact up to {self.intact_up_to}; first bad entry {self.bad_seq}: {self.reason}"


def canonical_entry(
    seq: int, at: datetime, tag: str, actor: str, subject: str, details: str, prev_hash: str
) -> bytes:
    """The canonical bytes of an entry; ``details`` is already canonical JSON text.

    Built by concatenation for speed; equal to ``canonical_json`` of the entry object
    (a property test keeps the two identical).
    """

    def s(value: str) -> str:
        if _NEEDS_ESCAPE.search(value) is None:
            return f'"{value}"'
        return json.dumps(value, ensure_ascii=False)

    text = (
        f'{{"actor":{s(actor)},"at":"{iso(at)}","details":{details},"prev":{s(prev_hash)},'
        f'"seq":{seq},"subject":{s(subject)},"tag":{s(tag)}}}'
    )
    return text.encode("utf-8")


def entry_hash(
    seq: int, at: datetime, tag: str, actor: str, subject: str, details: str, prev_hash: str
) -> str:
    return hashlib.sha256(
        canonical_entry(seq, at, tag, actor, subject, details, prev_hash)
    ).hexdigest()


def checkpoint_bytes(seq: int, hash_: str, at: datetime) -> bytes:
    return canonical_json({"at": iso(at), "hash": hash_, "seq": seq})


def verify_chain(
    entries: Iterable[ChainEntry],
    *,
    head: tuple[int, str] | None = None,
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
) -> Verification:
    """Walk the chain in sequence order and report the first entry that does not verify.

    ``head`` is the (sequence, hash) the log says it ended at; entries missing at the
    end, or beyond it, are reported. Checkpoints are checked against the entries and,
    when ``public_keys`` is given, their signatures against the hub key that made them.
    """
    pending = sorted(checkpoints, key=lambda c: c.seq)
    cp_index = 0
    cp_ok = 0
    expected_seq = 1
    prev = GENESIS
    last_good = 0

    def bad(seq: int, reason: str) -> Verification:
        return Verification(last_good, expected_seq - 1, seq, reason, cp_ok)

    for entry in entries:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                return bad(expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
            return bad(entry.seq, f"entry {entry.seq} is out of order (expected {expected_seq})")
        if entry.prev_hash != prev:
            return bad(entry.seq, "its previous-hash link does not match the entry before it")
        computed = entry_hash(
            entry.seq, entry.at, entry.tag, entry.actor, entry.subject, entry.details, prev
        )
        if computed != entry.hash:
            return bad(entry.seq, "its content does not match its hash (edited)")
        while cp_index < len(pending) and pending[cp_index].seq == entry.seq:
            cp = pending[cp_index]
            if cp.hash != entry.hash:
                return bad(entry.seq, f"signed checkpoint at {cp.seq} names another hash")
            if public_keys is not None:
                key = public_keys.get(cp.key_id)
                if key is None:
                    return bad(entry.seq, f"checkpoint at {cp.seq} signed by unknown {cp.key_id}")
                try:
                    key.verify(cp.signature, checkpoint_bytes(cp.seq, cp.hash, cp.at))
                except InvalidSignature:
                    return bad(entry.seq, f"checkpoint at {cp.seq} has an invalid signature")
            cp_ok += 1
            cp_index += 1
        prev = entry.hash
        last_good = entry.seq
        expected_seq += 1
    if cp_index < len(pending):
        missing = pending[cp_index].seq
        return bad(missing, f"signed checkpoint at {missing} points past the end of the chain")
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last_good:
            return bad(last_good + 1, f"entries {last_good + 1}..{head_seq} are missing")
        if head_seq < last_good:
            return bad(head_seq + 1, f"entries after the recorded head {head_seq} were inserted")
        if head_seq and head_hash != prev:
            return Verification(
                last_good - 1,
                last_good,
                head_seq,
                "the last entry does not match the recorded head hash (edited)",
                cp_ok,
            )
    return Verification(last_good, last_good, None, None, cp_ok)
