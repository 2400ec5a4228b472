"""A new clerk opens the help for the page they are on, then works through onboarding while
their manager watches the progress."""

import pytest

from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import open_nav, screenshot
from tests.factories import PASSWORD, CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_new_clerk_reads_the_help_for_the_lookup_and_the_manager_sees_it(
    world, page, sign_in, browser, live_server
):
    with tenant_context(world.tenant_a):
        CustomerFactory(phone="13812345678", name="王芳", home_store=world.store_a1)
    clerk = world.staff_a[Role.CLERK]
    sign_in(clerk)
    assert page.get_by_text("您的入职清单：已完成 0/4 步。").is_visible()

    open_nav(page, "会员查询")
    page.locator("[data-help-link]").click()
    page.wait_for_url("**/help/?manual=clerk#member-lookup")
    section = page.locator("#member-lookup")
    assert section.inner_text() == "查找会员"
    assert section.is_visible()
    assert page.get_by_role("navigation", name="目录").get_by_role("link", name="收银记账").count()
    screenshot(page, "help-clerk-member-lookup")

    open_nav(page, "会员查询")
    page.get_by_label("手机号、手机尾号后4位或会员卡号").fill("5678")
    page.locator("#lookup-results").get_by_role("link", name="王芳").click()
    page.get_by_role("heading", name="王芳").wait_for()

    page.goto("/onboarding/")
    assert page.get_by_text("已完成 2/4 步。").is_visible()
    screenshot(page, "onboarding-clerk")

    manager_context = browser.new_context(base_url=live_server.url, locale="zh-CN")
    manager_page = manager_context.new_page()
    manager_page.goto("/accounts/login/")
    manager = world.staff_a[Role.STORE_MANAGER]
    manager_page.get_by_label("用户名").fill(manager.user.username)
    manager_page.get_by_label("密码").fill(PASSWORD)
    manager_page.get_by_role("button", name="登录").click()
    manager_page.wait_for_url("**/")
    manager_page.goto("/onboarding/team/")
    row = manager_page.get_by_role("row").filter(has_text=clerk.display_name)
    assert "2/4" in row.inner_text()
    screenshot(manager_page, "onboarding-team-manager")
    manager_context.close()
