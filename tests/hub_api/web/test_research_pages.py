"""Research access in a real browser: a researcher applies (a form the service refuses
shows again with the reason, a project the access policy refuses shows its reason
code), follows the pending application, downloads the extract of an approved project,
submits outputs and follows their checking; two different administrators of the LMIS
unit approve a project and the NIS decides as its agreement asks, then the unit
suspends and resumes it. The projects and extracts are set up through the API as
tests/hub_api/http/test_research_api.py does."""

from __future__ import annotations

import io
import re
from typing import Any

import pyarrow.parquet as pq
from playwright.sync_api import Browser, Page, expect

from tests.hub_api.http.conftest import AGENCY, PASSWORD, ServedHub
from tests.hub_api.http.test_governance_api import audit_entries
from tests.hub_api.http.test_research_api import (  # noqa: F401 - fixtures
    SAFE,
    SECOND_ADMIN,
    application,
    approved,
    as_user,
    extract,
    hub_datasets,
    tokens,
    users,
)
from tests.hub_api.web.browsing import check, enrol, sign_in_with_password, visit

SMALL = b"sex,employed,unemployed\n1,120,3\n2,98,21\n"  # a cell of 3: the threshold fails


def signed_in(page: Page, served_hub: ServedHub, user: str, name: str) -> None:
    """``user``'s first sign-in: the password, then the authenticator's enrolment."""
    sign_in_with_password(page, served_hub.url, user, PASSWORD)
    enrol(page, name)
    expect(page).to_have_url(re.compile(r"/work$"))


def csrf_of(page: Page) -> str:
    return page.locator("input[name=csrf_token]").first.input_value()


def fill_application(page: Page, project: str, datasets: str) -> None:
    page.get_by_label("Project id").fill(project)
    page.get_by_label("Title").fill("Job seekers in insured work")
    page.get_by_label("Public benefit").fill(
        "Whether registering with the employment service leads to insured work."
    )
    page.get_by_label("Legal basis").fill("Statistics Act s. 12")
    page.get_by_label("Ethics approval").fill("REC-1")
    page.get_by_label("Datasets and fields").fill(datasets)
    page.get_by_label("Data from").fill("2020-01-01")
    page.get_by_label("Data to").fill("2030-12-31")
    page.get_by_label("Duration of the project, in days").fill("90")
    page.get_by_label("Quasi-identifiers").fill("sex, region")


def test_a_researcher_applies_downloads_and_submits_outputs(
    page: Page,
    served_hub: ServedHub,
    users: dict[str, str],  # noqa: F811
    approved: str,  # noqa: F811
    extract: dict[str, Any],  # noqa: F811
) -> None:
    base = served_hub.url
    signed_in(page, served_hub, users["researcher"], "research-researcher")
    page.get_by_role("navigation", name="Work").get_by_role("link", name="Research").click()
    expect(page.get_by_role("table")).to_contain_text(approved)
    check(page, "research-list")

    # An application the service refuses comes back filled, with the reason.
    page.get_by_role("link", name="Apply for a project").click()
    expect(page.get_by_label("Members")).to_have_value(users["researcher"])
    check(page, "research-apply")
    fill_application(page, "p-web", "nis.insured_person sex region")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("research.application_invalid")
    expect(page.get_by_label("Project id")).to_have_value("p-web")
    check(page, "research-apply-invalid")
    page.get_by_label("Datasets and fields").fill("nis.insured_person: sex, region")
    page.get_by_label("Generalisations").fill("region: group min_count=20")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/work/research/p-web\?done=applied$"))
    expect(page.get_by_role("status")).to_contain_text("waits for its approvals")
    expect(page.locator("dl.meta").first).to_contain_text("applied")
    expect(page.locator("main")).to_contain_text(
        "2 more approvals of the LMIS unit; the decision of NIS"
    )
    check(page, "research-applied")

    # One the access policy refuses at once shows the policy's reason code.
    page.goto(f"{base}/work/research/apply")
    fill_application(page, "p-tvet", "tvet.trainee: sex")
    page.get_by_label("Quasi-identifiers").fill("sex")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("policy.no_agreement")
    check(page, "research-refused-by-policy")

    # The approved project: its extract's files download, as the API serves them.
    visit(page, f"{base}/work/research/{approved}", "research-project-approved")
    name = "nis.insured_person.parquet"
    with page.expect_download() as download:
        page.get_by_role("link", name=name).click()
    table = pq.read_table(io.BytesIO(download.value.path().read_bytes()))
    assert table.num_rows == extract["files"][name]
    assert not [c for c in table.column_names if c.endswith("_token") or c == "record_id"]
    downloads = audit_entries(served_hub, tag="extract:download", actor=users["researcher"])
    assert [e["details"]["file"] for e in downloads] == [name]  # type: ignore[index]

    # An output the checks refuse, then one that goes on to the checkers.
    for file, state, rule in (
        (("small.csv", SMALL), "refused by rules", "fail"),
        (("by-sex.csv", SAFE), "awaiting checkers", "pass"),
    ):
        page.goto(f"{base}/work/research/{approved}")
        page.get_by_role("link", name="Submit an output").click()
        page.get_by_label("Result table (CSV)").set_input_files(
            {"name": file[0], "mimeType": "text/csv", "buffer": file[1]}
        )
        page.get_by_label("Label columns").fill("sex")
        page.get_by_label("Count columns (frequency tables)").fill("employed, unemployed")
        if state == "refused by rules":
            check(page, "research-submit")
        page.get_by_role("button", name="Submit to the airlock").click()
        expect(page).to_have_url(re.compile(r"/outputs/\d+\?done=submitted$"))
        expect(page.get_by_role("status")).to_contain_text("automatic checks have run")
        expect(page.locator("dl.meta")).to_contain_text(state)
        threshold = page.get_by_role("row").filter(has=page.get_by_text("threshold", exact=True))
        expect(threshold).to_contain_text(rule)
        check(page, f"research-output-{rule}")
    page.goto(f"{base}/work/research/{approved}")
    outputs = page.get_by_role("table", name="Outputs of the project")
    expect(outputs).to_contain_text("small.csv")
    expect(outputs).to_contain_text("awaiting checkers")

    # A member rebuilds the extract: the earlier one is superseded.
    page.get_by_role("button", name="Build a new extract").click()
    expect(page.get_by_role("status")).to_contain_text("The extract is built")
    expect(page.get_by_role("heading", name=f"Extract {extract['id']}: superseded")).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Extract \d+: live$"))).to_be_visible()


