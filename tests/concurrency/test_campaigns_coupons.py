"""Coupons under real concurrency on PostgreSQL: 20 counters at once never exceed a limit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from campaigns import services
from campaigns.models import Coupon, CouponOffer, CouponStatus
from campaigns.services import CouponError
from tenancy.context import tenant_context
from tests.campaigns.factories_services import MemberFactory, OfferFactory
from tests.concurrency.threads import run_threads
from tests.factories import StoreFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 20


@pytest.fixture
def shop():
    tenant = TenantFactory(slug="coupons-race")
    with tenant_context(tenant):
        store = StoreFactory()
    return tenant, store


def redeem_in_thread(tenant, store, code: str, member_id: int, sale_id: int):
    with tenant_context(tenant), translation.override("en"):
        member = Coupon.objects.get(code=code).member
        assert member.pk == member_id
        return services.coupon_redeem(
            code=code, member=member, store=store, amount=Decimal("100"), sale_id=sale_id
        )


def outcomes(results):
    won = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, CouponError)]
    others = [r for r in results if not isinstance(r, tuple | CouponError)]
    assert others == [], others[:3]
    return won, refused


def test_twenty_counters_using_one_coupon_at_once_use_it_once(shop):
    tenant, store = shop
    with tenant_context(tenant):
        member = MemberFactory(home_store=store)
        offer = OfferFactory(per_member_limit=5)
        coupon = services.coupons_issue(offer=offer, members=[member])[member.pk]

    results = run_threads(
        THREADS, lambda i: redeem_in_thread(tenant, store, coupon.code, member.pk, i)
    )

    won, refused = outcomes(results)
    assert len(won) == 1
    assert len(refused) == THREADS - 1
    assert all("already used" in error.messages[0] for error in refused)
    with tenant_context(tenant):
        coupon.refresh_from_db()
        assert coupon.status == CouponStatus.USED
        assert coupon.used_sale_id == won[0][0].used_sale_id
        assert CouponOffer.objects.get(pk=offer.pk).used_count == 1


def test_twenty_coupons_of_an_offer_limited_to_five_uses(shop):
    tenant, store = shop
    with tenant_context(tenant):
        members = MemberFactory.create_batch(THREADS, home_store=store)
        offer = OfferFactory(total_limit=5)
        coupons = services.coupons_issue(offer=offer, members=members)
    pairs = [(coupons[m.pk].code, m.pk) for m in members]

    results = run_threads(THREADS, lambda i: redeem_in_thread(tenant, store, *pairs[i], i))

    won, refused = outcomes(results)
    assert len(won) == 5
    assert {error.messages[0] for error in refused} == {"This offer has been fully used."}
    assert len(refused) == THREADS - 5
    with tenant_context(tenant):
        assert CouponOffer.objects.get(pk=offer.pk).used_count == 5
        assert Coupon.objects.filter(offer=offer, status=CouponStatus.USED).count() == 5


def test_one_member_with_ten_coupons_at_ten_counters_stays_within_their_limit(shop):
    tenant, store = shop
    with tenant_context(tenant):
        member = MemberFactory(home_store=store)
        offer = OfferFactory(per_member_limit=3)
        codes = [
            services.coupons_issue(offer=offer, members=[member])[member.pk].code for _ in range(10)
        ]

    results = run_threads(10, lambda i: redeem_in_thread(tenant, store, codes[i], member.pk, i))

    won, refused = outcomes(results)
    assert len(won) == 3
    assert len(refused) == 7
    assert all("the most allowed" in error.messages[0] for error in refused)
    with tenant_context(tenant):
        assert Coupon.objects.filter(member=member, status=CouponStatus.USED).count() == 3
        assert CouponOffer.objects.get(pk=offer.pk).used_count == 3
