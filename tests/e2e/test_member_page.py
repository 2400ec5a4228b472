"""The member page at the counter: a clerk opens a member with coupons, points and an open
case, on a 1366 px desktop and a 768 px tablet (issue 16)."""

import pytest

from tenancy.models import Role
from tests.customers.member_page import rich_member
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1366, 768])
def test_clerk_reads_the_member_page(world, page, sign_in, width):
    member = rich_member(world)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(world.staff_a[Role.CLERK])
    page.goto(f"/members/{member.pk}/")
    assert page.get_by_role("heading", name="王芳").is_visible()
    assert page.get_by_text("138****5678").first.is_visible()
    assert page.get_by_test_id("birthday").inner_text() == "2001-05-13"
    assert page.get_by_test_id("visits").inner_text() == "1"
    assert page.get_by_test_id("coupons").locator("li").count() == 2
    assert page.get_by_test_id("open-cases").get_by_role("link", name="包装破损投诉").is_visible()
    assert page.get_by_test_id("tier-progress").is_visible()
    # No card is wider than the window (no horizontal scrolling at the counter).
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # A store code never wraps: its box is one line high.
    code = page.locator(".visit-list .nowrap").nth(1)
    assert code.bounding_box()["height"] < 30
    assert "loyalty.points_redeemed" not in page.content()
    screenshot(page, f"member-page-{width}")
