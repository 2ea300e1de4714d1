"""The pure access decision: a full table of role x action x resource, and properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.policy.decision import (
    ACTIONS,
    MIN_K,
    ROLES,
    AccessRequest,
    AgreementInForce,
    PolicyContext,
    ProjectApproval,
    Resource,
    Subject,
    decide,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
NIS = AgreementInForce(
    "nis-lmis",
    1,
    "nis.contributions",
    frozenset("abc"),
    frozenset({"statistics", "research"}),
    "statute",
)
TVET = AgreementInForce(
    "tvet-lmis",
    1,
    "tvet.trainees",
    frozenset("xyz"),
    frozenset({"statistics", "research"}),
    "consent",
)
P1 = ProjectApproval(
    "P1", {"nis.contributions": frozenset("ab")}, frozenset({"research"}), NOW + timedelta(days=90)
)
CTX = PolicyContext(NOW, (NIS, TVET), {"P1": P1}, frozenset({"ind.unemployment_rate"}))

RESOURCES = {
    "published": Resource("indicator", "ind.unemployment_rate"),
    "unpublished": Resource("indicator", "ind.neet_draft"),
    "own_dataset": Resource("dataset", "nis.contributions", frozenset("ab")),
    "other_dataset": Resource("dataset", "tvet.trainees", frozenset("x")),
    "audit": Resource("audit", "audit"),
    "agreement": Resource("agreement", "nis-lmis"),
}
ALL: set[str] = set(ROLES)
EXPECTED_ALLOWED: dict[tuple[str, str], set[str]] = {
    ("read_indicators", "published"): ALL,
    ("read_indicators", "unpublished"): {"lmis_analyst"},
    ("read_aggregates", "own_dataset"): {"agency_operator", "lmis_analyst", "researcher"},
    ("read_aggregates", "other_dataset"): {"lmis_analyst"},
    ("read_microdata", "own_dataset"): {"lmis_analyst", "researcher"},
    ("deliver", "own_dataset"): {"agency_operator"},
    ("administer", "agreement"): {"lmis_admin"},
    ("read_audit", "audit"): {"auditor", "steering_member"},
}


def request(role, action, resource, purpose="research", agency="nis", project="P1"):
    return AccessRequest(Subject(role, agency, project), action, resource, purpose)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("label", list(RESOURCES))
def test_every_role_action_resource(role, action, label) -> None:
    decision = decide(request(role, action, RESOURCES[label]), CTX)
    expected = role in EXPECTED_ALLOWED.get((action, label), set())
    assert decision.allowed is expected, decision
    assert decision.reason.startswith("allow." if expected else "policy.")


def test_obligations() -> None:
    micro = decide(request("researcher", "read_microdata", RESOURCES["own_dataset"]), CTX)
    assert {(o.kind, o.value) for o in micro.obligations} == {
        ("pseudonymise_with_project_key", "P1"),
        ("k_anonymity", 5),
    }
    agg = decide(request("lmis_analyst", "read_aggregates", RESOURCES["other_dataset"]), CTX)
    assert {(o.kind, o.value) for o in agg.obligations} == {
        ("suppress_cells_below", 5),
        ("apply_consent", "research"),
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (dict(purpose="employment_services"), "policy.purpose_not_approved"),
        (dict(project="P2"), "policy.no_approved_project"),
        (dict(project=None), "policy.no_approved_project"),
        (dict(fields=frozenset("abc")), "policy.outside_project_scope"),
    ],
)
def test_microdata_denials_say_why(change, reason) -> None:
    resource = RESOURCES["own_dataset"]
    if "fields" in change:
        resource = replace(resource, fields=change.pop("fields"))
    req = request("researcher", "read_microdata", resource, **change)
    assert decide(req, CTX).reason == reason
    expired = replace(CTX, at=P1.valid_until)
    assert (
        decide(request("researcher", "read_microdata", RESOURCES["own_dataset"]), expired).reason
        == "policy.project_expired"
    )


# Properties ------------------------------------------------------------------------

names = st.sampled_from(["nis.contributions", "tvet.trainees", "ind.a", "ind.b", "audit"])
field_sets = st.frozensets(st.sampled_from("abcxyz"), max_size=4)
purposes = st.sampled_from(["statistics", "research", "employment_services", "oversight"])
resources = st.builds(
    Resource, st.sampled_from(["indicator", "dataset", "audit", "agreement"]), names, field_sets
)
subjects = st.builds(
    Subject,
    st.sampled_from(ROLES),
    st.sampled_from([None, "nis", "tvet"]),
    st.sampled_from([None, "P1", "P2"]),
)
requests = st.builds(AccessRequest, subjects, st.sampled_from(ACTIONS), resources, purposes)
agreements = st.builds(
    AgreementInForce,
    st.just("a"),
    st.just(1),
    names,
    field_sets,
    st.frozensets(purposes, max_size=3),
    st.sampled_from(["statute", "consent"]),
)
projects = st.builds(
    ProjectApproval,
    st.sampled_from(["P1", "P2"]),
    st.dictionaries(names, field_sets, max_size=3),
    st.frozensets(purposes, max_size=3),
    st.sampled_from([NOW - timedelta(days=1), NOW + timedelta(days=1)]),
)
contexts = st.builds(
    PolicyContext,
    st.just(NOW),
    st.lists(agreements, max_size=3).map(tuple),
    st.lists(projects, max_size=2).map(lambda ps: {p.project_id: p for p in ps}),
    st.frozensets(names, max_size=3),
)


@given(requests)
def test_deny_by_default(req) -> None:
    decision = decide(req, PolicyContext(NOW))
    allowed_without_anything = (
        (
            req.action == "administer"
            and req.subject.role == "lmis_admin"
            and req.resource.kind == "agreement"
        )
        or (
            req.action == "read_audit"
            and req.subject.role in ("auditor", "steering_member")
            and req.resource.kind == "audit"
        )
        or (
            req.action == "read_indicators"
            and req.subject.role == "lmis_analyst"
            and req.resource.kind == "indicator"
        )
    )
    assert decision.allowed is allowed_without_anything


@given(requests, contexts)
@settings(max_examples=300)
def test_no_raw_microdata_without_an_approved_project(req, ctx) -> None:
    decision = decide(req, ctx)
    if decision.allowed and req.action == "read_microdata":
        project = ctx.projects[req.subject.project]
        assert ctx.at < project.valid_until
        assert req.resource.fields <= project.scope[req.resource.name]
        kinds = {o.kind: o.value for o in decision.obligations}
        assert kinds["pseudonymise_with_project_key"] == project.project_id
        assert int(kinds["k_anonymity"]) >= MIN_K
    no_projects = replace(ctx, projects={})
    if req.action == "read_microdata":
        assert not decide(req, no_projects).allowed


@given(requests, contexts)
def test_public_only_reads_published_indicators(req, ctx) -> None:
    req = replace(req, subject=replace(req.subject, role="public"))
    decision = decide(req, ctx)
    if decision.allowed:
        assert req.action == "read_indicators"
        assert req.resource.kind == "indicator" and req.resource.name in ctx.published


@given(requests, contexts, st.data())
def test_taking_something_away_never_grants_access(req, ctx, data) -> None:
    what = data.draw(st.sampled_from(["agreements", "projects", "published"]))
    smaller = replace(ctx, **{what: type(getattr(ctx, what))()})
    if decide(req, smaller).allowed:
        assert decide(req, ctx).allowed


@given(requests, contexts)
def test_deliveries_stay_within_agreements(req, ctx) -> None:
    decision = decide(req, ctx)
    if decision.allowed and req.action == "deliver":
        agreement = ctx.agreement_for(req.resource.name)
        assert agreement is not None and req.resource.fields <= agreement.fields
        assert req.subject.agency == req.resource.agency
