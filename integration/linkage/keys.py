"""Stable person keys: random, never derived from tokens, kept by the same person.

Each run's components are matched to the keys of the previous run through the records
they share:

* a previous key's **home** is the component holding most of its records (ties go to the
  component with the smallest label, so the choice does not depend on order);
* a component that is home to one previous key keeps it; home to several (a **merge**),
  it keeps the oldest key and the others are retired, each forwarding to it;
* a component that is home to none gets a new key; when it holds records of previous
  keys (a **split**), the change is recorded against each of them.

A key is 32 lowercase hexadecimal characters from the operating system's random source,
so it says nothing about the tokens and cannot be recomputed by anyone.
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt


def new_key() -> str:
    """A fresh random person key."""
    return secrets.token_hex(16)


class KeyChange(StrEnum):
    ISSUED = "issued"
    MERGED = "merged"  # ``key`` is retired and forwards to ``other``
    SPLIT = "split"  # ``key`` now holds records that were ``other``'s


@dataclass(frozen=True)
class KeyEvent:
    change: KeyChange
    key: str
    other: str | None = None


@dataclass(frozen=True)
class Assignment:
    """The person key of every node (None for unlinkable nodes) and what changed."""

    keys: list[str | None]
    events: list[KeyEvent]

    def counts(self) -> dict[str, int]:
        found = Counter(e.change.value for e in self.events)
        return {change.value: found.get(change.value, 0) for change in KeyChange}


def assign_keys(
    labels: npt.NDArray[np.int64],
    previous: Sequence[str | None],
    *,
    issued_order: Mapping[str, int],
    make_key: Callable[[], str] = new_key,
) -> Assignment:
    """Keys for ``labels`` (a component label per node, -1 when unlinkable) given each
    node's ``previous`` key (None when new or unlinked before); ``issued_order`` ranks the
    previous keys by age (smaller is older; unknown keys count as newest)."""
    if len(previous) != len(labels):
        raise ValueError("one previous key per node")
    members: dict[str, Counter[int]] = defaultdict(Counter)
    for node, key in enumerate(previous):
        label = int(labels[node])
        if key is not None and label >= 0:
            members[key][label] += 1
    homes: dict[int, list[str]] = defaultdict(list)
    for key, per_label in members.items():
        best = max(per_label.items(), key=lambda item: (item[1], -item[0]))[0]
        homes[best].append(key)
    newest = len(issued_order) + 1
    chosen: dict[int, str] = {}
    events: list[KeyEvent] = []
    for label in sorted(set(int(x) for x in labels if x >= 0)):
        candidates = sorted(homes.get(label, []), key=lambda k: (issued_order.get(k, newest), k))
        if candidates:
            survivor = candidates[0]
            chosen[label] = survivor
            events.extend(KeyEvent(KeyChange.MERGED, k, survivor) for k in candidates[1:])
        else:
            key = make_key()
            chosen[label] = key
            events.append(KeyEvent(KeyChange.ISSUED, key))
    for key, per_label in members.items():
        for label in sorted(per_label):
            if chosen[label] != key and key not in homes[label]:
                events.append(KeyEvent(KeyChange.SPLIT, chosen[label], key))
    keys = [chosen[int(x)] if x >= 0 else None for x in labels]
    return Assignment(keys=keys, events=_unique(events))


def _unique(events: list[KeyEvent]) -> list[KeyEvent]:
    seen: set[KeyEvent] = set()
    out = []
    for event in events:
        if event not in seen:
            seen.add(event)
            out.append(event)
    return out
