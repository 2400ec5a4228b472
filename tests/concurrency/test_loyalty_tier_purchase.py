"""Real threads on PostgreSQL: buying a tier with points shares the redemption's account lock,
so tier purchases and gift redemptions racing for the same points never overspend, and a
member buys a tier once per period however many counters try at once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from loyalty import services
from loyalty.models import PointsAccount, PointsEntry
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.concurrency.threads import run_threads
from tests.conftest import make_staff
from tests.factories import CustomerFactory, StoreFactory, TenantFactory
from tests.loyalty.conftest import at
from tests.loyalty.factories import standard_tiers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_tier_purchases_racing_redemptions_spend_each_point_once():
    tenant = TenantFactory(slug="tierbuy")
    with tenant_context(tenant):
        store = StoreFactory()
        member = CustomerFactory(home_store=store)
        tiers = standard_tiers()
        tiers[1].upgrade_points = 300
        tiers[1].save()
        rule = services.points_rule()
        rule.redeem_minimum = 100
        rule.tier_purchase = True
        rule.save()
        services.points_earn_for_sale(
            customer=member, source_key="sale:1", amount=Decimal("400"), store=store,
            occurred_at=at(2026, 11, 1),
        )  # fmt: skip
    clerk = make_staff(tenant, Role.CLERK, store)

    def counter(index: int):
        with tenant_context(tenant):
            if index % 2:
                return services.points_redeem(
                    customer=member, points=100, source_key=f"sale-redeem:{index}",
                    store=store, staff=None,
                )  # fmt: skip
            return services.tier_buy_with_points(
                customer=member, source_key=f"tier-buy:{index:032d}", store=store, staff=clerk
            )

    results = run_threads(20, counter)
    entries = [r for r in results if isinstance(r, PointsEntry)]
    refused = [r for r in results if isinstance(r, services.PointsError)]
    assert len(entries) + len(refused) == 20, [r for r in results if r not in entries][:3]
    bought = [e for e in entries if e.source_key.startswith("tier-buy:")]
    assert len(bought) <= 1
    spent = -sum(e.points for e in entries)
    assert spent <= 400
    with tenant_context(tenant):
        account = PointsAccount.objects.select_related("tier").get(customer=member)
        ledger = account.entries.aggregate(s=Sum("points"))["s"]
        lots = account.lots.aggregate(s=Sum("remaining"))["s"]
        assert account.balance == ledger == lots == 400 - spent >= 0
        assert (account.tier.code == "SILVER") == (len(bought) == 1)


def test_ten_counters_buying_tiers_for_one_member_at_once_sell_one():
    tenant = TenantFactory(slug="tierbuy10")
    with tenant_context(tenant):
        store = StoreFactory()
        member = CustomerFactory(home_store=store)
        tiers = standard_tiers()
        for tier in tiers[1:]:  # every tier for sale: only the once-per-period rule refuses
            tier.upgrade_points = 300
            tier.save()
        rule = services.points_rule()
        rule.tier_purchase = True
        rule.save()
        services.points_adjust(
            customer=member, points=3000, reason="补录", staff=make_staff(tenant, Role.HQ_ADMIN)
        )
    clerk = make_staff(tenant, Role.CLERK, store)

    def buy(index: int):
        with tenant_context(tenant):
            return services.tier_buy_with_points(
                customer=member, source_key=f"tier-buy:{index:032d}", store=store, staff=clerk
            )

    results = run_threads(10, buy)
    bought = [r for r in results if isinstance(r, PointsEntry)]
    refused = [r for r in results if isinstance(r, services.PointsError)]
    assert len(bought) == 1 and len(refused) == 9
    assert {error.code for error in refused} == {"tier_bought_recently"}
    with tenant_context(tenant):
        account = PointsAccount.objects.select_related("tier").get(customer=member)
        assert account.balance == 2700 and account.tier.code == "SILVER"
