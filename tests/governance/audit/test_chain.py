"""The pure hash chain: any single edit, deletion, insertion or reordering is detected."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.audit.chain import (
    GENESIS,
    ChainEntry,
    Checkpoint,
    canonical_entry,
    checkpoint_bytes,
    entry_hash,
    verify_chain,
)
from governance.canonical import canonical_json
from governance.timestamps import iso

T0 = datetime(2026, 1, 1, tzinfo=UTC)
text = st.text(max_size=12)
details = st.dictionaries(
    st.text(max_size=5), st.one_of(st.integers(), text, st.booleans()), max_size=3
)


def build(raw):
    out, prev = [], GENESIS
    for i, (tag, actor, subject, det) in enumerate(raw, start=1):
        at = T0 + timedelta(seconds=i, microseconds=i)
        d = canonical_json(det).decode()
        h = entry_hash(i, at, tag, actor, subject, d, prev)
        out.append(ChainEntry(i, at, tag, actor, subject, d, prev, h))
        prev = h
    return out


chains = st.lists(st.tuples(text, text, text, details), min_size=2, max_size=25).map(build)


@given(st.integers(min_value=1, max_value=10**9), text, text, text, details)
def test_fast_canonical_form_equals_canonical_json(seq, tag, actor, subject, det) -> None:
    at = T0 + timedelta(microseconds=seq)
    d = canonical_json(det).decode()
    expected = canonical_json(
        {
            "actor": actor,
            "at": iso(at),
            "details": det,
            "prev": GENESIS,
            "seq": seq,
            "subject": subject,
            "tag": tag,
        }
    )
    assert canonical_entry(seq, at, tag, actor, subject, d, GENESIS) == expected


@given(chains)
def test_intact_chain_verifies(chain) -> None:
    result = verify_chain(chain, head=(chain[-1].seq, chain[-1].hash))
    assert result.ok and result.intact_up_to == len(chain)


@given(chains, st.data())
@settings(max_examples=150)
def test_any_single_tampering_is_detected(chain, data) -> None:
    kind = data.draw(st.sampled_from(["edit", "delete", "insert", "swap", "relink"]))
    i = data.draw(st.integers(0, len(chain) - 1))
    tampered = list(chain)
    if kind == "edit":
        field = data.draw(st.sampled_from(["tag", "actor", "subject", "details", "at"]))
        old = getattr(chain[i], field)
        if field == "details":
            new = json.dumps({"forged": old})
        elif field == "at":
            new = old + timedelta(microseconds=1)
        else:
            new = old + "x"
        tampered[i] = dataclasses.replace(chain[i], **{field: new})
    elif kind == "delete":
        del tampered[i]
    elif kind == "insert":
        forged = dataclasses.replace(chain[i], actor=chain[i].actor + "!")
        tampered.insert(i, forged)
    elif kind == "swap":
        j = (i + 1) % len(chain)
        tampered[i], tampered[j] = tampered[j], tampered[i]
    else:  # an attacker recomputes one entry's hash so its content check passes
        e = dataclasses.replace(chain[i], subject=chain[i].subject + "y")
        e = dataclasses.replace(
            e, hash=entry_hash(e.seq, e.at, e.tag, e.actor, e.subject, e.details, e.prev_hash)
        )
        tampered[i] = e
    head = (chain[-1].seq, chain[-1].hash)
    result = verify_chain(tampered, head=head)
    assert not result.ok
    assert result.bad_seq is not None and result.bad_seq <= len(chain) + 1
    assert result.intact_up_to < len(chain)
    # Everything before the first bad entry is reported intact.
    assert result.intact_up_to == result.bad_seq - 1


def test_report_names_the_first_bad_entry() -> None:
    chain = build([("t", "a", "s", {"n": n}) for n in range(10)])
    chain[6] = dataclasses.replace(chain[6], actor="mallory")
    result = verify_chain(chain, head=(10, chain[-1].hash))
    assert (result.intact_up_to, result.bad_seq) == (6, 7)
    assert "edited" in (result.reason or "")
    assert "first bad entry 7" in result.summary()


def test_truncation_at_the_end_is_caught_by_the_head() -> None:
    chain = build([("t", "a", "s", {})] * 5)
    result = verify_chain(chain[:3], head=(5, chain[-1].hash))
    assert not result.ok and result.bad_seq == 4


def test_signed_checkpoints_are_verified() -> None:
    chain = build([("t", "a", "s", {})] * 5)
    key = Ed25519PrivateKey.generate()
    at = T0 + timedelta(days=1)
    good = Checkpoint(
        3, chain[2].hash, at, "hub-1", key.sign(checkpoint_bytes(3, chain[2].hash, at))
    )
    keys = {"hub-1": key.public_key()}
    assert verify_chain(chain, checkpoints=[good], public_keys=keys).checkpoints_verified == 1
    forged = dataclasses.replace(good, signature=Ed25519PrivateKey.generate().sign(b"x"))
    assert "invalid signature" in (
        verify_chain(chain, checkpoints=[forged], public_keys=keys).reason or ""
    )
    # An attacker who rewrites the whole suffix consistently is still caught by the checkpoint.
    rewritten = build([("t", "a", "s", {})] * 2 + [("t", "evil", "s", {})] * 3)
    assert not verify_chain(rewritten, checkpoints=[good], public_keys=keys).ok


# Range checkpoints -------------------------------------------------------------------

KEY = Ed25519PrivateKey.generate()
KEYS = {"hub-1": KEY.public_key()}


def sign_ranges(chain, every: int, key=KEY, key_id: str = "hub-1") -> list[Checkpoint]:
    """Checkpoints of entries 1..every, every+1..2*every, … as the writer signs them."""
    out, first = [], 1
    for end in range(every, len(chain) + 1, every):
        hashes = b"".join(bytes.fromhex(e.hash) for e in chain[first - 1 : end])
        at = T0 + timedelta(days=1, seconds=end)
        cp = Checkpoint(end, chain[end - 1].hash, at, key_id, b"", first, hashes)
        out.append(dataclasses.replace(cp, signature=key.sign(cp.signed_bytes())))
        first = end + 1
    return out


def rewrite(chain, k: int, **changes):
    """Entry ``k`` edited and every later hash (and link) recomputed: a consistent chain."""
    out, prev = list(chain[: k - 1]), chain[k - 2].hash if k > 1 else GENESIS
    for e in chain[k - 1 :]:
        if e.seq == k:
            e = dataclasses.replace(e, **changes)
        h = entry_hash(e.seq, e.at, e.tag, e.actor, e.subject, e.details, prev)
        out.append(dataclasses.replace(e, prev_hash=prev, hash=h))
        prev = h
    return out


@given(chains, st.integers(1, 5), st.data())
@settings(max_examples=150)
def test_a_rewritten_entry_is_named_even_with_later_hashes_recomputed(chain, every, data) -> None:
    checkpoints = sign_ranges(chain, every)
    k = data.draw(st.integers(1, len(chain)))
    forged = rewrite(chain, k, actor=chain[k - 1].actor + "!")
    # The chain alone is consistent again: only the signed hash lists can tell.
    assert verify_chain(forged, head=(forged[-1].seq, forged[-1].hash)).ok
    result = verify_chain(
        forged, head=(forged[-1].seq, forged[-1].hash), checkpoints=checkpoints, public_keys=KEYS
    )
    covered = checkpoints[-1].seq if checkpoints else 0
    if k <= covered:
        assert not result.ok
        assert result.bad_seq == k, result.summary()
        assert result.intact_up_to == k - 1
        assert "rewritten" in (result.reason or "")
    else:  # after the last checkpoint nothing but the chain vouches for the entries
        assert result.ok and result.uncovered == len(chain) - covered


def test_intact_chain_with_range_checkpoints_reports_coverage() -> None:
    chain = build([("t", "a", "s", {"n": n}) for n in range(10)])
    result = verify_chain(
        chain, head=(10, chain[-1].hash), checkpoints=sign_ranges(chain, 4), public_keys=KEYS
    )
    assert result.ok and result.checkpoints_verified == 2
    assert (result.covered_up_to, result.uncovered) == (8, 2)
    assert "2 entries after the last checkpoint (at 8) are not yet covered" in result.summary()


def test_a_deleted_checkpoint_is_reported() -> None:
    chain = build([("t", "a", "s", {"n": n}) for n in range(12)])
    cps = sign_ranges(chain, 3)
    result = verify_chain(chain, checkpoints=cps[:1] + cps[2:], public_keys=KEYS)
    assert not result.ok and result.bad_seq == 4
    assert "no signed checkpoint covers entries 4..6" in (result.reason or "")


def test_an_altered_hash_list_is_an_invalid_signature() -> None:
    chain = build([("t", "a", "s", {"n": n}) for n in range(6)])
    cps = sign_ranges(chain, 3)
    forged_chain = rewrite(chain, 2, actor="mallory")
    hashes = b"".join(bytes.fromhex(e.hash) for e in forged_chain[:3])
    cps[0] = dataclasses.replace(cps[0], hashes=hashes, hash=forged_chain[2].hash)
    result = verify_chain(forged_chain, checkpoints=cps, public_keys=KEYS)
    assert not result.ok and result.bad_seq == 3
    assert "invalid signature" in (result.reason or "")
    assert result.intact_up_to == 0  # nothing in 1..3 is vouched for any more


def test_truncation_of_covered_entries_is_caught_even_with_the_head_moved() -> None:
    chain = build([("t", "a", "s", {"n": n}) for n in range(8)])
    cps = sign_ranges(chain, 4)
    result = verify_chain(chain[:6], head=(6, chain[5].hash), checkpoints=cps, public_keys=KEYS)
    assert not result.ok and result.bad_seq == 7
    assert "points past the end" in (result.reason or "")


def test_an_announced_checkpoint_that_is_missing_is_reported() -> None:
    raw: list[tuple[str, str, str, dict[str, object]]] = [
        ("t", "a", "s", {"n": n}) for n in range(4)
    ]
    raw.append(
        ("audit:checkpoint", "hub", "audit:4", {"first_seq": 1, "key_id": "hub-1", "seq": 4})
    )
    raw.append(("t", "a", "s", {}))
    chain = build(raw)
    assert verify_chain(chain, checkpoints=sign_ranges(chain[:4], 4), public_keys=KEYS).ok
    result = verify_chain(chain, checkpoints=[], public_keys=KEYS)
    assert not result.ok and result.bad_seq == 5
    assert "checkpoint at 4, which is missing" in (result.reason or "")
