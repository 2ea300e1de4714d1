"""The linkage over HTTP for the LMIS unit: its runs, and clerical review of the pairs a
real run on a small tokenised population queued — the list without the records, one
pair with them (audited), a decision recorded once with the reviewer; unknown pairs and
bad decisions get the error envelope."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.orm import Session

from connectors.sdk.linkkey import LinkKey
from hub_api.wiring import database, lake_catalog, linkage_job
from integration.linkage.features import Source
from lmis_hub.settings import Settings
from tests.hub_api.http.conftest import ServedHub
from tests.hub_api.http.server import client
from tests.hub_api.http.test_governance_api import audit_entries
from tests.integration.linkage.bronze import land
from tests.integration.linkage.people import people, recorded
from tests.integration.research.test_job import lineage

#: Person datasets with tokens: what the linkage links and research extracts read.
LINKED_DATASETS = ("nis/insured_person", "jobboard/jobseeker")
NIS = Source("nis", "insured_person")
JOBS = Source("jobboard", "jobseeker")


def land_and_link(settings: Settings) -> int:
    """300 people insured with the NIS, half of them also job seekers, landed in bronze
    under the hub's agreements, and one linkage run over them; its id."""
    lake = lake_catalog(settings)
    key = LinkKey(bytes(range(32)), key_id=1)
    population = people(300, seed=5)
    nis, _ = recorded(population, agency="nis", dataset="insured_person", key=key, seed=1)
    jobs, _ = recorded(population[:150], agency="jobboard", dataset="jobseeker", key=key, seed=2)
    land(lake, NIS, lineage(nis, "dsa-nis-lmis"))
    land(lake, JOBS, lineage(jobs, "dsa-jobboard-lmis"))
    quick = settings.model_copy(
        update={"linkage": settings.linkage.model_copy(update={"u_pairs": 100_000})}
    )
    engine = database(settings)
    try:
        with Session(engine) as session:
            return linkage_job(session, quick, actor="linkage-test").run().id
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    return LINKED_DATASETS


@pytest.fixture(scope="module")
def run_id(served_hub: ServedHub) -> int:
    return land_and_link(served_hub.settings)


def test_before_any_run_the_lists_are_empty_and_bad_requests_are_refused(
    served_hub: ServedHub,
) -> None:
    with client(served_hub.url, served_hub.tokens["lmis_analyst"]) as http:
        assert http.get("/api/v1/linkage/runs").json() == []
        assert http.get("/api/v1/linkage/review").json() == []
        r = http.get("/api/v1/linkage/review/999")
        assert r.status_code == 404 and r.json()["error"]["code"] == "linkage.pair_unknown"
        r = http.post("/api/v1/linkage/review/999/decision", json={"match": True})
        assert r.status_code == 404 and r.json()["error"]["code"] == "linkage.pair_unknown"
        for body in (
            {},
            {"match": "maybe"},
            {"match": "true"},
            {"match": True, "comment": "x" * 2001},
        ):
            r = http.post("/api/v1/linkage/review/999/decision", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"]["code"] == "request.invalid"
        assert http.get("/api/v1/linkage/review/abc").status_code == 422
        assert http.get("/api/v1/linkage/runs", params={"limit": "0"}).status_code == 422
    with client(served_hub.url, served_hub.tokens["researcher"]) as http:
        r = http.get("/api/v1/linkage/review")
        assert r.status_code == 403 and r.json()["error"]["code"] == "policy.role_not_permitted"


def _open_pairs(served_hub: ServedHub) -> list[dict[str, Any]]:
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as http:
        r = http.get("/api/v1/linkage/review", params={"limit": "1000"})
        assert r.status_code == 200, r.text
        pairs: list[dict[str, Any]] = r.json()
        return pairs


def test_a_run_and_its_review_pairs(served_hub: ServedHub, run_id: int) -> None:
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as http:
        [run] = http.get("/api/v1/linkage/runs").json()
    assert run["id"] == run_id and run["state"] == "committed" and run["records"] == 450
    assert run["persons"] and run["snapshots"]
    pairs = _open_pairs(served_hub)
    assert len(pairs) == run["review_queued"] > 0
    weights = [p["match_weight"] for p in pairs]
    assert weights == sorted(weights, reverse=True)
    # The list names the sources and the agreement pattern, never the records.
    for pair in pairs:
        assert set(pair["left"]) == set(pair["right"]) == {"source"}
        assert "attributes" not in pair and pair["agreement"]


def test_showing_and_deciding_a_pair_is_audited_with_the_reviewer(
    served_hub: ServedHub, run_id: int
) -> None:
    pair = _open_pairs(served_hub)[0]
    reviewer = served_hub.user("lmis_analyst")
    with client(served_hub.url, served_hub.tokens["lmis_analyst"]) as http:
        shown = http.get(f"/api/v1/linkage/review/{pair['id']}")
        assert shown.status_code == 200, shown.text
        view = shown.json()
        assert view["run"] == run_id and view["state"] == "open"
        assert len(view["left"]["record_id"]) == len(view["right"]["record_id"]) == 32
        assert set(view["attributes"]) == {"left", "right"}
        assert "token" not in json.dumps(view["attributes"])  # features, never tokens
        r = http.post(
            f"/api/v1/linkage/review/{pair['id']}/decision",
            json={"match": True, "comment": "same birth year and region"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["decision"] == "match" and r.json()["reviewer"] == reviewer
        again = http.post(f"/api/v1/linkage/review/{pair['id']}/decision", json={"match": False})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "linkage.review_invalid"
    assert pair["id"] not in {p["id"] for p in _open_pairs(served_hub)}
    seen = [
        e
        for e in audit_entries(served_hub, tag="policy:permission", actor=reviewer)
        if e["subject"] == f"review:{pair['id']}"
    ]
    assert seen and seen[-1]["details"]["allowed"] is True  # type: ignore[index]
    [decided] = audit_entries(served_hub, tag="linkage:review", subject=f"review:{pair['id']}")
    assert decided["actor"] == reviewer and decided["details"]["decision"] == "match"  # type: ignore[index]
