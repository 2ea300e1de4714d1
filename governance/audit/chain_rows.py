"""The chain walked fast over raw rows, with the same verdict as :func:`verify_chain`.

A :data:`RawRow` is an entry as the database stores it: the text columns still UTF-8
bytes, and the instant already in its canonical text (``at_text``, what
:func:`~governance.timestamps.iso` gives) when the reader could produce it exactly;
otherwise ``at_text`` is None and ``at`` holds the instant.

:func:`verify_rows` accepts entries in a tight loop as long as every check of the
reference walk passes: the sequence number follows, the link matches, the hash of the
canonical bytes matches (built here with one bytes format when no string needs JSON
escaping, else with :func:`~governance.audit.chain.canonical_text`), the covering
checkpoint's signed hash matches, and an announced checkpoint exists. It stops, without
judging, at the first entry where anything else holds: a failed check, a checkpoint
problem reported at that position, an instant without canonical text. That entry and
the rest go to :func:`~governance.audit.chain.walk_chain`, which continues from the
same progress and names the problem; so the result is the reference walk's by
construction, and a property test compares the two on tampered chains.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from itertools import chain
from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.audit.chain import (
    CHECKPOINT_TAG,
    GENESIS,
    ChainEntry,
    Checkpoint,
    CheckpointEvidence,
    Progress,
    Verification,
    announced_checkpoint,
    canonical_text,
    review_checkpoints,
    walk_chain,
)

#: seq, at_text, at, tag, actor, subject, details, prev_hash, hash.
RawRow = tuple[int, bytes | None, datetime | None, bytes, bytes, bytes, bytes, str, str]

#: The canonical form when no string needs escaping: each string between quotes as it is.
_PLAIN_FORM = (
    b'{"actor":"%s","at":"%s","details":%s,"prev":"%s","seq":%d,"subject":"%s","tag":"%s"}'
)
#: What JSON must escape, on UTF-8 bytes (whose ASCII bytes are exactly ASCII characters).
_NEEDS_ESCAPE = re.compile(rb'[\x00-\x1f"\\]')
_CHECKPOINT_TAG = CHECKPOINT_TAG.encode()
#: Past any sequence number a bigint can hold.
_BEYOND = 1 << 64
#: Tags and actors repeat: remember up to this many that need no escaping.
_PLAIN_MEMORY = 4096
#: Hex characters of one hash.
_HEX = 64


def verify_rows(
    rows: Iterable[RawRow],
    *,
    head: tuple[int, str] | None = None,
    checkpoints: Iterable[Checkpoint] = (),
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    after: tuple[int, str] = (0, GENESIS),
) -> Verification:
    """:func:`~governance.audit.chain.verify_chain` over raw rows in sequence order."""
    evidence = review_checkpoints(checkpoints, public_keys)
    remaining = iter(rows)
    progress, stopped = accepted_prefix(remaining, evidence, Progress(after[0], after[1]))
    rest: Iterable[RawRow] = () if stopped is None else chain((stopped,), remaining)
    return walk_chain(map(chain_entry, rest), evidence, head=head, start=progress)


def chain_entry(row: RawRow) -> ChainEntry:
    """The entry of a raw row, as the reference walk takes it."""
    seq, at_text, at, tag, actor, subject, details, prev_hash, hash_ = row
    when = at if at_text is None else datetime.fromisoformat(at_text.decode())
    return ChainEntry(
        seq,
        cast(datetime, when),
        tag.decode(),
        actor.decode(),
        subject.decode(),
        details.decode(),
        prev_hash,
        hash_,
    )


def accepted_prefix(
    rows: Iterator[RawRow], evidence: CheckpointEvidence, start: Progress
) -> tuple[Progress, RawRow | None]:
    """Accept rows while the reference walk would; the progress, and the row it stopped at
    (None when the rows ran out)."""
    expected = start.seq + 1
    prev = start.hash
    prev_bytes = prev.encode()
    cp_ok, covered = start.checkpoints_verified, start.covered_up_to
    if _NEEDS_ESCAPE.search(prev_bytes) is not None:
        return start, next(rows, None)
    # The walk reports a checkpoint problem on reaching its position: stop there.
    stop_at = min((seq for seq in evidence.problems if seq >= expected), default=_BEYOND)
    positions = evidence.positions
    trusted = evidence.trusted
    # The covering checkpoint: the first trusted one at or after the next entry, with
    # the range it signs and its hashes in hex.
    cp_index, first, end, signed = _covering(trusted, 0, expected)
    plain: set[bytes] = set()
    # Locals, not globals, in the loop that runs once an entry.
    sha256 = hashlib.sha256
    needs_escape = _NEEDS_ESCAPE.search
    plain_form = _PLAIN_FORM
    checkpoint_tag = _CHECKPOINT_TAG
    hex_chars = _HEX
    for row in rows:
        seq, at_text, _, tag, actor, subject, details, prev_hash, hash_ = row
        if seq != expected or prev_hash != prev or at_text is None or seq == stop_at:
            return Progress(expected - 1, prev, cp_ok, covered), row
        if tag in plain and actor in plain and needs_escape(subject) is None:
            canonical = plain_form % (actor, at_text, details, prev_bytes, seq, subject, tag)
        else:
            canonical = _canonical(row, prev, prev_bytes, plain)
        computed = sha256(canonical).hexdigest()
        if computed != hash_:
            return Progress(expected - 1, prev, cp_ok, covered), row
        if seq >= first and not signed.startswith(computed, (seq - first) * hex_chars):
            return Progress(expected - 1, prev, cp_ok, covered), row
        if tag == checkpoint_tag:
            announced = announced_checkpoint(CHECKPOINT_TAG, details.decode())
            if announced is not None and announced not in positions and announced < seq:
                return Progress(expected - 1, prev, cp_ok, covered), row
        if seq == end:
            cp_ok += 1
            covered = seq
            cp_index, first, end, signed = _covering(trusted, cp_index + 1, seq + 1)
        prev = hash_
        prev_bytes = computed.encode()
        expected += 1
    return Progress(expected - 1, prev, cp_ok, covered), None


def _covering(trusted: tuple[Checkpoint, ...], index: int, seq: int) -> tuple[int, int, int, str]:
    """From ``index`` on, the first trusted checkpoint at or after entry ``seq``: its index,
    the first and last entry it signs, and their signed hashes in hex (``seq - first``
    hashes in; a hash the comparison cannot match when it is not 64 characters)."""
    while index < len(trusted) and trusted[index].seq < seq:
        index += 1
    if index == len(trusted):
        return index, _BEYOND, _BEYOND, ""
    cp = trusted[index]
    if cp.first_seq is None or cp.hashes is None:
        return index, cp.seq, cp.seq, cp.hash if len(cp.hash) == _HEX else ""
    return index, cp.first_seq, cp.seq, cp.hashes.hex()


def _canonical(row: RawRow, prev: str, prev_bytes: bytes, plain: set[bytes]) -> bytes:
    """The canonical bytes of a row whose tag or actor is not yet known to need no
    escaping, or whose subject needs it."""
    seq, at_text, _, tag, actor, subject, details, _, _ = row
    if _NEEDS_ESCAPE.search(tag) is None and _NEEDS_ESCAPE.search(actor) is None:
        if len(plain) < _PLAIN_MEMORY:
            plain.update((tag, actor))
        if _NEEDS_ESCAPE.search(subject) is None:
            return _PLAIN_FORM % (actor, at_text, details, prev_bytes, seq, subject, tag)
    text = canonical_text(
        seq,
        cast(bytes, at_text).decode(),
        tag.decode(),
        actor.decode(),
        subject.decode(),
        details.decode(),
        prev,
    )
    return text.encode("utf-8")
