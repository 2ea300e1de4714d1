"""Driving the web pages in Chromium: open a page and check it (HTTP status, axe-core
with no serious or critical violation, a screenshot kept), sign in with the
authenticator, and an authenticator that never offers the same code twice."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pyotp
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.fixtures.browser import artifacts_dir

BLOCKING = ("serious", "critical")
_axe = Axe()


def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    results = _axe.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def check(page: Page, name: str) -> None:
    """The page as it is now passes axe-core and is kept as a screenshot ``name``."""
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"), full_page=True)
    problems = accessibility_problems(page)
    assert not problems, f"{name}: {page.url}\n" + "\n".join(problems)


def visit(page: Page, url: str, name: str, *, status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None and response.status == status, (url, response and response.status)
    check(page, name)


@dataclass
class Authenticator:
    """A TOTP app: codes for successive time steps, never one the hub has seen (the hub
    accepts each step once, and the next step too, for clock drift)."""

    secret: str
    last_step: int = field(default=-1)

    def code(self) -> str:
        now = int(time.time()) // 30
        step = max(now, self.last_step + 1)
        if step > now + 1:  # both steps of this window used: wait for the next
            time.sleep((step - 1) * 30 - time.time() + 0.5)
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * 30)


def secret_on(page: Page) -> str:
    text = page.locator("[data-secret]").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{16,}", text), text
    return text


def sign_in_with_password(page: Page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def enrol(page: Page, name: str) -> tuple[Authenticator, list[str]]:
    """On the enrolment page after the password: reveal the key, confirm a code, keep the
    recovery codes, continue."""
    page.get_by_role("button", name="Show my authenticator key").click()
    check(page, f"{name}-enrol-key")
    app = Authenticator(secret_on(page))
    page.get_by_label("Code from the authenticator").fill(app.code())
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_role("list", name="Recovery codes").locator("li").all_inner_texts()
    check(page, f"{name}-recovery-codes")
    page.get_by_role("link", name="continue").click()
    return app, codes


def sign_in(page: Page, base: str, username: str, password: str, app: Authenticator) -> None:
    sign_in_with_password(page, base, username, password)
    page.get_by_label("Code", exact=True).fill(app.code())
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(re.compile(r".*/work$"))
