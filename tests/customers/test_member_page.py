"""The member page reads in words in both languages, with live figures, in a fixed number of
queries (issue 16)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty import services as loyalty
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.campaigns.factories import CouponFactory, CouponOfferFactory
from tests.customers.member_page import rich_member
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

RAW_CODES = re.compile(r"loyalty\.[a-z_]+|customer\.[a-z_]+|demo-sale:|counter-redeem:|sale:\d")


def _page(client, member, language="zh-hans"):
    client.cookies["django_language"] = language
    response = client.get(reverse("customers:profile", args=[member.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _visible(html: str) -> str:
    """The page's text without tags and attribute values (ids, URLs) a reader never sees."""
    return re.sub(r"<[^>]+>", " ", html)


def test_histories_read_in_chinese_without_raw_codes(world, client_for):
    member = rich_member(world)
    clerk = client_for(world.staff_a[Role.CLERK])
    html = _page(clerk, member)
    text = _visible(html)
    assert not RAW_CODES.search(text), RAW_CODES.search(text)
    assert "兑换 100 积分" in text and "门店柜台兑换" in text
    assert "等级变为 银卡" in text and "消费达标升级" in text

    points = clerk.get(reverse("loyalty:member_points", args=[member.pk])).content.decode()
    points_text = _visible(points)
    assert not RAW_CODES.search(points_text), RAW_CODES.search(points_text)
    assert "申请类别" not in points_text and "变动类型" in points_text
    assert "演示消费" in points_text and "消费单 #" in points_text
    # The sale behind an earn entry is one click away.
    assert re.search(r'href="/analytics/sales/\d+/"', points)


def test_histories_read_in_english(world, client_for):
    member = rich_member(world)
    clerk = client_for(world.staff_a[Role.CLERK])
    text = _visible(_page(clerk, member, "en"))
    assert not RAW_CODES.search(text), RAW_CODES.search(text)
    assert "Redeemed 100 points" in text and "Redeemed at the counter" in text
    assert "Tier changed to 银卡" in text and "upgraded by spend" in text
    points_text = _visible(
        clerk.get(reverse("loyalty:member_points", args=[member.pk])).content.decode()
    )
    assert not RAW_CODES.search(points_text)
    assert "Demo purchase" in points_text and "Purchase #" in points_text


def test_spend_and_visits_include_a_sale_recorded_today(world, client_for):
    """The nightly job has not run: the member row still says 0, the page says 1 and ¥1,200."""
    member = rich_member(world)
    with tenant_context(world.tenant_a):
        member.refresh_from_db()
        assert member.purchase_count == 0
    html = _page(client_for(world.staff_a[Role.CLERK]), member)
    assert re.search(r'data-testid="visits">1<', html)
    assert re.search(r'data-testid="total-spent">¥1,200.00<', html)


def test_the_page_shows_who_points_coupons_and_the_open_case(world, client_for):
    member = rich_member(world)
    html = _page(client_for(world.staff_a[Role.CLERK]), member)
    assert 'data-testid="birthday">2001-05-13<' in html
    assert "138****5678" in html and "13812345678" not in html
    assert html.count('class="coupon"') == 2 and "满200减30" in html
    assert "包装破损投诉" in html and 'data-testid="tier-progress"' in html
    assert "customers/member.css" in html


def test_the_page_takes_the_same_number_of_queries_with_more_history(world, client_for):
    """No query per sale, coupon, ledger line or history line."""
    small = rich_member(world, sales=1, coupons=1)
    clerk = client_for(world.staff_a[Role.CLERK])
    _page(clerk, small)  # warm the session and the caches
    with CaptureQueriesContext(connection) as few:
        _page(clerk, small)
    big = _second_rich_member(world)
    with CaptureQueriesContext(connection) as many:
        _page(clerk, big)
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(few) <= 45


def _second_rich_member(world):
    """More sales, redemptions and coupons than the first member: the same queries."""
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13900001111")
        for n in range(6):
            record_sale(
                world.store_a1,
                timezone.now() - datetime.timedelta(seconds=n + 1),
                lines=[line(price="2000.00")],
                member=member,
            )
        for n in range(3):
            loyalty.points_redeem(
                customer=member,
                points=100,
                source_key=f"counter-redeem:t{n}",
                store=world.store_a1,
                staff=world.staff_a[Role.CLERK],
            )
        offer = CouponOfferFactory()
        for _n in range(4):
            CouponFactory(member=member, offer=offer)
    return member
