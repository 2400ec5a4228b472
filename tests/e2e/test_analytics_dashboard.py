"""A store manager reads the dashboard in a real browser; HQ drills down from the ranking."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from analytics.aggregation import daily_stats_compute
from analytics.services import local_day
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.e2e.conftest import open_nav, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sales_history(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        today = local_day(timezone.now(), tenant)
        clerk = world.staff_a[Role.CLERK]
        for offset in range(1, 41):
            day = today - datetime.timedelta(days=offset)
            for n in range(offset % 5 + 1):
                record_sale(
                    world.store_a1,
                    datetime.datetime.combine(day, datetime.time(10 + n), tenant.zone),
                    lines=[line(f"SKU{n}", n + 1, "25.00", name=f"商品{n}")],
                    staff=clerk,
                )
            record_sale(
                world.store_a2,
                datetime.datetime.combine(day, datetime.time(15), tenant.zone),
                lines=[line("SKU9", 2, "60.00", name="礼盒")],
            )
            daily_stats_compute(day=day)
        record_sale(world.store_a1, timezone.now(), lines=[line("SKU1", 1, "18.00")], staff=clerk)


def test_store_manager_reads_the_dashboard_with_its_chart(world, page, sign_in, sales_history):
    sign_in(world.staff_a[Role.STORE_MANAGER])
    open_nav(page, "经营看板")
    assert page.get_by_role("heading", name="今日实时").is_visible()
    page.get_by_label("期间").select_option("month")
    page.get_by_role("button", name="显示").click()
    page.wait_for_load_state()
    chart = page.locator("svg.trend-chart")
    assert chart.is_visible()
    bars = chart.locator("rect.bar")
    assert bars.count() >= 1
    heights = [float(bars.nth(i).get_attribute("height")) for i in range(bars.count())]
    assert max(heights) > 0
    assert page.get_by_role("heading", name="畅销商品 Top 10").is_visible()
    assert page.get_by_role("heading", name="员工排行榜").is_visible()
    assert page.get_by_text("¥18.00").first.is_visible()  # today's live sale
    screenshot(page, "analytics-store-dashboard")


def test_hq_ranks_stores_and_drills_down(world, page, sign_in, sales_history):
    sign_in(world.staff_a[Role.HQ_ADMIN])
    page.goto("/analytics/?preset=12m")
    assert page.get_by_role("heading", name="门店排名").is_visible()
    assert page.locator("svg.trend-chart rect.bar").count() == 365
    screenshot(page, "analytics-hq-overview")
    page.get_by_role("link", name="BJ-ZY-001 甲一店").click()
    assert page.get_by_role("heading", name="BJ-ZY-001 甲一店").is_visible()
    page.set_viewport_size({"width": 390, "height": 800})
    screenshot(page, "analytics-store-dashboard-phone")
