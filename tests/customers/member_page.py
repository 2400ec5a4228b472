"""A member with something in every card of the member page, for the page and browser tests."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from loyalty import services as loyalty
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.factories import line, record_sale
from tests.campaigns.factories import CampaignFactory, CouponFactory, CouponOfferFactory
from tests.factories import CustomerFactory
from tests.interactions.factories import ServiceCaseFactory
from tests.loyalty.factories import standard_tiers


def rich_member(world, *, sales: int = 1, coupons: int = 2):
    """王芳: a sale today (earns points, qualifies for 银卡), a demo ledger line, a counter
    redemption, coupons from a campaign, an open case and a birthday without padding."""
    now = timezone.now()
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        standard_tiers()
        member = CustomerFactory(
            name="王芳",
            phone="13812345678",
            card_number="8000000042",
            home_store=world.store_a1,
            birth_year=2001,
            birth_month=5,
            birth_day=13,
        )
        loyalty.points_earn_for_sale(
            customer=member,
            source_key=f"demo-sale:{member.pk}:2",
            amount=Decimal("80"),
            store=world.store_a1,
            occurred_at=now - datetime.timedelta(days=3),
        )
        for n in range(sales):
            record_sale(
                world.store_a1,
                now - datetime.timedelta(seconds=n + 1),
                lines=[line(price="1200.00")],
                member=member,
            )
        loyalty.points_redeem(
            customer=member,
            points=100,
            source_key="counter-redeem:test-token",
            store=world.store_a1,
            staff=clerk,
            reason="",
        )
        campaign = CampaignFactory(name="会员日")
        offer = CouponOfferFactory(name="满200减30")
        for _n in range(coupons):
            CouponFactory(member=member, offer=offer, campaign=campaign)
        ServiceCaseFactory(member=member, store=world.store_a1, subject="包装破损投诉")
    return member
