"""Ingest status and the quarantine on the web, in a real browser: the LMIS unit reads
what each agency delivered, finds a refused message by its reason and replays it; an
agency operator sees their own agency's deliveries and refusals (the reasons, never the
content) and nothing of another agency's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from governance.deliveries.models import IngestedBatch
from hub_api.wiring import governance_session
from tests.dags.hubs import quarantine
from tests.hub_api.http.conftest import AGENCY, PASSWORD, ServedHub
from tests.hub_api.web.browsing import check, enrol, sign_in_with_password, visit
from tests.hub_api.web.test_agreement_pages import signed_in

RECEIVED = datetime(2026, 11, 2, 9, tzinfo=UTC)
#: What the seeded messages hold; no page may ever show it.
CONTENT = "not a batch"


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    return ("nis/contribution", "tvet/trainee")


@pytest.fixture(scope="module")
def seeded(served_hub: ServedHub) -> dict[str, str]:
    """Three accepted batches (two of nis, one of tvet) and three refused messages (two
    of nis, one of tvet); the ids of the refused ones by ``agency:reason``."""
    with governance_session(served_hub.settings, actor="setup") as gov:
        for i, (agency, dataset, records) in enumerate(
            [("nis", "contribution", 10), ("nis", "contribution", 5), ("tvet", "trainee", 7)]
        ):
            gov.session.add(
                IngestedBatch(
                    batch_id=f"web-{i}", agency=agency, dataset=dataset, content_digest="0" * 64,
                    agreement_id=f"dsa-{agency}-lmis", agreement_version=1,
                    lake_table=f"bronze.{agency}__{dataset}", snapshot_id=f"{7000 + i}",
                    records=records, received_at=RECEIVED + timedelta(hours=i),
                )
            )  # fmt: skip
    settings = served_hub.settings
    return {
        f"{agency}:{reason}": quarantine(settings, agency, reason, RECEIVED + timedelta(days=i))
        for i, (agency, reason) in enumerate(
            [("nis", "signature.invalid"), ("nis", "schema.unknown"), ("tvet", "signature.invalid")]
        )
    }


def test_the_lmis_unit_follows_ingest_and_replays_a_refused_message(
    page: Page, served_hub: ServedHub, seeded: dict[str, str]
) -> None:
    base = served_hub.url
    sign_in_with_password(page, base, served_hub.user("lmis_admin"), PASSWORD)
    enrol(page, "operations-admin")
    expect(page).to_have_url(re.compile(r"/work$"))
    nav = page.get_by_role("navigation", name="Work")

    nav.get_by_role("link", name="Ingest").click()
    status = page.get_by_role("table")
    nis_row = status.get_by_role("row", name=re.compile(r"^nis contribution"))
    expect(nis_row).to_contain_text("15")  # records of its two batches
    expect(status.get_by_role("row", name=re.compile(r"^tvet contribution"))).to_contain_text("1")
    check(page, "ingest-admin")
    page.get_by_role("link", name="nis", exact=True).click()
    batches = page.get_by_role("table", name=re.compile("accepted batches"))
    expect(batches.locator("tbody tr")).to_have_count(2)
    expect(batches).to_contain_text("7001")  # the lake commit the receipt named
    check(page, "ingest-agency-admin")

    nav.get_by_role("link", name="Quarantine").click()
    check(page, "quarantine-admin")
    page.get_by_label("Reason code").fill("signature.invalid")
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(2)
    assert {t.strip() for t in rows.locator("td:nth-child(2)").all_inner_texts()} == {"nis", "tvet"}
    assert CONTENT not in page.content()

    page.goto(f"{base}/work/quarantine/{seeded['nis:signature.invalid']}")
    expect(page.locator("dl.meta")).to_contain_text("signature.invalid")
    check(page, "quarantined-admin")
    page.get_by_label("Send the agency the new receipt").uncheck()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replay the message").click()
    # decided again with every envelope check: still refused, for the new reason
    expect(page.get_by_role("status")).to_contain_text("refused again")
    meta = page.locator("dl.meta")
    expect(meta).to_contain_text("envelope.missing_header")
    expect(meta.locator("dd").filter(has_text="signature.invalid")).to_have_count(1)  # first
    expect(meta).to_contain_text("1, the last")
    check(page, "quarantined-replayed")
    assert CONTENT not in page.content()
    with governance_session(served_hub.settings, actor="setup") as gov:
        tags = [e.tag for e in gov.audit.search(tag="quarantine:replay")]
    assert tags == ["quarantine:replay"]


def tab_to_link(page: Page, href: str, *, presses: int = 60) -> None:
    """Press Tab until the link to ``href`` has the focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == href:
            return
    raise AssertionError(f"no link to {href} within {presses} presses of Tab")


