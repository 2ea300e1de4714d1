"""Clerical review: the pairs the model could not decide, and the reviewers' decisions.

A reviewer sees the two records' agency, dataset and opaque record id, the match weight,
the agreement pattern (which tokens agreed: "full name exact", "one digit apart", ...)
and non-identifying attributes (sex, region, birth year) — never a token, a name or a
number. A decision (match / no match) is recorded with the reviewer, audited, and
binds every later run: a match joins the two records' persons, a no match keeps the two
records from being joined directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.linkage.models import PersonKey, PersonKeyEvent, ReviewDecision, ReviewPair
from governance.timestamps import Clock
from integration.linkage.errors import PersonKeyUnknown, ReviewDecisionInvalid, ReviewPairUnknown

DECISIONS = ("match", "no_match")


def open_pairs(session: Session, *, limit: int = 50) -> list[ReviewPair]:
    """Open pairs, the closest to the match weight first."""
    return list(
        session.scalars(
            select(ReviewPair)
            .where(ReviewPair.state == "open")
            .order_by(ReviewPair.match_weight.desc(), ReviewPair.id)
            .limit(limit)
        )
    )


def get_pair(session: Session, pair_id: int) -> ReviewPair:
    pair = session.get(ReviewPair, pair_id)
    if pair is None:
        raise ReviewPairUnknown(f"no review pair {pair_id}")
    return pair


@dataclass
class ReviewQueue:
    """Decisions on the queue's pairs, audited with the reviewer."""

    session: Session
    audit: AuditLog
    clock: Clock

    def decide(
        self, pair_id: int, decision: str, *, reviewer: str, note: str | None = None
    ) -> ReviewDecision:
        """Record ``decision`` on an open pair (the caller commits)."""
        if decision not in DECISIONS:
            raise ReviewDecisionInvalid(
                f"a decision is one of {', '.join(DECISIONS)}, not {decision!r}"
            )
        pair = get_pair(self.session, pair_id)
        if pair.state != "open":
            raise ReviewDecisionInvalid(f"review pair {pair_id} is {pair.state}, not open")
        pair.state = "decided"
        row = ReviewDecision(
            review_id=pair.id,
            left_source=pair.left_source,
            left_record=pair.left_record,
            right_source=pair.right_source,
            right_record=pair.right_record,
            decision=decision,
            reviewer=reviewer,
            decided_at=self.clock(),
            note=note,
        )
        self.session.add(row)
        self.audit.record(
            "linkage:review",
            reviewer,
            f"review:{pair.id}",
            {"decision": decision, "run": pair.run_id, "match_weight": pair.match_weight},
        )
        return row


def key_history(session: Session, key: str) -> dict[str, Any]:
    """A person key's record: when issued, whether retired and where it forwards (the
    chain followed to the key in use), and every change that names it."""
    row = session.get(PersonKey, key)
    if row is None:
        raise PersonKeyUnknown(f"no person key {key!r}")
    chain = [key]
    current = row
    while current.forwards_to is not None and current.forwards_to not in chain:
        chain.append(current.forwards_to)
        following = session.get(PersonKey, current.forwards_to)
        if following is None:
            break
        current = following
    events = session.scalars(
        select(PersonKeyEvent)
        .where((PersonKeyEvent.key == key) | (PersonKeyEvent.other == key))
        .order_by(PersonKeyEvent.id)
    )
    return {
        "key": key,
        "issued_run": row.issued_run,
        "issued_at": row.issued_at.isoformat(),
        "retired_run": row.retired_run,
        "forwards_to": row.forwards_to,
        "current_key": chain[-1],
        "changes": [
            {"run": e.run_id, "change": e.change, "key": e.key, "other": e.other} for e in events
        ],
    }
