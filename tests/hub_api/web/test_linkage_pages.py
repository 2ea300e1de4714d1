"""Clerical review of the linkage in a real browser: an analyst of the LMIS unit sees
the pairs a real run on a small tokenised population could not decide, opens one (its
opaque record ids, the comparisons and attributes that identify nobody; only the pair's
number in the address), decides it, and sees it leave the queue; the runs are listed.
The run is made as tests/hub_api/http/test_linkage_api.py makes it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.http.test_governance_api import audit_entries
from tests.hub_api.http.test_linkage_api import hub_datasets, run_id  # noqa: F401 - fixtures
from tests.hub_api.web.browsing import check, sign_in_with_password


def test_an_analyst_decides_a_pair(
    page: Page,
    served_hub: ServedHub,
    run_id: int,  # noqa: F811
) -> None:
    base = served_hub.url
    analyst = served_hub.user("lmis_analyst")
    sign_in_with_password(page, base, analyst, PASSWORD)
    expect(page).to_have_url(re.compile(r"/work$"))
    page.get_by_role("navigation", name="Work").get_by_role("link", name="Linkage review").click()
    queue = page.get_by_role("table", name=re.compile("^Open pairs"))
    links = queue.get_by_role("link", name=re.compile(r"^Review pair \d+$"))
    expect(links.first).to_be_visible()
    before = links.count()
    check(page, "linkage-queue")

    first = links.first
    pair = first.inner_text().removeprefix("Review pair ")
    first.click()
    expect(page).to_have_url(re.compile(rf"/work/linkage/review/{pair}$"))
    records = page.get_by_role("table", name="The two records")
    ids = records.get_by_role("row").filter(has_text="opaque id").locator("code").all_inner_texts()
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    expect(page.get_by_role("table", name="How their tokens compared")).to_be_visible()
    assert "token" not in records.inner_text().lower()
    check(page, "linkage-pair")

    page.get_by_label("Match: one person").check()
    page.get_by_label("Why").fill("same birth year and region")
    page.get_by_role("button", name="Record the decision").click()
    expect(page).to_have_url(re.compile(r"/work/linkage\?done=match$"))
    expect(page.get_by_role("status")).to_contain_text("one person")
    expect(page.get_by_role("link", name=f"Review pair {pair}", exact=True)).to_have_count(0)
    assert page.get_by_role("link", name=re.compile(r"^Review pair \d+$")).count() in (
        before - 1,
        before,  # a full queue shows the next pair in its place
    )
    check(page, "linkage-decided")
    [decided] = audit_entries(served_hub, tag="linkage:review", subject=f"review:{pair}")
    assert decided["actor"] == analyst and decided["details"]["decision"] == "match"  # type: ignore[index]

    # Decided once: the pair's page says so, and a second decision is refused.
    page.goto(f"{base}/work/linkage/review/{pair}")
    expect(page.locator("dl.meta")).to_contain_text("decided")
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    again = page.request.post(
        f"{base}/work/linkage/review/{pair}/decision",
        form={"csrf_token": csrf, "decision": "no_match"},
    )
    assert again.status == 409 and "linkage.review_invalid" in again.text()

    page.goto(f"{base}/work/linkage")
    page.get_by_role("link", name="Linkage runs").click()
    runs = page.get_by_role("table", name=re.compile("^Linkage runs"))
    expect(runs.locator("tbody tr").first).to_contain_text("committed")
    expect(runs.locator("tbody tr td").first).to_have_text(str(run_id))
    check(page, "linkage-runs")


def tab_to(page: Page, script: str, *, presses: int = 60) -> None:
    """Tab until ``script`` (about ``document.activeElement``) holds."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const e = document.activeElement; return {script}; }})()"):
            return
    raise AssertionError(f"never focused: {script}")


def test_a_pair_is_decided_with_the_keyboard_alone(
    page: Page,
    served_hub: ServedHub,
    run_id: int,  # noqa: F811
) -> None:
    base = served_hub.url
    sign_in_with_password(page, base, served_hub.user("lmis_analyst"), PASSWORD)
    expect(page).to_have_url(re.compile(r"/work$"))
    page.goto(f"{base}/work/linkage")
    tab_to(page, "e.textContent.startsWith('Review pair ')")
    pair = page.locator(":focus").inner_text().removeprefix("Review pair ")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/work/linkage/review/{pair}$"))
    tab_to(page, "e.id === 'decision-match'")
    page.keyboard.press("ArrowDown")  # the radio group's next choice: no match
    expect(page.get_by_label("No match: two people")).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Why")).to_be_focused()
    page.keyboard.type("different birth years")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Record the decision")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/work/linkage\?done=no_match$"))
    expect(page.get_by_role("link", name=f"Review pair {pair}", exact=True)).to_have_count(0)
