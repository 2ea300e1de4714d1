"""The airlock: automatic checks at submission, two independent output checkers, and
downloads of released outputs only, without a magnitude table's evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from governance.audit.services import AuditLog
from governance.errors import AlreadyDecided, NotAMember, OwnProject, ResearchRoleWrong
from governance.research.services import ResearchService
from integration.research.airlock import Airlock
from integration.research.errors import OutputNotInState
from integration.research.workspace import Workspace
from tests.governance.conftest import FakeClock
from tests.governance.research.factories import approved, research_service

FREQUENCY = {
    "kind": "frequency",
    "count_columns": ["employed", "unemployed"],
    "label_columns": ["sex"],
}
SAFE = b"sex,employed,unemployed\n1,120,14\n2,98,21\n"


@pytest.fixture
def clock() -> FakeClock:
    from datetime import UTC, datetime

    return FakeClock(datetime(2026, 1, 5, tzinfo=UTC))


@pytest.fixture
def airlock(make_parties, db_session: Session, clock, tmp_path: Path) -> Airlock:
    audit = AuditLog(db_session, clock=clock)
    research = research_service(make_parties, db_session, clock, audit)
    for user in ("oc.one", "oc.two"):
        research.register_person(
            user, role="output_checker", name=user, institution="LMIS", actor="lmis"
        )
    return Airlock(
        session=db_session,
        research=research,
        store=Workspace(tmp_path / "airlock"),
        audit=audit,
        clock=clock,
    )


def test_a_cell_of_three_is_refused_by_the_rules(airlock: Airlock) -> None:
    project = approved(airlock.research)
    row = airlock.submit(
        project, "by-sex.csv", b"sex,employed,unemployed\n1,120,3\n2,98,21\n",
        layout=FREQUENCY, actor="ms.ali",
    )  # fmt: skip
    assert row.state == "refused_by_rules"
    threshold = next(r for r in row.checks["rules"] if r["rule"] == "threshold")
    assert threshold["status"] == "fail"
    assert threshold["cells"] == [{"row": 0, "column": "unemployed"}]
    with pytest.raises(OutputNotInState):
        airlock.review(project, row.id, checker="oc.one", approve=True, comment="fine")


def test_two_independent_checkers_release_and_members_download(
    airlock: Airlock, tmp_path: Path
) -> None:
    research: ResearchService = airlock.research
    project = approved(research)
    with pytest.raises(NotAMember):  # only members submit
        airlock.submit(project, "t.csv", SAFE, layout=FREQUENCY, actor="dr.late")
    row = airlock.submit(project, "by-sex.csv", SAFE, layout=FREQUENCY, actor="ms.ali")
    assert row.state == "awaiting_checkers"
    with pytest.raises(ResearchRoleWrong):  # an LMIS approver is not an output checker
        airlock.review(project, row.id, checker="ann", approve=True, comment="ok")
    research.register_person("oc.member", role="researcher", name="m", institution="U",
                             accreditation_expires=research.person("ms.ali").accreditation_expires,
                             actor="lmis")  # fmt: skip
    research.add_member(project, "oc.member", actor="dr.joseph")
    research.register_person("oc.member", role="output_checker", name="m", institution="U",
                             actor="lmis")  # fmt: skip
    with pytest.raises(OwnProject):
        airlock.review(project, row.id, checker="oc.member", approve=True, comment="ok")
    airlock.review(project, row.id, checker="oc.one", approve=True, comment="cells over 10")
    with pytest.raises(AlreadyDecided):
        airlock.review(project, row.id, checker="oc.one", approve=True, comment="again")
    with pytest.raises(OutputNotInState):  # not released yet
        airlock.download(project, row.id, actor="ms.ali", to=tmp_path)
    row = airlock.review(project, row.id, checker="oc.two", approve=True, comment="agree")
    assert row.state == "released"
    out = airlock.download(project, row.id, actor="ms.ali", to=tmp_path)
    assert out.read_bytes() == SAFE
    assert airlock.audit.search(tag="output:download", actor="ms.ali")
    with pytest.raises(NotAMember):
        airlock.download(project, row.id, actor="dr.late", to=tmp_path)
    # The project ends; its released output stays with its researchers.
    research.close(project, actor="dr.joseph")
    assert airlock.download(project, row.id, actor="dr.joseph", to=tmp_path / "x.csv").exists()


def test_an_output_that_differs_from_a_release_by_one_record_is_refused(
    airlock: Airlock,
) -> None:
    project = approved(airlock.research)
    first = airlock.submit(project, "a.csv", SAFE, layout=FREQUENCY, actor="ms.ali")
    for checker in ("oc.one", "oc.two"):
        airlock.review(project, first.id, checker=checker, approve=True, comment="ok")
    again = b"sex,employed,unemployed\n1,121,14\n2,98,21\n"  # one more employed man
    row = airlock.submit(project, "b.csv", again, layout=FREQUENCY, actor="ms.ali")
    assert row.state == "refused_by_rules"
    differencing = next(r for r in row.checks["rules"] if r["rule"] == "differencing")
    assert differencing["status"] == "fail"
    assert differencing["cells"][0]["column"] == "employed"


def test_a_checker_refusal_ends_it_and_magnitude_evidence_never_leaves(
    airlock: Airlock, tmp_path: Path
) -> None:
    project = approved(airlock.research)
    layout = {"kind": "magnitude", "value_column": "earnings", "label_columns": ["sex"]}
    data = (
        b"sex,earnings,contributors,largest,second_largest\n"
        b"1,500000,40,30000,29000\n2,450000,35,28000,27000\n"
    )
    refused = airlock.submit(project, "m1.csv", data, layout=layout, actor="ms.ali")
    airlock.review(project, refused.id, checker="oc.one", approve=False, comment="too detailed")
    assert refused.state == "refused"
    row = airlock.submit(project, "m2.csv", data, layout=layout, actor="ms.ali")
    assert row.state == "awaiting_checkers", row.checks["summary"]
    for checker in ("oc.one", "oc.two"):
        airlock.review(project, row.id, checker=checker, approve=True, comment="ok")
    released = airlock.download(project, row.id, actor="ms.ali", to=tmp_path).read_text()
    assert released.splitlines()[0] == "sex,earnings"