def test_two_administrators_and_the_agency_approve_a_project(
    browser: Browser,
    page: Page,
    served_hub: ServedHub,
    tokens: dict[str, str],  # noqa: F811
    users: dict[str, str],  # noqa: F811
) -> None:
    base = served_hub.url
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.post("/api/v1/research/projects", json=application(id="p-two"))
        assert r.status_code == 201, r.text
    project = f"{base}/work/research/p-two"

    signed_in(page, served_hub, users["admin"], "research-admin")
    page.get_by_role("navigation", name="Work").get_by_role("link", name="Research").click()
    waiting = page.get_by_role("table", name="Projects waiting for a decision")
    expect(waiting).to_contain_text("p-two")
    check(page, "research-approvals")
    waiting.get_by_role("link", name="p-two").click()
    check(page, "research-project-to-approve")
    page.get_by_label("Comment on the approval").fill("purpose within the agreements")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Your approval is recorded")
    main = page.locator("main")
    expect(main).to_contain_text(f"Approved so far by {users['admin']}")
    expect(main).to_contain_text("1 more approval of the LMIS unit")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    check(page, "research-first-approval")
    # The same administrator cannot approve twice, even past the page.
    again = page.request.post(
        f"{project}/decide", form={"csrf_token": csrf_of(page), "step": "approve", "text": ""}
    )
    assert again.status == 409 and "research.already_decided" in again.text()

    second = browser.new_context().new_page()
    try:
        signed_in(second, served_hub, SECOND_ADMIN, "research-second-admin")
        second.goto(project)
        second.get_by_role("button", name="Approve").click()
        expect(second.get_by_role("status")).to_contain_text("Your approval is recorded")
        expect(second.locator("dl.meta").first).to_contain_text("applied")
        expect(second.locator("main")).to_contain_text("Still needs: the decision of NIS")
        decisions = second.get_by_role("table", name="Decisions on the project and its members")
        expect(decisions).to_contain_text(users["admin"])
        expect(decisions).to_contain_text(SECOND_ADMIN)
        check(second, "research-second-approval")
    finally:
        second.context.close()

    operator = browser.new_context().new_page()
    try:
        sign_in_with_password(operator, base, users["operator"], PASSWORD)
        expect(operator).to_have_url(re.compile(r"/work$"))
        operator.goto(f"{base}/work/research")
        expect(
            operator.get_by_role("heading", name="Waiting for your agency's decision")
        ).to_be_visible()
        operator.get_by_role("table", name="Projects waiting for a decision").get_by_role(
            "link", name="p-two"
        ).click()
        check(operator, "research-agency-decision")
        operator.get_by_label("Approve").check()
        operator.get_by_label("Comment").fill("within our agreement")
        operator.get_by_role("button", name="Record the decision").click()
        expect(operator.get_by_role("status")).to_contain_text("agency's decision is recorded")
        expect(operator.locator("dl.meta").first).to_contain_text("approved")
        expect(operator.locator("dl.meta").first).to_contain_text(
            f"by {users['admin']}, {SECOND_ADMIN}"
        )
        decisions = operator.get_by_role("table", name="Decisions on the project and its members")
        expect(decisions.get_by_role("row").filter(has_text=AGENCY.upper())).to_contain_text(
            users["operator"]
        )
    finally:
        operator.context.close()

    # The LMIS unit suspends it (a reason is needed) and resumes it.
    page.goto(project)
    missing = page.request.post(
        f"{project}/decide", form={"csrf_token": csrf_of(page), "step": "suspend", "text": " "}
    )
    assert missing.status == 422 and "request.invalid" in missing.text()
    page.get_by_label("Reason to suspend").fill("ethics review")
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("status")).to_contain_text("suspended")
    expect(page.locator("dl.meta").first).to_contain_text("suspended")
    check(page, "research-suspended")
    page.get_by_label("Reason to resume").fill("review passed")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("dl.meta").first).to_contain_text("approved")
    [approval] = audit_entries(served_hub, tag="project:approve", subject="project:p-two")
    assert approval["details"]["approvers"] == sorted([users["admin"], SECOND_ADMIN])  # type: ignore[index]
