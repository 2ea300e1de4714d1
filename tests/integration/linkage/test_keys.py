"""Stable person keys: kept, merged to the oldest, split to a new one; never derived."""

from __future__ import annotations

from itertools import count

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from integration.linkage.keys import KeyChange, assign_keys, new_key


def counter_keys():
    numbers = count()
    return lambda: f"new{next(numbers)}"


@given(st.lists(st.integers(-1, 8), min_size=1, max_size=50))
def test_the_same_components_keep_the_same_keys(labels: list[int]) -> None:
    array = np.array(labels, np.int64)
    first = assign_keys(array, [None] * len(labels), issued_order={}, make_key=counter_keys())
    order = {k: i for i, k in enumerate(sorted({k for k in first.keys if k}))}
    again = assign_keys(array, first.keys, issued_order=order, make_key=counter_keys())
    assert again.keys == first.keys
    assert all(e.change is not KeyChange.SPLIT for e in again.events)
    assert not again.events
    # One key per component, none for unlinkable nodes.
    for label in set(labels):
        keys = {first.keys[i] for i, x in enumerate(labels) if x == label}
        assert len(keys) == 1 and (None in keys) == (label == -1)


def test_a_merge_keeps_the_oldest_key_and_forwards_the_other() -> None:
    previous = ["young", "young", "old", None]
    result = assign_keys(np.array([0, 0, 0, 0]), previous, issued_order={"old": 1, "young": 2})
    assert result.keys == ["old"] * 4
    assert [(e.change, e.key, e.other) for e in result.events] == [
        (KeyChange.MERGED, "young", "old")
    ]


def test_a_split_issues_a_new_key_for_the_records_that_leave() -> None:
    previous = ["k", "k", "k", "j"]
    result = assign_keys(
        np.array([0, 0, 2, 3]), previous, issued_order={"k": 1, "j": 2}, make_key=counter_keys()
    )
    assert result.keys == ["k", "k", "new0", "j"]
    assert [(e.change, e.key, e.other) for e in result.events] == [
        (KeyChange.ISSUED, "new0", None),
        (KeyChange.SPLIT, "new0", "k"),
    ]
    assert result.counts() == {"issued": 1, "merged": 0, "split": 1}


def test_keys_are_random_hex_and_never_repeat() -> None:
    keys = {new_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(len(k) == 32 and int(k, 16) >= 0 for k in keys)
