"""Real-browser journeys: Debian's Chromium driven by Playwright against live_server.

Screenshots land in test-artifacts/ so a person (or a reviewer) can look at them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM
from tests.factories import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# Playwright's sync API runs an event loop in this thread; Django must still allow the
# test's own ORM calls around it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 860}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def sign_in(page):
    """Sign in through the real form as a staff member (factory password)."""

    def do(staff) -> None:
        page.goto("/accounts/login/")
        page.get_by_label("用户名").fill(staff.user.username)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/")

    return do


def screenshot(page, name: str) -> Path:
    """A full-page picture, leaving the page scrolled where it was.

    Chromium resizes the viewport to the whole page for the capture. When a text field has
    the focus, the page comes back reporting another scroll offset (scrollY went from 703 to
    the bottom, 974, on the campaign form) and the next mouse press jumps back to the old one.
    A click right after presses its button, the page moves under the pointer, the release
    lands on the form around it and nothing is submitted (the campaign journey's save button,
    issue 21). Scrolling back to the offset read before the capture keeps the two in step.
    """
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    where = page.evaluate("[window.scrollX, window.scrollY]")
    page.screenshot(path=str(path), full_page=True)
    page.evaluate("([x, y]) => window.scrollTo(x, y)", where)
    return path


def open_nav(page, label: str) -> None:
    """Follow a main-navigation link, unfolding its menu first when it sits in one."""
    nav = page.get_by_role("navigation", name="主导航")
    link = nav.get_by_role("link", name=label, exact=True, include_hidden=True)
    if not link.is_visible():
        link.locator("xpath=ancestor::details[1]/summary").click()
    link.click()
