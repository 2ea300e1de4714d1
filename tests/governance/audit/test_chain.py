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
