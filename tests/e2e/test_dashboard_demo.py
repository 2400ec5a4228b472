"""A store manager opens the dashboard on a freshly seeded demo and sees a real picture."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from tenancy import demo
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZERO_MONEY = re.compile(r"^¥0\.00$")


def test_manager_opens_the_dashboard_on_fresh_demo_data(page):
    call_command("seed_demo", stdout=io.StringIO())
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/accounts/login/")
    page.get_by_label("用户名").fill("manager")
    page.get_by_label("密码").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/")
    page.goto("/analytics/")

    # Opens on the last 30 whole days, with today's live figures beside them.
    expect(page.get_by_label("期间")).to_have_value("30d")
    expect(page.get_by_text("（30 天）")).to_be_visible()
    today = page.locator(".kpis").first
    expect(today.locator(".value").first).not_to_have_text(ZERO_MONEY)

    compare = page.get_by_role("table").filter(has_text="去年同期")
    revenue_row = compare.get_by_role("row").filter(has_text="销售额").first
    expect(revenue_row.locator("td").first).not_to_have_text(ZERO_MONEY)
    expect(revenue_row).not_to_contain_text("-100.0%")

    chart = page.locator("svg.trend-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar")).to_have_count(30)
    heights = [
        float(h)
        for h in chart.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => b.getAttribute('height'))"
        )
    ]
    assert min(heights) > 0
    ticks = chart.locator("text[text-anchor='end']").all_text_contents()
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks) and ticks[0] == "0"
    numbers = [float(t.replace(",", "")) for t in ticks]
    assert numbers == sorted(numbers)

    channels = page.locator("section").filter(has=page.get_by_role("heading", name="销售渠道分布"))
    expect(channels.get_by_role("row")).to_have_count(4)  # header + three channels
    expect(channels).to_contain_text("门店收银")
    screenshot(page, "analytics-demo-dashboard-1366")

    page.set_viewport_size({"width": 768, "height": 1024})
    expect(chart).to_be_visible()
    screenshot(page, "analytics-demo-dashboard-768")
