"""HQ writes a campaign with a coupon and a holdout group for the members likely to buy a
product, watches the audience size and the preview change as the form changes, sends it and
reads the report, in a real browser."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from analytics import recommendations
from campaigns import services
from customers.models import Customer
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.campaigns.factories import CouponOfferFactory
from tests.e2e.conftest import open_nav, screenshot
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chain(world):
    """20 members of store A1 who agreed to marketing, 2 who did not; 5 of store A2."""
    with tenant_context(world.tenant_a):
        rules = services.campaign_settings()
        rules.quiet_start = rules.quiet_end = datetime.time(0, 0)  # no quiet hours
        rules.save()
        for n in range(20):
            CustomerFactory(
                home_store=world.store_a1,
                marketing_consent=True,
                name=f"甲会员{n:02d}",
                phone=f"139000000{n:02d}",
            )
        for _ in range(2):
            CustomerFactory(home_store=world.store_a1, marketing_consent=False)
        for _ in range(5):
            CustomerFactory(home_store=world.store_a2, marketing_consent=True)
        CouponOfferFactory(name="满200减30")
    return world


@pytest.fixture
def cake_pairs(chain):
    """Tea goes with cake (5 baskets with both). Store A1's even-numbered members who agreed
    to marketing (10) and the 2 who did not bought tea and no cake: likely to buy cake."""
    now = timezone.now()
    tea, cake = line("TEA", 1, name="龙井茶"), line("CAKE", 1, name="绿豆糕")
    with tenant_context(chain.tenant_a):
        for n in range(5):
            record_sale(chain.store_a1, now - datetime.timedelta(days=n + 1), [tea, cake])
        buyers = Customer.objects.filter(home_store=chain.store_a1).order_by("phone")
        for member in buyers:
            if not member.marketing_consent or int(member.phone[-2:]) % 2 == 0:
                record_sale(chain.store_a1, now - datetime.timedelta(hours=3), [tea], member=member)
        recommendations.product_pairs_rebuild()
    return chain


def test_hq_sends_a_campaign_with_a_coupon_and_reads_its_report(cake_pairs, page, sign_in):
    sign_in(cake_pairs.staff_a[Role.HQ_ADMIN])
    open_nav(page, "营销活动")
    page.get_by_role("link", name="新建营销活动").click()

    eligible = page.get_by_test_id("audience-eligible")
    expect(eligible).to_have_text("25")  # the whole chain: 25 agreed of 27
    page.get_by_label("甲一店").check()  # limit to store A1
    expect(eligible).to_have_text("20")
    page.get_by_label("可能购买（SKU）").fill("CAKE")  # the tea buyers of A1 who agreed
    expect(eligible).to_have_text("10")
    expect(page.get_by_text("排除：没有营销同意")).to_be_visible()

    page.get_by_label("活动名称").fill("春季回馈")
    page.get_by_label("消息内容").fill(
        "{name}您好！试试{recommended_product}。{store}春季回馈满200减30，券码{coupon_code}。"
    )
    page.get_by_label("发放的优惠券").select_option(label="满200减30")
    page.get_by_label("对照组比例 %").fill("10")
    preview = page.get_by_test_id("message-preview")
    expect(preview).to_contain_text("甲会员00您好！试试绿豆糕。甲一店春季回馈满200减30，券码")
    page.get_by_label("预览会员（手机号或卡号）").fill("13900000006")
    expect(preview).to_contain_text("甲会员06您好！")
    screenshot(page, "campaigns-form")

    page.get_by_role("button", name="保存活动").click()
    expect(page.get_by_text("活动已保存。请核对后批准发送。")).to_be_visible()
    expect(page.get_by_text("现在发送可触达 12 位匹配会员中的 10 位。")).to_be_visible()
    expect(page.get_by_text("可能购买（SKU）：CAKE")).to_be_visible()
    screenshot(page, "campaigns-draft")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="批准并立即发送").click()
    expect(page.get_by_text("已批准：活动正在发送。")).to_be_visible()
    # 10 eligible, 10% (1) held out, 9 sent with a coupon each.
    expect(page.get_by_test_id("report-sent")).to_have_text("9")
    expect(page.get_by_test_id("report-holdout")).to_have_text("1")
    expect(page.get_by_test_id("report-coupons-issued")).to_have_text("9")
    expect(page.get_by_text("已发送", exact=True).first).to_be_visible()
    screenshot(page, "campaigns-report")

    page.get_by_role("link", name="在发件箱中查看此活动的消息").click()
    expect(page.get_by_role("cell", name=re.compile(r"139\*\*\*\*00\d\d")).first).to_be_visible()
    screenshot(page, "campaigns-outbox")


def test_campaign_form_works_at_phone_width(chain, page, sign_in):
    page.set_viewport_size({"width": 390, "height": 800})
    sign_in(chain.staff_a[Role.HQ_ADMIN])
    page.goto("/campaigns/new/")
    expect(page.get_by_test_id("audience-eligible")).to_have_text("25")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "campaigns-form-phone")


def test_hq_creates_a_coupon_offer_and_issues_one_by_hand(chain, page, sign_in):
    sign_in(chain.staff_a[Role.HQ_ADMIN])
    open_nav(page, "优惠券")
    page.get_by_role("link", name="新建优惠券活动").click()
    page.get_by_label("优惠券名称").fill("会员日 9 折")
    page.get_by_label("折扣", exact=True).select_option("percent")
    page.get_by_label("面额（减免元数，或折扣百分比）").fill("10")
    page.get_by_label("生效时间").fill("2026-01-01T09:00")
    page.get_by_label("有效期至").fill("2030-12-31T21:00")
    page.get_by_role("button", name="保存优惠券活动").click()
    expect(page.get_by_text("优惠券活动已保存。")).to_be_visible()
    page.get_by_label("会员手机号或卡号").fill("13900000003")
    page.get_by_label("原因").fill("顾客投诉补偿")
    page.get_by_role("button", name="发放优惠券").click()
    expect(page.get_by_text(re.compile(r"优惠券 \w+ 已发给 甲会员03。"))).to_be_visible()
    screenshot(page, "campaigns-offer")


def test_hq_admin_sets_the_messaging_rules(chain, page, sign_in):
    sign_in(chain.staff_a[Role.HQ_ADMIN])
    open_nav(page, "消息发送规则")
    page.get_by_label("每位会员 30 天内最多营销消息数").fill("3")
    page.get_by_label("免打扰开始时间").fill("22:00")
    page.get_by_label("生日祝福内容").fill("{name}生日快乐{age}")
    page.get_by_role("button", name="保存规则").click()
    expect(page.get_by_text("未知的占位符：{age}", exact=False)).to_be_visible()
    page.get_by_label("生日祝福内容").fill("{name}，生日快乐！券码{coupon_code}")
    page.get_by_label("生日优惠券").select_option(label="满200减30")
    page.get_by_role("button", name="保存规则").click()
    expect(page.get_by_text("消息发送规则已保存。")).to_be_visible()
    expect(page.get_by_label("免打扰开始时间")).to_have_value("22:00")
    screenshot(page, "campaigns-settings")
