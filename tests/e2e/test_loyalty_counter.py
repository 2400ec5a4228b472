"""A clerk redeems points for a gift at the counter, in a real browser."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty import services
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.e2e.conftest import open_nav, screenshot
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member(world):
    with tenant_context(world.tenant_a):
        rule = services.points_rule()
        rule.expiry_months = 0  # this month's points expire at its end: "expiring soon"
        rule.save()
        member = CustomerFactory(home_store=world.store_a1, phone="13812345678", name="陈静")
        services.points_earn_for_sale(
            customer=member, source_key="sale:1", amount=Decimal("1250"), store=world.store_a1,
            occurred_at=timezone.now() - datetime.timedelta(minutes=5),
        )  # fmt: skip
    return member


def test_clerk_finds_a_member_and_redeems_a_gift(world, page, sign_in, member):
    sign_in(world.staff_a[Role.CLERK])
    open_nav(page, "积分兑换")
    page.get_by_label("手机号、会员卡号或手机尾号后 4 位").fill("13812345678")
    page.get_by_role("button", name="查找会员").click()
    page.wait_for_url(f"**/loyalty/members/{member.pk}/redeem/")
    assert page.get_by_test_id("balance").inner_text() == "1250"
    assert page.get_by_text("¥12.50").is_visible()
    assert page.get_by_role("heading", name="即将过期").is_visible()
    screenshot(page, "loyalty-counter-member")

    page.get_by_label("兑换积分").fill("2000")
    page.get_by_label("礼品或用途").fill("保温杯")
    page.get_by_role("button", name="兑换", exact=True).click()
    assert page.get_by_text("积分不足：可用 1250，需要 2000。").is_visible()
    screenshot(page, "loyalty-counter-insufficient")

    page.get_by_label("兑换积分").fill("1000")
    page.get_by_role("button", name="兑换", exact=True).click()
    assert page.get_by_text("已兑换 1000 积分（保温杯），当前余额 250。").is_visible()
    assert page.get_by_test_id("balance").inner_text() == "250"
    screenshot(page, "loyalty-counter-redeemed")

    page.get_by_role("link", name="积分明细").first.click()
    assert page.get_by_role("cell", name="保温杯").is_visible()
    screenshot(page, "loyalty-member-history")


def test_counter_redeem_page_works_at_phone_width(world, page, sign_in, member):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(world.staff_a[Role.CLERK])
    page.goto(f"/loyalty/members/{member.pk}/redeem/")
    assert page.get_by_role("button", name="兑换", exact=True).is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(page, "loyalty-counter-phone")


def test_hq_admin_adds_a_tier_and_changes_the_points_rule(world, page, sign_in):
    sign_in(world.staff_a[Role.HQ_ADMIN])
    open_nav(page, "积分与等级规则")
    page.get_by_role("link", name="新增等级").click()
    page.get_by_label("顺序").fill("1")
    page.get_by_label("编码").fill("GOLD")
    page.get_by_label("名称").fill("金卡")
    page.get_by_label("升级消费额").fill("5000")
    page.get_by_label("积分倍率").fill("1.5")
    page.get_by_label("权益").fill("免费包装")
    page.get_by_role("button", name="保存等级").click()
    assert page.get_by_text("等级已保存。").is_visible()
    assert page.get_by_role("cell", name="金卡", exact=True).is_visible()
    page.get_by_label("积分有效期（月）").fill("6")
    page.get_by_label("不积分的商品类别").fill("烟草，礼品卡")
    page.get_by_role("button", name="保存规则").click()
    assert page.get_by_text("积分规则已保存。").is_visible()
    assert page.get_by_label("不积分的商品类别").input_value() == "烟草, 礼品卡"
    screenshot(page, "loyalty-settings")


def test_member_profile_shows_the_points_panel(world, page, sign_in, member):
    sign_in(world.staff_a[Role.CLERK])
    page.goto(f"/members/{member.pk}/")
    assert page.get_by_test_id("balance").inner_text() == "1250"
    page.get_by_role("link", name="积分兑换").last.click()
    page.wait_for_url(f"**/loyalty/members/{member.pk}/redeem/")
    page.go_back()
    screenshot(page, "loyalty-profile-panel")