def test_an_agency_operator_sees_only_their_agencys_deliveries_and_refusals(
    page: Page, served_hub: ServedHub, seeded: dict[str, str]
) -> None:
    base = served_hub.url
    sign_in_with_password(page, base, served_hub.user("agency_operator"), PASSWORD)
    expect(page).to_have_url(re.compile(r"/work$"))
    nav = page.get_by_role("navigation", name="Work")

    nav.get_by_role("link", name="Ingest").click()
    status = page.get_by_role("table")
    expect(status).to_contain_text(AGENCY)
    expect(status).not_to_contain_text("tvet")
    expect(page.get_by_label("Agency")).to_have_count(0)  # nothing to choose
    check(page, "ingest-operator")
    visit(page, f"{base}/work/ingest/{AGENCY}", "ingest-agency-operator")
    expect(page.get_by_role("table", name=re.compile("accepted batches"))).to_contain_text("web-0")

    # With the keyboard alone: to the quarantine, then to the schema.unknown message.
    tab_to_link(page, "/work/quarantine")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/work/quarantine$"))
    rows = page.get_by_role("table").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(page.get_by_role("table")).not_to_contain_text("tvet")
    expect(page.get_by_role("table")).to_contain_text("schema.unknown")
    check(page, "quarantine-operator")
    tab_to_link(page, f"/work/quarantine/{seeded['nis:schema.unknown']}")
    page.keyboard.press("Enter")
    expect(page.locator("dl.meta")).to_contain_text("refused for the test")
    expect(page.get_by_role("button", name="Replay the message")).to_have_count(0)
    assert CONTENT not in page.content()
    check(page, "quarantined-operator")

    visit(page, f"{base}/work/ingest/tvet", "ingest-other-agency", status=403)
    expect(page.locator("main")).to_contain_text("policy.other_agency_data")
    tvet = seeded["tvet:signature.invalid"]
    visit(page, f"{base}/work/quarantine/{tvet}", "quarantined-other-agency", status=403)
    expect(page.locator("main")).to_contain_text("policy.other_agency_data")


def test_replay_and_the_quarantine_are_refused_to_other_roles(
    served_hub: ServedHub, seeded: dict[str, str]
) -> None:
    qid = seeded["nis:schema.unknown"]
    with signed_in(served_hub, "agency_operator") as (http, csrf):
        refused = http.post(f"/work/quarantine/{qid}/replay", data={"csrf_token": csrf})
        assert refused.status_code == 403 and "policy.role_not_permitted" in refused.text
        assert http.get("/work/quarantine?agency=tvet").status_code == 403
        assert http.get("/work/ingest?agency=tvet").status_code == 403
    with signed_in(served_hub, "lmis_analyst") as (http, _):
        assert http.get("/work/quarantine").status_code == 403
        assert http.get(f"/work/quarantine/{qid}").status_code == 403
        status = http.get("/work/ingest?agency=tvet")
        assert status.status_code == 200 and 'href="/work/ingest/tvet"' in status.text
        assert 'href="/work/ingest/nis"' not in status.text
        missing = http.get("/work/ingest/nowhere")
        assert missing.status_code == 404 and "agency.unknown" in missing.text
