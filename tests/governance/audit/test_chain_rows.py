"""The fast walk over raw rows gives the reference walk's verdict, on any tampering."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.audit.chain import (
    CHECKPOINT_TAG,
    GENESIS,
    ChainEntry,
    Checkpoint,
    Progress,
    checkpoint_bytes,
    entry_hash,
    review_checkpoints,
    verify_chain,
)
from governance.audit.chain_rows import RawRow, accepted_prefix, chain_entry, verify_rows
from governance.canonical import canonical_json
from governance.timestamps import iso

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
KEYS = {"hub-1": KEY.public_key()}
OTHER_KEYS = {"hub-1": Ed25519PrivateKey.generate().public_key()}

# Strings JSON must escape (quotes, backslashes, control characters) and non-ASCII ones.
awkward = st.text(
    alphabet=st.sampled_from(['"', "\\", "\x00", "\t", "\n", "\x1f", "é", "€", "😀", "a", ":"]),
    max_size=6,
)
words = st.one_of(st.sampled_from(["policy:decision", "ingest", "dataset:nis", "a"]), awkward)
details = st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), words), max_size=3)


def raw(entry: ChainEntry, *, with_text: bool = True) -> RawRow:
    """The row a reader gives for ``entry`` (``with_text``: the instant as canonical text)."""
    return (
        entry.seq,
        iso(entry.at).encode() if with_text else None,
        None if with_text else entry.at,
        entry.tag.encode(),
        entry.actor.encode(),
        entry.subject.encode(),
        entry.details.encode(),
        entry.prev_hash,
        entry.hash,
    )


def build(specs: list[tuple[str, str, str, dict[str, object]]]) -> list[ChainEntry]:
    out, prev = [], GENESIS
    for i, (tag, actor, subject, det) in enumerate(specs, start=1):
        at = T0 + timedelta(seconds=i, microseconds=i * 7)
        text = canonical_json(det).decode()
        h = entry_hash(i, at, tag, actor, subject, text, prev)
        out.append(ChainEntry(i, at, tag, actor, subject, text, prev, h))
        prev = h
    return out


def sign(chain: list[ChainEntry], every: int, head_only: bool) -> list[Checkpoint]:
    """Checkpoints as the writer signs them: ranges, or (older hubs) the head only."""
    out, first = [], 1
    for end in range(every, len(chain) + 1, every):
        at = T0 + timedelta(days=1, seconds=end)
        if head_only:
            h = chain[end - 1].hash
            out.append(Checkpoint(end, h, at, "hub-1", KEY.sign(checkpoint_bytes(end, h, at))))
            continue
        hashes = b"".join(bytes.fromhex(e.hash) for e in chain[first - 1 : end])
        cp = Checkpoint(end, chain[end - 1].hash, at, "hub-1", b"", first, hashes)
        out.append(dataclasses.replace(cp, signature=KEY.sign(cp.signed_bytes())))
        first = end + 1
    return out


def rehash(entries: list[ChainEntry], k: int) -> list[ChainEntry]:
    """Entries from position ``k`` relinked and rehashed: the chain is consistent again."""
    out = list(entries[:k])
    prev = out[-1].hash if out else GENESIS
    for e in entries[k:]:
        h = entry_hash(e.seq, e.at, e.tag, e.actor, e.subject, e.details, prev)
        out.append(dataclasses.replace(e, prev_hash=prev, hash=h))
        prev = h
    return out


spec = st.tuples(words, words, words, details)
announcement = st.integers(1, 40).map(
    lambda seq: (CHECKPOINT_TAG, "hub", f"audit:{seq}", {"seq": seq})
)
specs = st.lists(st.one_of(spec, spec, spec, announcement), min_size=1, max_size=30)
KINDS = [
    "none",
    *["edit"] * 4,  # one column of one entry, any column
    "delete",
    "insert",
    "swap",
    "rewrite",
    "relink",
    "drop_checkpoint",
    "alter_hash_list",
    "truncate",
    "append",
    "head",
    "unescaped",
]


@settings(max_examples=400, deadline=None)
@given(specs, st.data())
def test_fast_and_reference_walks_agree_on_any_tampering(specs, data) -> None:
    chain = build(specs)
    every = data.draw(st.integers(1, 6))
    checkpoints = sign(chain, every, head_only=data.draw(st.booleans()))
    entries = list(chain)
    head: tuple[int, str] | None = (chain[-1].seq, chain[-1].hash)
    kind = data.draw(st.sampled_from(KINDS))
    i = data.draw(st.integers(0, len(chain) - 1))
    if kind == "edit":
        field = data.draw(
            st.sampled_from(["at", "tag", "actor", "subject", "details", "prev_hash", "hash"])
        )
        e = entries[i]
        if field == "at":
            new: object = e.at + timedelta(microseconds=data.draw(st.integers(1, 10**6)))
        elif field == "details":
            new = json.dumps({"forged": data.draw(words)})
        else:
            new = getattr(e, field) + data.draw(awkward.filter(bool))
        entries[i] = dataclasses.replace(e, **{field: new})
    elif kind == "delete":
        del entries[i]
    elif kind == "insert":
        entries.insert(i, dataclasses.replace(entries[i], actor=entries[i].actor + '"'))
    elif kind == "swap" and len(entries) > 1:
        j = (i + 1) % len(entries)
        entries[i], entries[j] = entries[j], entries[i]
    elif kind == "rewrite":  # edited and every later hash recomputed
        entries[i] = dataclasses.replace(entries[i], subject=entries[i].subject + "!")
        entries = rehash(entries, i)
        head = (entries[-1].seq, entries[-1].hash)
    elif kind == "relink":  # one entry's hash recomputed, its successor left alone
        entries[i] = dataclasses.replace(entries[i], tag=entries[i].tag + "x")
        entries[i : i + 1] = rehash(entries, i)[i : i + 1]
    elif kind == "drop_checkpoint" and checkpoints:
        del checkpoints[data.draw(st.integers(0, len(checkpoints) - 1))]
    elif kind == "alter_hash_list" and checkpoints:
        k = data.draw(st.integers(0, len(checkpoints) - 1))
        cp = checkpoints[k]
        if cp.hashes:
            checkpoints[k] = dataclasses.replace(cp, hashes=bytes(32) + cp.hashes[32:])
        else:
            checkpoints[k] = dataclasses.replace(cp, hash="f" * 64)
    elif kind == "truncate":
        entries = entries[:i]
    elif kind == "append":
        last = entries[-1]
        extra = build(specs + specs[:1])[-1]
        entries.append(dataclasses.replace(extra, prev_hash=last.hash))
    elif kind == "unescaped":  # hashed as if the strings needed no escaping
        e = dataclasses.replace(entries[i], actor=entries[i].actor + '"', tag=entries[i].tag + "\n")
        form = (
            f'{{"actor":"{e.actor}","at":"{iso(e.at)}","details":{e.details},'
            f'"prev":"{e.prev_hash}","seq":{e.seq},"subject":"{e.subject}","tag":"{e.tag}"}}'
        )
        entries[i] = dataclasses.replace(e, hash=hashlib.sha256(form.encode()).hexdigest())
        entries = entries[: i + 1] + rehash(entries, i + 1)[i + 1 :]
        head = (entries[-1].seq, entries[-1].hash)
    elif kind == "head":
        head = data.draw(st.sampled_from([None, (len(chain) + 1, chain[-1].hash), (1, "0")]))
    keys = data.draw(st.sampled_from([KEYS, None, OTHER_KEYS, {}]))
    # A few instants arrive without canonical text (years a reader cannot format).
    rows = [raw(e, with_text=data.draw(st.integers(0, 9)) > 0) for e in entries]
    start = data.draw(st.integers(0, min(3, len(chain) - 1)))
    after = (start, chain[start - 1].hash) if start else (0, GENESIS)
    if start:
        rows = [r for r in rows if r[0] > start]
        entries = [e for e in entries if e.seq > start]

    expected = verify_chain(
        entries, head=head, checkpoints=checkpoints, public_keys=keys, after=after
    )
    got = verify_rows(rows, head=head, checkpoints=checkpoints, public_keys=keys, after=after)
    assert got == expected


@given(st.lists(spec, min_size=1, max_size=30))
def test_an_intact_chain_is_accepted_by_the_fast_loop_alone(specs) -> None:
    chain = build(specs)
    evidence = review_checkpoints(sign(chain, 4, head_only=False), KEYS)
    progress, stopped = accepted_prefix(iter([raw(e) for e in chain]), evidence, Progress())
    assert stopped is None
    assert progress.seq == len(chain) and progress.hash == chain[-1].hash
    assert progress.checkpoints_verified == len(chain) // 4
    assert progress.covered_up_to == len(chain) // 4 * 4


def test_the_fast_loop_stops_at_the_first_rewritten_entry() -> None:
    chain = build([("t", "a", f"s{n}", {"n": n}) for n in range(10)])
    checkpoints = sign(chain, 5, head_only=False)
    forged = rehash([*chain[:6], dataclasses.replace(chain[6], actor="mallory"), *chain[7:]], 6)
    evidence = review_checkpoints(checkpoints, KEYS)
    progress, stopped = accepted_prefix(iter([raw(e) for e in forged]), evidence, Progress())
    assert (progress.seq, progress.checkpoints_verified, progress.covered_up_to) == (6, 1, 5)
    assert stopped is not None and stopped[0] == 7
    result = verify_rows([raw(e) for e in forged], checkpoints=checkpoints, public_keys=KEYS)
    assert (result.bad_seq, result.intact_up_to) == (7, 6)
    assert "rewritten" in (result.reason or "")


def test_strings_that_need_escaping_stay_on_the_fast_loop() -> None:
    chain = build([('ta"g', "actor\\\n", "s\x01ü😀", {"k": 'v"\\'}), ("t", "a", 'x"', {})])
    progress, stopped = accepted_prefix(
        iter([raw(e) for e in chain]), review_checkpoints([], None), Progress()
    )
    assert stopped is None and progress.seq == 2


def test_an_instant_without_canonical_text_is_left_to_the_reference_walk() -> None:
    chain = build([("t", "a", "s", {})] * 3)
    rows = [raw(chain[0]), raw(chain[1], with_text=False), raw(chain[2])]
    progress, stopped = accepted_prefix(iter(rows), review_checkpoints([], None), Progress())
    assert progress.seq == 1 and stopped == rows[1]
    assert chain_entry(rows[1]) == chain[1] and chain_entry(rows[2]) == chain[2]
    assert verify_rows(rows, head=(3, chain[2].hash)).ok
