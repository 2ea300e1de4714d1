"""What the linkage shows people — runs and the pairs waiting for a reviewer: the CLI's
--json output and the API's answers. A pair shows opaque record ids, the weight, which
comparisons agreed and non-identifying attributes; never a token, a name or a number."""

from __future__ import annotations

from typing import Any

from governance.linkage.models import LinkageRun, ReviewPair


def run_view(run: LinkageRun) -> dict[str, Any]:
    counts = run.counts or {}
    return {
        "id": run.id,
        "mode": run.mode,
        "state": run.state,
        "actor": run.actor,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "error_code": run.error_code,
        "error_message": run.error_message,
        "records": counts.get("records"),
        "persons": counts.get("persons"),
        "key_changes": counts.get("key_changes"),
        "review_queued": counts.get("review_queued"),
        "counts": counts,
        "snapshots": run.snapshots,
    }


def pair_view(pair: ReviewPair) -> dict[str, Any]:
    """What a reviewer sees of a pair: the two records and their attributes."""
    return {
        "id": pair.id,
        "run": pair.run_id,
        "state": pair.state,
        "left": {"source": pair.left_source, "record_id": pair.left_record},
        "right": {"source": pair.right_source, "record_id": pair.right_record},
        "match_weight": round(pair.match_weight, 3),
        "match_probability": round(pair.match_probability, 4),
        "agreement": pair.pattern,
        "attributes": pair.attributes,
    }


def pair_summary(pair: ReviewPair) -> dict[str, Any]:
    """A pair in the queue's list: the sources, the weight and the agreement pattern, not
    the records (showing those is a reviewer's step, and audited)."""
    view = pair_view(pair)
    del view["attributes"]
    view["left"], view["right"] = {"source": pair.left_source}, {"source": pair.right_source}
    return view
