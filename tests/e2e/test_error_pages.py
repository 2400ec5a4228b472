"""A clerk who follows a manager's link sees our 403 page: what was tried, who may, a way back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tenancy.models import Role
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_clerk_following_a_managers_link_sees_our_403_page(world, page, sign_in):
    sign_in(world.staff_a[Role.CLERK])
    response = page.goto("/analytics/")
    assert response.status == 403
    expect(page.get_by_role("heading", name="您无权打开此页面")).to_be_visible()
    expect(page.get_by_text("经营看板")).to_be_visible()
    expect(page.locator(".badge", has_text="店长")).to_be_visible()
    expect(page.get_by_role("navigation", name="主导航")).to_be_attached()  # the design system
    for width in (1366, 768):
        page.set_viewport_size({"width": width, "height": 860})
        screenshot(page, f"error-403-clerk-{width}")
    page.get_by_role("link", name="返回首页").click()
    page.wait_for_url("**/")
    expect(page.get_by_role("heading", name="您无权打开此页面")).to_have_count(0)

    response = page.goto("/no-such-page/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
    page.set_viewport_size({"width": 768, "height": 860})
    screenshot(page, "error-404-768")
