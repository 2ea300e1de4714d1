"""The web pages served for real (the API's application, on PostgreSQL, with a published
release of two indicators) and Chromium to look at them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from pyiceberg.catalog import Catalog

from schemas.catalog import SchemaCatalog
from tests.fixtures.browser import chromium_path
from tests.hub_api.http.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    ServedHub,
    hub_api_settings,
    served_hub,
)
from tests.hub_api.http.test_public_indicators import publish_two
from tests.integration.indicators.tables import rid
from tests.integration.indicators.test_release import JOBBOARD, land

#: Vacancies in 2026-01: six in Port of Spain, four in San Juan–Laventille and one in
#: Arima, which is below the rule's three contributors (suppressed, and another cell
#: with it so that the total does not give it away).
VACANCIES = [("TT-POS", "2320")] * 6 + [("TT-SJL", "7211")] * 4 + [("TT-ARI", "5223")]


def land_vacancies(lake: Catalog, schemas: SchemaCatalog) -> None:
    rows = [
        {
            "record_id": rid(i),
            "posted_date": date(2026, 1, 5),
            "occupation": occupation,
            "region": region,
            "positions": 1,
            "contract_type": "PERMANENT",
        }
        for i, (region, occupation) in enumerate(VACANCIES)
    ]
    land(lake, schemas, "jobboard", "vacancy", "posted_date", rows, JOBBOARD)


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    return ("jobboard/vacancy", "dol/complaint")


@pytest.fixture(scope="module")
def published(served_hub: ServedHub) -> str:  # noqa: F811
    """A release of the vacancies and complaints indicators, built and published."""
    return publish_two(served_hub.settings, land_vacancies)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
