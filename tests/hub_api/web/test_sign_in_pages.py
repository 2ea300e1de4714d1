"""Signing in on the web, in a real browser: a first sign-in enrols the authenticator
(key shown once, recovery codes shown once), later ones ask for its code or a recovery
code; wrong answers are shown with their reason code; a password set by the LMIS unit
must be changed first; the analyst's journey works with the keyboard alone."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from hub_api.wiring import accounts, governance_session
from tests.hub_api.http.conftest import PASSWORD, ServedHub
from tests.hub_api.web.browsing import (
    check,
    enrol,
    sign_in_with_password,
    visit,
)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_first_sign_in_enrols_then_the_code_or_a_recovery_code_is_asked(
    page: Page, served_hub: ServedHub
) -> None:
    base, user = served_hub.url, served_hub.user("steering_member")
    visit(page, f"{base}/work/audit", "signin-redirect")  # sends to sign-in, then back
    expect(page).to_have_url(re.compile(r"/login\?next=/work/audit$"))
    check(page, "signin-login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("auth.invalid_credentials")
    check(page, "signin-wrong-password")

    sign_in_with_password(page, base, user, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/enrol$"))
    check(page, "signin-enrol")
    app, codes = enrol(page, "signin")
    assert len(codes) == 10 and len(set(codes)) == 10
    expect(page).to_have_url(re.compile(r"/work$"))
    work_nav = page.get_by_role("navigation", name="Work")
    expect(work_nav.get_by_role("link", name="Audit log")).to_be_visible()
    check(page, "work-overview-steering")
    sign_out(page)

    # Later: the authenticator's code; a wrong one is refused with its reason.
    sign_in_with_password(page, base, user, PASSWORD)
    expect(page).to_have_url(re.compile(r"/login/code"))
    check(page, "signin-code")
    page.get_by_label("Code", exact=True).fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("auth.totp_invalid")
    page.get_by_label("Code", exact=True).fill(app.code())
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/work$"))
    sign_out(page)

    # Or a recovery code, once.
    for attempt in ("accepted", "refused"):
        sign_in_with_password(page, base, user, PASSWORD)
        page.get_by_label("Recovery code").check()
        page.get_by_label("Code", exact=True).fill(codes[0])
        page.get_by_role("button", name="Continue").click()
        if attempt == "accepted":
            expect(page).to_have_url(re.compile(r"/work$"))
            sign_out(page)
        else:
            expect(page.get_by_role("alert")).to_contain_text("auth.recovery_code_invalid")


def test_a_password_set_by_the_lmis_unit_is_changed_first(
    page: Page, served_hub: ServedHub
) -> None:
    base, user = served_hub.url, served_hub.user("lmis_analyst")
    given, chosen = "handed over in person 1", "my own passphrase for the hub"
    with governance_session(served_hub.settings, actor="setup") as gov:
        accounts(gov).reset(user, actor=served_hub.user("lmis_admin"), password=given)
    sign_in_with_password(page, base, user, given)
    expect(page).to_have_url(re.compile(r"/account#password$"))
    expect(page.locator("main")).to_contain_text("choose your own")
    check(page, "account-must-change")
    visit(page, f"{base}/work", "account-must-change-redirect")
    expect(page).to_have_url(re.compile(r"/account#password$"))
    page.get_by_label("Current password").fill(given)
    page.get_by_label("New password", exact=True).fill(chosen)
    page.get_by_label("New password again").fill("something else entirely")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_contain_text("the two new passwords differ")
    page.get_by_label("Current password").fill(given)
    page.get_by_label("New password", exact=True).fill(chosen)
    page.get_by_label("New password again").fill(chosen)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    check(page, "account")
    page.goto(f"{base}/work")
    expect(page).to_have_url(re.compile(r"/work$"))


def test_signing_in_works_with_the_keyboard_alone(page: Page, served_hub: ServedHub) -> None:
    """The operator's role may sign in without an authenticator: password only."""
    base, user = served_hub.url, served_hub.user("agency_operator")
    page.goto(f"{base}/login")
    expect(page.get_by_label("User name")).to_be_focused()  # autofocus
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/work$"))
    # to "My account" by Tab alone, then Enter
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "My account":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")
    expect(page.locator("dl.meta")).to_contain_text("NIS")
