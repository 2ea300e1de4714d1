"""The public LMI site in a real browser, without signing in: the start page, the
indicators with a chart and the same figures as a table (checked against the published
SDMX-CSV), a release's lineage, the calendar; every page passes axe-core, and the main
journey works with the keyboard alone."""

from __future__ import annotations

import csv
import io
import re

import httpx
from playwright.sync_api import Page, expect

from tests.hub_api.http.conftest import ServedHub
from tests.hub_api.web.browsing import check, visit

FLOW = "JOBBOARD_VACANCIES"


def published_csv(served_hub: ServedHub, release: str, flow: str) -> list[dict[str, str]]:
    data = httpx.get(f"{served_hub.url}/api/v1/public/releases/{release}/files/{flow}.csv")
    data.raise_for_status()
    return list(csv.DictReader(io.StringIO(data.text)))


def test_an_indicator_page_shows_the_published_figures(
    page: Page, served_hub: ServedHub, published: str
) -> None:
    base = served_hub.url
    visit(page, f"{base}/", "public-home")
    expect(page.get_by_role("heading", name="Vacancies advertised")).to_be_visible()
    page.get_by_role("link", name="Indicators", exact=True).click()
    check(page, "public-indicators")
    page.get_by_role("link", name="Vacancies advertised").click()
    expect(page).to_have_url(re.compile(r"/indicators/jobboard_vacancies$"))
    check(page, "public-indicator")
    page.get_by_label("Break down by").select_option("REGION")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"by=REGION"))
    check(page, "public-indicator-by-region")

    chart = page.get_by_role("img", name=re.compile("Vacancies advertised, 2026-01, by region"))
    expect(chart).to_be_visible()
    table = page.get_by_role("table", name=re.compile("by region"))
    shown = {
        row.locator("th").inner_text(): row.locator("td").first.inner_text()
        for row in table.locator("tbody tr").all()
    }
    # The same figures as the published SDMX-CSV: every region at the occupations' total.
    rows = published_csv(served_hub, published, FLOW)
    wanted = sorted(
        "suppressed" if r["OBS_STATUS"] == "Q" else str(int(float(r["OBS_VALUE"])))
        for r in rows
        if r["TIME_PERIOD"] == "2026-01" and r["OCCUPATION"].endswith("TOTAL")
    )
    assert len(wanted) == 4, rows[:3]
    assert sorted(v.replace(",", "") for v in shown.values() if v != "no figure") == wanted, shown
    assert shown["City of Port of Spain"] == "6"


def test_suppressed_cells_are_marked_and_never_shown(
    page: Page, served_hub: ServedHub, published: str
) -> None:
    rows = published_csv(served_hub, published, FLOW)
    hidden = [r for r in rows if r["OBS_STATUS"] == "Q"]
    assert hidden and all(r["OBS_VALUE"] == "" for r in hidden)
    visit(page, f"{served_hub.url}/indicators/jobboard_vacancies?by=REGION", "public-suppressed")
    table = page.get_by_role("table", name=re.compile("by region"))
    arima = table.locator("tbody tr", has_text="Borough of Arima")
    expect(arima.locator("td").first).to_have_text("suppressed")
    expect(arima.locator("td").nth(2)).to_contain_text("Confidential")
    # the chart says so in text too (a dashed box alone would be colour and shape only)
    desc = page.locator("svg.chart desc").text_content() or ""
    assert "Borough of Arima: suppressed" in desc


def test_a_release_shows_its_lineage_and_the_calendar_what_comes(
    page: Page, served_hub: ServedHub, published: str
) -> None:
    base = served_hub.url
    lineage = httpx.get(f"{base}/api/v1/public/releases/{published}").json()
    visit(page, f"{base}/releases", "public-releases")
    page.get_by_role("link", name=published).click()
    check(page, "public-release")
    snapshot = lineage["lake_snapshots"]["bronze.jobboard__vacancy"]
    expect(page.get_by_role("row", name=re.compile("bronze.jobboard__vacancy"))).to_contain_text(
        str(snapshot)
    )
    expect(page.get_by_role("row", name=re.compile("Vacancies advertised"))).to_contain_text(
        "dsa-jobboard-lmis v1"
    )
    manifest = page.get_by_role("link", name="release.json")
    assert (
        manifest.get_attribute("href") == f"/api/v1/public/releases/{published}/files/release.json"
    )
    visit(page, f"{base}/calendar", "public-calendar")
    planned = page.get_by_role("table").first.locator("tbody tr")
    assert planned.count() >= 12  # a year of monthly publications at least


def test_the_public_journey_works_with_the_keyboard_alone(
    page: Page, served_hub: ServedHub, published: str
) -> None:
    page.goto(f"{served_hub.url}/")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to main content")
    expect(skip).to_be_visible()  # shown when focused
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("LMIS Integration Hub")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Indicators")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/indicators$"))
    # to the first indicator link in the main content, by Tab alone
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.closest('main') !== null"):
            break
    link = page.locator(":focus")
    name = link.inner_text()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)


def test_an_unknown_page_is_a_page_too(page: Page, served_hub: ServedHub) -> None:
    visit(page, f"{served_hub.url}/no/such/page", "public-not-found", status=404)
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).to_contain_text("request.not_found")
    visit(page, f"{served_hub.url}/indicators/no_such_indicator", "public-no-indicator", status=404)
