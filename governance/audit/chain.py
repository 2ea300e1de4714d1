"""The hash chain and its signed checkpoints, as pure functions over entries (no database).

**Entries.** An entry's canonical form is the canonical JSON object (see
:mod:`governance.canonical`) ``{"actor", "at", "details", "prev", "seq", "subject", "tag"}``
where ``at`` is the instant in UTC with microseconds and ``details`` the entry's details
object. Its hash is the SHA-256 of those bytes, in hex; ``prev`` is the previous entry's
hash (64 zeros for the first entry, sequence number 1). The chain alone detects an entry
edited in place, deleted, inserted or reordered, but not an insider who edits entry *k*
and recomputes every later hash (and the head): the chain is then consistent again.

**Checkpoints** are the signed evidence against that. A checkpoint covers the range of
entries ``first_seq..seq`` written since the previous checkpoint and stores the list of
their hashes; the hub signs the canonical JSON ``{"at", "first", "hash", "hashes", "seq"}``
where ``hash`` is entry ``seq``'s hash and ``hashes`` the SHA-256 (hex) of the
concatenated 32-byte hashes of entries ``first..seq``. Verification checks the list
against the signed digest, then compares every entry's *recomputed* hash with the hash
the signed list gives for it: the first entry that differs is the first rewritten one,
named exactly even when every later hash was recomputed. Consecutive checkpoints must
tile the chain (``first`` = previous ``seq`` + 1), so a deleted checkpoint in the middle
is reported; a checkpoint beyond the last entry reports a truncated chain; an
``audit:checkpoint`` entry whose checkpoint is missing reports a deleted checkpoint.
(A flat list rather than a Merkle tree: verification reads every entry anyway, and a
list names the entry directly; at 32 bytes an entry it costs about 3 % of the log.)

Checkpoints made before ranges existed (``first_seq`` is None) signed
``{"at", "hash", "seq"}`` and still verify; they vouch for entry ``seq`` only.

**What cannot be detected.** Entries after the last checkpoint are vouched for by
nothing but the chain itself: someone who can write the tables can rewrite or drop them
(and the head) without trace, and can drop the last checkpoints together with the
entries they cover. The automatic checkpoint policy (every N entries and every interval)
bounds that window; :attr:`Verification.uncovered` reports its size. Signatures prove
something only against a hub public key obtained from somewhere the insider cannot write.
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
HASH_BYTES = 32
#: The tag of the entry that announces a checkpoint (details name its ``seq``).
CHECKPOINT_TAG = "audit:checkpoint"
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
    """A signed checkpoint: entries ``first_seq..seq`` with their hashes (32 bytes each,
    concatenated). ``first_seq`` and ``hashes`` are None for a checkpoint of the head only."""

    seq: int
    hash: str
    at: datetime
    key_id: str
    signature: bytes
    first_seq: int | None = None
    hashes: bytes | None = None

    def signed_bytes(self) -> bytes:
        if self.first_seq is None or self.hashes is None:
            return checkpoint_bytes(self.seq, self.hash, self.at)
        return range_checkpoint_bytes(self.first_seq, self.seq, self.hash, self.hashes, self.at)

    def signed_hash(self, seq: int) -> str | None:
        """The hash this checkpoint vouches for entry ``seq``, if it covers it."""
        if self.first_seq is None or self.hashes is None:
            return self.hash if seq == self.seq else None
        if not self.first_seq <= seq <= self.seq:
            return None
        start = (seq - self.first_seq) * HASH_BYTES
        return self.hashes[start : start + HASH_BYTES].hex()

    @property
    def covers(self) -> str:
        first = self.seq if self.first_seq is None else self.first_seq
        return f"{first}..{self.seq}"


@dataclass(frozen=True)
class Verification:
    """``intact_up_to`` entries verified; ``bad_seq``/``reason`` name the first problem.

    ``covered_up_to`` is the last entry a verified checkpoint vouches for; the
    ``uncovered`` entries after it rest on the chain alone. ``signatures_checked`` is
    False when no public keys were given (checkpoints were then only compared).
    """

    intact_up_to: int
    checked: int
    bad_seq: int | None = None
    reason: str | None = None
    checkpoints_verified: int = 0
    covered_up_to: int = 0
    signatures_checked: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def uncovered(self) -> int:
        return max(self.intact_up_to - self.covered_up_to, 0)

    def summary(self) -> str:
        if self.ok:
            text = (
                f"intact up to {self.intact_up_to} "
                f"({self.checkpoints_verified} signed checkpoints verified)"
            )
            if not self.signatures_checked and self.checkpoints_verified:
                text += "; signatures not checked (no hub key given)"
            if self.uncovered:
                text += (
                    f"; {self.uncovered} entries after the last checkpoint "
                    f"(at {self.covered_up_to}) are not yet covered by a signature"
                )
            return text
        return f"intact up to {self.intact_up_to}; first bad entry {self.bad_seq}: {self.reason}"


def canonical_entry(
    seq: int, at: datetime, tag: str, actor: str, subject: str, details: str, prev_hash: str
) -> bytes:
    """The canonical bytes of an entry; ``details`` is already canonical JSON text.

    Built by concatenation for speed; equal to ``canonical_json`` of the entry object
    (a property test keeps the two identical).
    """
    return canonical_text(seq, iso(at), tag, actor, subject, details, prev_hash).encode("utf-8")


def canonical_text(
    seq: int, at: str, tag: str, actor: str, subject: str, details: str, prev_hash: str
) -> str:
    """:func:`canonical_entry` as text, for an instant already in its canonical text ``at``."""

    def s(value: str) -> str:
        if _NEEDS_ESCAPE.search(value) is None:
            return f'"{value}"'
        return json.dumps(value, ensure_ascii=False)

    return (
        f'{{"actor":{s(actor)},"at":"{at}","details":{details},"prev":{s(prev_hash)},'
        f'"seq":{seq},"subject":{s(subject)},"tag":{s(tag)}}}'
    )


def entry_hash(
    seq: int, at: datetime, tag: str, actor: str, subject: str, details: str, prev_hash: str
) -> str:
    return hashlib.sha256(
        canonical_entry(seq, at, tag, actor, subject, details, prev_hash)
    ).hexdigest()


def checkpoint_bytes(seq: int, hash_: str, at: datetime) -> bytes:
    """What a head-only checkpoint (made before ranges existed) signs."""
    return canonical_json({"at": iso(at), "hash": hash_, "seq": seq})


def range_checkpoint_bytes(
    first_seq: int, seq: int, hash_: str, hashes: bytes, at: datetime
) -> bytes:
    """What a checkpoint of entries ``first_seq..seq`` signs."""
    return canonical_json(
        {
            "at": iso(at),
            "first": first_seq,
            "hash": hash_,
            "hashes": hashlib.sha256(hashes).hexdigest(),
            "seq": seq,
        }
    )


def _checkpoint_problem(
    cp: Checkpoint, covered_to: int, public_keys: Mapping[str, Ed25519PublicKey] | None
) -> str | None:
    """Why ``cp`` cannot be trusted as evidence, or None."""
    if cp.first_seq is not None:
        if cp.hashes is None or len(cp.hashes) != (cp.seq - cp.first_seq + 1) * HASH_BYTES:
            return f"signed checkpoint at {cp.seq} has a hash list of the wrong length"
        if cp.first_seq <= covered_to:
            return f"signed checkpoint at {cp.seq} overlaps the previous one (from {cp.first_seq})"
        if cp.hashes[-HASH_BYTES:].hex() != cp.hash:
            return f"signed checkpoint at {cp.seq} lists another hash for its last entry"
    if public_keys is not None:
        key = public_keys.get(cp.key_id)
        if key is None:
            return f"checkpoint at {cp.seq} signed by unknown key {cp.key_id}"
        try:
            key.verify(cp.signature, cp.signed_bytes())
        except InvalidSignature:
            return (
                f"checkpoint at {cp.seq} (entries {cp.covers}) has an invalid signature "
                "(its hash list or signature was altered)"
            )
    return None


@dataclass(frozen=True)
class CheckpointEvidence:
    """The checkpoints as a walk uses them: those ``trusted`` as evidence (in order), the
    ``problems`` of the others keyed by the entry at which the walk reports them (with
    the entry up to which the chain stays intact), and the positions of all of them."""

    trusted: tuple[Checkpoint, ...]
    problems: Mapping[int, tuple[str, int]]
    positions: frozenset[int]
    signatures_checked: bool


def review_checkpoints(
    checkpoints: Iterable[Checkpoint], public_keys: Mapping[str, Ed25519PublicKey] | None
) -> CheckpointEvidence:
    """Check each checkpoint once (tiling, hash list, signature) before a walk."""
    ordered = sorted(checkpoints, key=lambda c: c.seq)
    # Checkpoint problems are reported when the walk reaches their position.
    problems: dict[int, tuple[str, int]] = {}
    trusted: list[Checkpoint] = []
    covered_to = 0
    for cp in ordered:
        if cp.first_seq is not None and cp.first_seq > covered_to + 1:
            gap = (covered_to + 1, cp.first_seq - 1)
            problems.setdefault(
                gap[0],
                (
                    f"no signed checkpoint covers entries {gap[0]}..{gap[1]} "
                    "(a checkpoint was deleted)",
                    gap[0] - 1,
                ),
            )
        problem = _checkpoint_problem(cp, covered_to, public_keys)
        if problem is not None:
            first = cp.seq if cp.first_seq is None else min(cp.first_seq, cp.seq)
            problems.setdefault(cp.seq, (problem, max(first - 1, 0)))
        else:
            trusted.append(cp)
        covered_to = max(covered_to, cp.seq)
    return CheckpointEvidence(
        tuple(trusted), problems, frozenset(cp.seq for cp in ordered), public_keys is not None
    )


@dataclass(frozen=True)
class Progress:
    """Where a walk stands: entries up to ``seq`` verified, ``hash`` the last one's hash,
    with the checkpoints verified on the way and the last entry they vouch for."""

    seq: int = 0
    hash: str = GENESIS
    checkpoints_verified: int = 0
    covered_up_to: int = 0


def verify_chain(
    entries: Iterable[ChainEntry],
    *,
    head: tuple[int, str] | None = None,
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    after: tuple[int, str] = (0, GENESIS),
) -> Verification:
    """Walk the chain in sequence order and report the first entry that does not verify.

    ``after`` starts the walk behind an entry already trusted (its sequence and hash),
    to check only the entries written since.

    ``head`` is the (sequence, hash) the log says it ended at; entries missing at the
    end, or beyond it, are reported. Every entry's recomputed hash is compared with the
    hash a checkpoint vouches for; when ``public_keys`` is given, each checkpoint's
    signature is checked against the hub key that made it (else checkpoints are only
    compared, which proves consistency, not authenticity).
    """
    return walk_chain(
        entries,
        review_checkpoints(checkpoints, public_keys),
        head=head,
        start=Progress(after[0], after[1]),
    )


def walk_chain(
    entries: Iterable[ChainEntry],
    evidence: CheckpointEvidence,
    *,
    head: tuple[int, str] | None,
    start: Progress,
) -> Verification:
    """:func:`verify_chain` from ``start`` on, with the checkpoints already reviewed."""
    trusted = evidence.trusted
    problems = evidence.problems
    cp_index = 0
    cp_ok = start.checkpoints_verified
    covered_up_to = start.covered_up_to
    expected_seq = start.seq + 1
    prev = start.hash
    last_good = start.seq

    def bad(seq: int, reason: str, intact: int | None = None) -> Verification:
        return Verification(
            last_good if intact is None else min(intact, last_good),
            expected_seq - 1,
            seq,
            reason,
            cp_ok,
            min(covered_up_to, last_good),
            evidence.signatures_checked,
        )

    for entry in entries:
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                return bad(expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
            return bad(entry.seq, f"entry {entry.seq} is out of order (expected {expected_seq})")
        while cp_index < len(trusted) and trusted[cp_index].seq < entry.seq:
            cp_index += 1
        covering = trusted[cp_index] if cp_index < len(trusted) else None
        signed = covering.signed_hash(entry.seq) if covering is not None else None
        if entry.prev_hash != prev:
            return bad(entry.seq, "its previous-hash link does not match the entry before it")
        computed = entry_hash(
            entry.seq, entry.at, entry.tag, entry.actor, entry.subject, entry.details, prev
        )
        if computed != entry.hash:
            return bad(entry.seq, "its content does not match its hash (edited)")
        if signed is not None and signed != computed and covering is not None:
            if covering.first_seq is None:
                return bad(entry.seq, f"signed checkpoint at {covering.seq} names another hash")
            return bad(
                entry.seq,
                "it was rewritten: its hash differs from the one signed checkpoint at "
                f"{covering.seq} vouches for (entries {covering.covers}; later hashes were "
                "recomputed)",
            )
        if entry.seq in problems:
            reason, intact = problems[entry.seq]
            return bad(entry.seq, reason, intact)
        announced = announced_checkpoint(entry.tag, entry.details)
        if announced is not None and announced not in evidence.positions and announced < entry.seq:
            return bad(
                entry.seq,
                f"it announces a signed checkpoint at {announced}, which is missing (deleted)",
            )
        if covering is not None and covering.seq == entry.seq:
            cp_ok += 1
            covered_up_to = entry.seq
            cp_index += 1
        prev = entry.hash
        last_good = entry.seq
        expected_seq += 1
    beyond = [seq for seq in evidence.positions if seq > last_good]
    if beyond:
        return bad(
            last_good + 1,
            f"signed checkpoint at {min(beyond)} points past the end of the chain "
            f"(entries {last_good + 1}..{min(beyond)} are missing)",
        )
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
                min(covered_up_to, last_good - 1),
                evidence.signatures_checked,
            )
    return Verification(
        last_good, last_good, None, None, cp_ok, covered_up_to, evidence.signatures_checked
    )


def announced_checkpoint(tag: str, details: str) -> int | None:
    """The checkpoint position an ``audit:checkpoint`` entry announces, if any."""
    if tag != CHECKPOINT_TAG:
        return None
    try:
        seq = json.loads(details).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None
