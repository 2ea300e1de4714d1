"""The linkage for the LMIS unit: its runs, and the clerical review of the pairs the
model could not decide. A pair shows opaque record ids, the weight, which comparisons
agreed and non-identifying attributes (never a token, a name or a number); showing one
and deciding it are audited with the reviewer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from governance.accounts.services import Principal
from governance.linkage.models import LinkageRun
from governance.linkage.views import pair_summary, pair_view, run_view
from hub_api.http.auth import Require, subject_of
from hub_api.http.unit import Unit, unit
from integration.linkage.review import ReviewQueue, get_pair, open_pairs

router = APIRouter(prefix="/api/v1/linkage", tags=["linkage"])
Work = Annotated[Unit, Depends(unit, scope="function")]
Reader = Annotated[Principal, Depends(Require("linkage:read"))]
Reviewer = Annotated[Principal, Depends(Require("linkage:review"))]


class PairDecision(BaseModel):
    match: bool = Field(
        strict=True, description="true: the two records are one person; false: they are not"
    )
    comment: str | None = Field(None, max_length=2000, description="Why (kept with it)")


@router.get("/runs", summary="Linkage runs, newest first: state, counts, a failure's code")
def runs(
    _: Reader, work: Work, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[dict[str, Any]]:
    rows = work.session.scalars(select(LinkageRun).order_by(LinkageRun.id.desc()).limit(limit))
    return [run_view(r) for r in rows]


@router.get("/review", summary="Open pairs, the closest to the match weight first")
def review_queue(
    _: Reader, work: Work, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[dict[str, Any]]:
    return [pair_summary(p) for p in open_pairs(work.session, limit=limit)]


@router.get(
    "/review/{pair}",
    summary="One pair: its records, the weight, which comparisons agreed (audited)",
)
def show_pair(pair: int, reviewer: Reviewer, work: Work) -> dict[str, Any]:
    row = get_pair(work.session, pair)
    work.authorise(
        subject_of(reviewer), "linkage:review", resource=f"review:{row.id}", resource_agency=None
    )
    return pair_view(row)


@router.post(
    "/review/{pair}/decision",
    summary="Decide an open pair; the decision binds every later linkage run (audited)",
)
def decide_pair(pair: int, body: PairDecision, reviewer: Reviewer, work: Work) -> dict[str, Any]:
    gov = work.services()
    row = ReviewQueue(work.session, audit=gov.audit, clock=gov.clock).decide(
        pair,
        "match" if body.match else "no_match",
        reviewer=reviewer.username,
        note=body.comment,
    )
    return {
        "pair": pair,
        "decision": row.decision,
        "reviewer": row.reviewer,
        "decided_at": row.decided_at.isoformat(),
        "note": row.note,
    }
