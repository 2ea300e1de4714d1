"""The airlock in a real browser: an output checker sees the outputs waiting, reads one
output's automatic checks rule by rule, approves one (it waits for a second checker,
who releases it) and refuses another with the reason; the same checker cannot decide
twice. Outputs are submitted through the API as tests/hub_api/http/test_research_api.py
does."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.http.test_research_api import (  # noqa: F401 - fixtures
    FREQUENCY,
    SAFE,
    SECOND_CHECKER,
    approved,
    as_user,
    hub_datasets,
    tokens,
    users,
)
from tests.hub_api.web.browsing import check, enrol, sign_in_with_password


@pytest.fixture(scope="module")
def outputs(
    served_hub: ServedHub,
    tokens: dict[str, str],  # noqa: F811
    users: dict[str, str],  # noqa: F811
    approved: str,  # noqa: F811
) -> dict[str, int]:
    """Three outputs of the approved project: two the checks pass, one they refuse."""
    made = {}
    small = b"sex,employed,unemployed\n1,120,3\n2,98,21\n"
    with as_user(served_hub, tokens, users["researcher"]) as http:
        for name, data in (("by-sex.csv", SAFE), ("by-sex-2.csv", SAFE), ("small.csv", small)):
            r = http.post(
                f"/api/v1/research/projects/{approved}/outputs",
                files={"file": (name, data)},
                data=FREQUENCY,
            )
            assert r.status_code in (200, 201), r.text
            made[name] = r.json()["id"]
    return made


def test_an_output_checker_decides_outputs(
    page: Page,
    served_hub: ServedHub,
    tokens: dict[str, str],  # noqa: F811
    users: dict[str, str],  # noqa: F811
    approved: str,  # noqa: F811
    outputs: dict[str, int],
) -> None:
    base = served_hub.url
    sign_in_with_password(page, base, users["checker"], PASSWORD)
    enrol(page, "airlock-checker")
    expect(page).to_have_url(re.compile(r"/work$"))
    page.get_by_role("navigation", name="Work").get_by_role("link", name="Airlock").click()
    waiting = page.get_by_role("table", name=re.compile("^Outputs waiting for a checker"))
    expect(waiting.locator("tbody tr")).to_have_count(2)
    decided = page.get_by_role("table", name=re.compile("^Outputs released or refused"))
    expect(decided).to_contain_text("refused by rules")
    check(page, "airlock-queue")

    waiting.get_by_role("link", name="by-sex.csv").click()
    expect(page).to_have_url(re.compile(rf"/work/airlock/{approved}/{outputs['by-sex.csv']}$"))
    rules = page.get_by_role("table", name="The airlock's rules, one by one")
    expect(rules.locator("tbody tr")).to_have_count(4)
    expect(
        rules.get_by_role("row").filter(has=page.get_by_text("threshold", exact=True))
    ).to_contain_text("pass")
    check(page, "airlock-output")
    page.get_by_label("Approve").check()
    page.get_by_label("Reason").fill("every cell counts 10 or more")
    page.get_by_role("button", name="Record my decision").click()
    expect(page.get_by_role("status")).to_contain_text("Your approval is recorded")
    expect(page.locator("dl.meta")).to_contain_text("awaiting checkers")
    reviews = page.get_by_role("table", name="Decisions of the output checkers")
    expect(reviews).to_contain_text(users["checker"])
    expect(page.get_by_role("button", name="Record my decision")).to_have_count(0)
    check(page, "airlock-output-approved-once")
    # Not twice by the same checker, even past the page.
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    again = page.request.post(
        f"{page.url.split('?')[0]}/review",
        form={"csrf_token": csrf, "decision": "approve", "comment": "again"},
    )
    assert again.status == 409 and "research.already_decided" in again.text()

    # A second checker releases it; the first sees it released.
    with as_user(served_hub, tokens, SECOND_CHECKER) as http:
        r = http.post(
            f"/api/v1/research/projects/{approved}/outputs/{outputs['by-sex.csv']}/review",
            json={"approve": True, "comment": "agreed"},
        )
        assert r.json()["state"] == "released", r.text
    page.reload()
    expect(page.locator("dl.meta")).to_contain_text("released")

    # The other one is refused, with the reason, and leaves the queue.
    page.goto(f"{base}/work/airlock")
    page.get_by_role("link", name="by-sex-2.csv").click()
    page.get_by_label("Refuse").check()
    page.get_by_label("Reason").fill("the same table as by-sex.csv")
    page.get_by_role("button", name="Record my decision").click()
    expect(page.get_by_role("status")).to_contain_text("will not be released")
    expect(page.locator("dl.meta")).to_contain_text("refused")
    check(page, "airlock-output-refused")
    page.goto(f"{base}/work/airlock")
    expect(page.get_by_role("table", name=re.compile("^Outputs waiting"))).to_have_count(0)
    expect(page.locator("main")).to_contain_text("No output is waiting.")
    check(page, "airlock-queue-empty")
