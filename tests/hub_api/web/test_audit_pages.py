"""The audit log for the steering committee and auditors, in a real browser: entries
with filters, the chain verified (and found broken when a row is altered), the signed
checkpoints, the export; other roles are refused by the server, not just by the menu."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from hub_api.wiring import database
from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.web.browsing import check, enrol, sign_in_with_password, visit


def signed_in_as(page: Page, served_hub: ServedHub, role: str) -> None:
    sign_in_with_password(page, served_hub.url, served_hub.user(role), PASSWORD)
    enrol(page, f"audit-{role}")
    expect(page).to_have_url(re.compile(r"/work$"))


def test_the_steering_committee_reviews_verifies_and_exports_the_log(
    page: Page, served_hub: ServedHub
) -> None:
    base = served_hub.url
    signed_in_as(page, served_hub, "steering_member")
    page.get_by_role("navigation", name="Work").get_by_role("link", name="Audit log").click()
    check(page, "audit-log")
    page.get_by_label("Tag").fill("account:")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"tag=account%3A"))
    check(page, "audit-log-filtered")
    tags = page.get_by_role("table").locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert tags and all(t.startswith("account:") for t in tags)
    assert "account:totp_enrol" in tags  # this very sign-in's enrolment is there

    page.get_by_role("button", name="Verify the whole chain").click()
    expect(page.get_by_role("status")).to_contain_text("Intact")
    check(page, "audit-verify")

    page.goto(f"{base}/work/audit")
    page.get_by_role("link", name="Signed checkpoints").click()
    check(page, "audit-checkpoints")

    page.goto(f"{base}/work/audit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export (JSON lines)").click()
    lines = download.value.path().read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) > 5
    # the verification and the export are themselves audited, naming the member
    page.goto(f"{base}/work/audit?tag=audit:verify")
    expect(page.get_by_role("table")).to_contain_text(served_hub.user("steering_member"))


def test_an_altered_entry_shows_the_chain_broken(page: Page, served_hub: ServedHub) -> None:
    signed_in_as(page, served_hub, "auditor")
    engine = database(served_hub.settings)
    with engine.begin() as conn:
        # an insider with the database owner's rights, past the append-only trigger
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        seq, details = conn.execute(
            sa.text("SELECT seq, details FROM audit_entries ORDER BY seq LIMIT 1 OFFSET 3")
        ).one()
        conn.execute(
            sa.text("UPDATE audit_entries SET details = :d WHERE seq = :s"),
            {
                "d": details.replace("}", ', "x": 1}', 1) if details != "{}" else '{"x": 1}',
                "s": seq,
            },
        )
    try:
        page.goto(f"{served_hub.url}/work/audit")
        page.get_by_role("button", name="Verify the whole chain").click()
        expect(page.get_by_role("alert")).to_contain_text("Broken")
        expect(page.locator("dl.meta")).to_contain_text(str(seq))
        check(page, "audit-verify-broken")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                sa.text("UPDATE audit_entries SET details = :d WHERE seq = :s"),
                {"d": details, "s": seq},
            )
        engine.dispose()


def test_other_roles_are_refused_by_the_server(page: Page, served_hub: ServedHub) -> None:
    base = served_hub.url
    sign_in_with_password(page, base, served_hub.user("agency_operator"), PASSWORD)
    expect(page).to_have_url(re.compile(r"/work$"))
    nav = page.get_by_role("navigation", name="Work")
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
    visit(page, f"{base}/work/audit", "audit-refused", status=403)
    expect(page.locator("main")).to_contain_text("policy.role_not_permitted")
