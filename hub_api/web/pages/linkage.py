"""The linkage for the LMIS unit: the clerical review queue (the pairs the model could
not decide), one pair with the comparisons the API shows and the decision on it, and
the linkage runs.

A pair shows opaque record ids, the match weight, which comparisons agreed and
non-identifying attributes — never a token, a name or a number; only the pair's number
is in the address. Showing a pair and deciding it are audited with the reviewer (the
API's route functions do both)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from hub_api.http.routes.linkage import PairDecision, decide_pair, review_queue, runs, show_pair
from hub_api.web.access import Page, Work, mark_page
from hub_api.web.pages.research import notice_of, numbered, principal_of
from hub_api.web.templating import Viewer, render
from integration.linkage.errors import ReviewPairUnknown

router = APIRouter(
    prefix="/work/linkage", dependencies=[Depends(mark_page)], include_in_schema=False
)
#: Pairs listed at once; the closest to the match weight first.
QUEUE = 50
RUNS = 50
NOTICES = {
    "match": "Recorded: the two records are one person. The decision binds every later run.",
    "no_match": "Recorded: the two records are not one person. The decision binds every later run.",
}


def _pair(value: str) -> int:
    return numbered(value, ReviewPairUnknown(f"no review pair {value[:20]!r}"))


@router.get("")
def queue(
    request: Request, work: Work, seen: Annotated[Viewer, Depends(Page("linkage:read"))]
) -> Response:
    return render(
        request,
        "work/linkage.html",
        seen,
        title="Linkage review",
        notice=notice_of(request, NOTICES),
        pairs=review_queue(principal_of(seen), work, limit=QUEUE),
        limit=QUEUE,
    )


@router.get("/runs")
def run_list(
    request: Request, work: Work, seen: Annotated[Viewer, Depends(Page("linkage:read"))]
) -> Response:
    return render(
        request,
        "work/linkage_runs.html",
        seen,
        title="Linkage runs",
        runs=runs(principal_of(seen), work, limit=RUNS),
    )


@router.get("/review/{pair}")
def pair_page(
    request: Request,
    work: Work,
    seen: Annotated[Viewer, Depends(Page("linkage:review"))],
    pair: str,
) -> Response:
    shown = show_pair(_pair(pair), principal_of(seen), work)
    attributes = shown["attributes"]
    names = sorted(set(attributes.get("left", {})) | set(attributes.get("right", {})))
    return render(
        request,
        "work/linkage_pair.html",
        seen,
        title=f"Review pair {shown['id']}",
        pair=shown,
        attributes=[
            (n, attributes.get("left", {}).get(n), attributes.get("right", {}).get(n))
            for n in names
        ],
    )


@router.post("/review/{pair}/decision")
def decide(
    work: Work,
    seen: Annotated[Viewer, Depends(Page("linkage:review"))],
    pair: str,
    decision: Annotated[Literal["match", "no_match"], Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    body = PairDecision(match=decision == "match", comment=comment.strip() or None)
    decide_pair(_pair(pair), body, principal_of(seen), work)
    return RedirectResponse(f"/work/linkage?done={decision}", status_code=303)
