"""The policy service reads what is in force from the database and audits every decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from governance.errors import PolicyDenied
from governance.policy.decision import AccessRequest, Resource, Subject
from governance.policy.services import PolicyService
from governance.research.models import ResearchProject
from tests.governance.agreements.factories import make_doc


@pytest.fixture
def policy(make_parties, db_session, clock, audit) -> PolicyService:
    make_parties(documents=[make_doc()], clock=clock)  # NIS and the hub, the agreement in force
    clock.now = datetime(2026, 6, 1, tzinfo=UTC)
    return PolicyService(db_session, clock=clock, audit=audit, published={"ind.ur"})


def micro(project: str | None) -> AccessRequest:
    return AccessRequest(
        Subject("researcher", None, project, user="dr.joseph"),
        "read_microdata",
        Resource("dataset", "nis.contributions", frozenset({"period", "insurable_earnings"})),
        "research",
    )


def test_decisions_use_agreements_and_projects_in_force(
    policy: PolicyService, clock, audit
) -> None:
    assert policy.decide(micro("P7")).reason == "policy.no_approved_project"
    # The research service approves projects (tests/governance/research); the policy
    # reads the approved ones, and nothing else, from the table.
    row = ResearchProject(
        id="P7",
        title="Returns to training",
        scope='{"nis.contributions":["insurable_earnings","nis_number_token","period"]}',
        purposes="research",
        state="applied",
        valid_until=clock.now + timedelta(days=30),
    )
    policy.session.add(row)
    policy.session.flush()
    assert policy.decide(micro("P7")).reason == "policy.no_approved_project"
    row.state = "approved"
    decision = policy.require(micro("P7"))
    assert decision.allowed
    entries = audit.search(tag="policy:decision", actor="dr.joseph")
    assert [e.details["allowed"] for e in entries] == [False, False, True]
    assert entries[0].details["reason"] == "policy.no_approved_project"
    assert entries[2].subject == "dataset:nis.contributions"
    # After the agreement's validity ends nothing is in force any more.
    assert not policy.decide(
        micro("P7"), ctx=policy.context(datetime(2029, 1, 2, tzinfo=UTC))
    ).allowed


def test_denial_raises_with_code_and_is_audited(policy: PolicyService, audit) -> None:
    public = AccessRequest(
        Subject("public", user="anon"),
        "read_microdata",
        Resource("dataset", "nis.contributions"),
        "statistics",
    )
    with pytest.raises(PolicyDenied, match=r"policy\.public_reads_published_indicators_only"):
        policy.require(public)
    assert audit.search(tag="policy:decision", actor="anon")[0].details["allowed"] is False
    indicator = AccessRequest(
        Subject("public", user="anon"),
        "read_indicators",
        Resource("indicator", "ind.ur"),
        "statistics",
    )
    assert policy.require(indicator).allowed
