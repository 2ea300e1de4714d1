"""Research access: applications checked by the policy engine, two-person approval,
agencies' approval where the agreement asks, members, the lifecycle and the project key."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from governance.errors import (
    AccreditationExpired,
    AgencyApprovalNotRequired,
    AlreadyDecided,
    ApplicationInvalid,
    FieldNotForResearch,
    NotAMember,
    OwnProject,
    PolicyDenied,
    ProjectKeyDestroyed,
    ProjectNotInState,
    ResearchRoleWrong,
)
from governance.keys.wrapping import KeyEncryptionKey
from governance.policy.services import PolicyService
from governance.research.application import parse_application
from governance.research.models import ProjectKey
from governance.research.services import ResearchService
from tests.governance.agreements.factories import make_doc
from tests.governance.research.factories import (
    ACCREDITED,
    application,
    approved,
    research_service,
)


@pytest.fixture
def research(make_parties, db_session: Session, clock, audit) -> ResearchService:
    return research_service(make_parties, db_session, clock, audit)


def test_two_different_approvers_approve_and_make_a_key(research: ResearchService, audit) -> None:
    app = parse_application(application(), where="test")
    row = research.apply(app, actor="dr.joseph")
    assert row.state == "applied"
    research.approve(app.id, actor="ann")
    assert research.project(app.id).state == "applied"
    assert research.waiting_for(app.id).lmis_approvals_missing == 1
    with pytest.raises(ProjectNotInState):
        research.project_key(app.id)
    research.approve(app.id, actor="bob")
    row = research.project(app.id)
    assert row.state == "approved" and row.approved_by == "ann,bob"
    assert row.valid_until == research.clock() + timedelta(days=180)
    key = research.project_key(app.id)
    assert len(key) == 32 and research.project_key(app.id) == key
    tags = [e.tag for e in audit.search(subject=f"project:{app.id}")]
    assert tags == ["project:apply", "project:decide", "project:decide", "project:approve"]
    # The policy engine now allows the members the approved fields, and no more.
    decisions = research.authorise(app.id, "ms.ali", {"nis.contributions": {"period"}})
    assert decisions[0].allowed
    assert {o.kind for o in decisions[0].obligations} >= {"pseudonymise_with_project_key"}


def test_the_same_approver_twice_and_own_project_are_refused(research: ResearchService) -> None:
    app = parse_application(application(), where="test")
    research.apply(app, actor="dr.joseph")
    research.approve(app.id, actor="ann")
    with pytest.raises(AlreadyDecided):
        research.approve(app.id, actor="ann")
    with pytest.raises(ResearchRoleWrong):  # a researcher (a member, too) cannot approve
        research.approve(app.id, actor="ms.ali")
    # An LMIS approver who is a member of the project may not approve it.
    research.register_person("dan", role="lmis_admin", name="dan", institution="LMIS", actor="lmis")
    other = parse_application(application(id="p-own", members=["dr.joseph"]), where="test")
    research.apply(other, actor="dr.joseph")
    research.session.flush()
    member = research.add_member("p-own", "ms.ali", actor="dr.joseph")
    assert member.state == "named"
    assert research.project("p-own").state == "applied"
    research.register_person(
        "dan", role="researcher", name="dan", institution="UWI",
        accreditation_expires=ACCREDITED, actor="lmis",
    )  # fmt: skip
    research.add_member("p-own", "dan", actor="dr.joseph")
    research.register_person("dan", role="lmis_admin", name="dan", institution="LMIS", actor="x")
    with pytest.raises(OwnProject):
        research.approve("p-own", actor="dan")
    assert research.project(app.id).state == "applied"


def test_policy_refuses_a_purpose_or_field_no_agreement_allows(research: ResearchService) -> None:
    refused = research.apply(
        parse_application(application(purpose="statistics", id="p-ok"), where="t"),
        actor="dr.joseph",
    )
    assert refused.state == "applied"  # statistics is an agreed purpose
    row = research.apply(
        parse_application(
            application(id="p-wide", datasets={"nis.contributions": ["period", "wage_detail"]}),
            where="t",
        ),
        actor="dr.joseph",
    )
    assert row.state == "refused"
    assert row.refusal == "policy.fields_not_agreed: nis.contributions"
    row = research.apply(
        parse_application(application(id="p-none", datasets={"tvet.x": ["a"]}), where="t"),
        actor="dr.joseph",
    )
    assert row.refusal == "policy.no_agreement: tvet.x"
    with pytest.raises(ProjectNotInState):
        research.approve("p-wide", actor="ann")


def test_application_refuses_tokens_low_k_and_bad_keys() -> None:
    with pytest.raises(FieldNotForResearch, match="nis_number_token"):
        parse_application(
            application(datasets={"nis.contributions": ["period", "nis_number_token"]}), where="t"
        )
    with pytest.raises(FieldNotForResearch, match="record_id"):
        parse_application(application(datasets={"nis.contributions": ["record_id"]}), where="t")
    with pytest.raises(ApplicationInvalid, match=r"disclosure\.k: .*k=3 is below the minimum 5"):
        parse_application(application(disclosure={"k": 3}), where="t")
    with pytest.raises(ApplicationInvalid, match="period"):
        parse_application(application(period={"from": "2025-01-01", "to": "2024-01-01"}), where="t")
    with pytest.raises(ApplicationInvalid, match="not asked for: birth_year"):
        parse_application(application(disclosure={"quasi_identifiers": ["birth_year"]}), where="t")


def test_accreditation_and_membership(research: ResearchService, clock) -> None:
    research.register_person(
        "dr.old", role="researcher", name="old", institution="UWI",
        accreditation_expires=date(2026, 1, 1), actor="lmis",
    )  # fmt: skip
    with pytest.raises(AccreditationExpired):
        research.apply(
            parse_application(application(members=["dr.old"]), where="t"), actor="dr.old"
        )
    with pytest.raises(NotAMember):  # the applicant must be a named member
        research.apply(
            parse_application(application(members=["ms.ali"]), where="t"), actor="dr.joseph"
        )
    project = approved(research)
    # A member added after approval has no access until two approvers approve them.
    member = research.add_member(project, "dr.late", actor="dr.joseph")
    assert member.state == "pending"
    with pytest.raises(NotAMember, match="pending"):
        research.authorise(project, "dr.late", {"nis.contributions": {"period"}})
    research.approve_member(project, "dr.late", actor="ann")
    with pytest.raises(AlreadyDecided):
        research.approve_member(project, "dr.late", actor="ann")
    research.approve_member(project, "dr.late", actor="cy")
    assert research.authorise(project, "dr.late", {"nis.contributions": {"period"}})[0].allowed
    # A field outside the approval is denied by the policy engine.
    with pytest.raises(PolicyDenied, match="outside_project_scope"):
        research.authorise(project, "ms.ali", {"nis.contributions": {"employer_number"}})
    with pytest.raises(ResearchRoleWrong):  # an approver is not a researcher
        research.authorise(project, "cy", {"nis.contributions": {"period"}})
    research.remove_member(project, "dr.late", actor="ann")
    with pytest.raises(NotAMember, match="removed"):
        research.authorise(project, "dr.late", {"nis.contributions": {"period"}})


def test_expiry_suspension_and_close_destroy_the_key(
    research: ResearchService, clock, db_session: Session
) -> None:
    project = approved(research)
    research.suspend(project, actor="ann", reason="ethics review")
    with pytest.raises(ProjectNotInState):
        research.project_key(project)
    with pytest.raises(ProjectNotInState):
        research.authorise(project, "ms.ali", {"nis.contributions": {"period"}})
    research.resume(project, actor="bob", reason="cleared")
    assert research.project_key(project)
    clock.now += timedelta(days=181)
    assert [p.id for p in research.expire_due()] == [project]
    assert research.project(project).state == "expired"
    with pytest.raises(ProjectKeyDestroyed):
        research.project_key(project)
    key = db_session.get(ProjectKey, project)
    assert key is not None and key.ciphertext == b"" and key.wrapped_key == b""
    with pytest.raises(ProjectNotInState):
        research.authorise(project, "ms.ali", {"nis.contributions": {"period"}})

    other = approved(research, id="p-two")
    research.close(other, actor="dr.joseph")
    with pytest.raises(ProjectKeyDestroyed):
        research.project_key(other)


def test_two_projects_never_share_a_key(research: ResearchService) -> None:
    first, second = approved(research, id="p-one"), approved(research, id="p-two")
    assert research.project_key(first) != research.project_key(second)


def test_agency_approval_when_the_agreement_asks(
    make_parties, db_session: Session, clock, audit
) -> None:
    make_parties(documents=[make_doc(research={"provider_approval": True})], clock=clock)
    clock.now = datetime(2026, 6, 1, tzinfo=UTC)
    policy = PolicyService(db_session, clock=clock, audit=audit)
    research = ResearchService(
        db_session, clock=clock, audit=audit, policy=policy, kek=KeyEncryptionKey(os.urandom(32))
    )
    research.register_person(
        "dr.joseph", role="researcher", name="j", institution="UWI",
        accreditation_expires=ACCREDITED, actor="lmis",
    )  # fmt: skip
    for user in ("ann", "bob"):
        research.register_person(user, role="lmis_admin", name=user, institution="L", actor="x")
    app = parse_application(application(members=["dr.joseph"]), where="t")
    research.apply(app, actor="dr.joseph")
    assert research.agencies_to_approve(app.id) == ["nis"]
    research.approve(app.id, actor="ann")
    research.approve(app.id, actor="bob")
    assert research.project(app.id).state == "applied"  # the NIS has not approved yet
    assert research.waiting_for(app.id).agencies_missing == ("nis",)
    with pytest.raises(AgencyApprovalNotRequired):
        research.agency_decide(app.id, agency="hub", approve=True, actor="x")
    research.agency_decide(app.id, agency="nis", approve=True, actor="nis.director")
    assert research.project(app.id).state == "approved"
