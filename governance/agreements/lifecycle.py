"""Agreement lifecycle: draft -> signed -> active -> suspended | expired | terminated,
and suspended -> active. ``draft -> signed`` happens when the last party signs."""

from __future__ import annotations

from typing import Literal

State = Literal["draft", "signed", "active", "suspended", "expired", "terminated"]
STATES: tuple[State, ...] = ("draft", "signed", "active", "suspended", "expired", "terminated")

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"signed", "terminated"}),
    "signed": frozenset({"active", "terminated"}),
    "active": frozenset({"suspended", "expired", "terminated"}),
    "suspended": frozenset({"active", "expired", "terminated"}),
    "expired": frozenset(),
    "terminated": frozenset(),
}


def allowed(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())
