"""Upgrade with points (积分升级): deducts once, refuses a second purchase in the period and
refuses with too few points; at the counter by a clerk or a store manager, audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from loyalty import services
from loyalty.models import EntryKind, PointsRule
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.conftest import make_staff
from tests.factories import CustomerFactory
from tests.loyalty.conftest import account_of, assert_balanced, at, earn
from tests.loyalty.factories import standard_tiers
from tests.loyalty.test_tiers_adjust_merge import tier_of

pytestmark = pytest.mark.clock


@pytest.fixture
def tiers(in_tenant):
    tiers = standard_tiers()
    tiers[1].upgrade_points = 300  # 普通 -> 银卡
    tiers[1].save()
    tiers[2].upgrade_points = 2000  # 银卡 -> 金卡
    tiers[2].save()
    rule = services.points_rule()
    rule.tier_purchase = True
    rule.tier_purchase_period_months = 12
    rule.save()
    return tiers


@pytest.fixture
def clerk(member, store):
    return make_staff(member.tenant, Role.CLERK, store)


def buy(member, clerk, store, key, when):
    return services.tier_buy_with_points(
        customer=member, source_key=f"tier-buy:{key}", store=store, staff=clerk, now=when
    )


def test_buying_the_next_tier_deducts_once_and_is_audited(member, tiers, clerk, store):
    earn(member, "sale:1", "500", at(2026, 3, 1))  # 500 points, 普通会员
    entry = buy(member, clerk, store, "a" * 32, at(2026, 3, 2))
    again = buy(member, clerk, store, "a" * 32, at(2026, 3, 2))  # a resubmitted form
    assert again.pk == entry.pk
    assert entry.kind == EntryKind.REDEEM and entry.points == -300
    assert assert_balanced(member) == 200
    assert tier_of(member) == "SILVER"
    account = account_of(member)
    assert account.tier_bought_at == at(2026, 3, 2)
    assert account.tier_review_at == at(2027, 3, 2)
    event = AuditEvent.objects.get(action="loyalty.tier_bought")
    assert event.before == {"tier": "NORMAL"}
    assert event.after["tier"] == "SILVER" and event.after["points"] == 300


def test_a_second_purchase_in_the_period_is_refused(member, tiers, clerk, store):
    other = CustomerFactory(home_store=store)  # points without qualifying spend
    services.points_adjust(
        customer=other, points=2400, reason="补录", staff=make_staff(other.tenant, Role.HQ_ADMIN)
    )
    buy(other, clerk, store, "b" * 32, at(2026, 3, 2))
    assert tier_of(other) == "SILVER"
    with pytest.raises(services.PointsError) as refused:
        buy(other, clerk, store, "c" * 32, at(2027, 3, 1))
    assert refused.value.code == "tier_bought_recently"
    assert assert_balanced(other) == 2100
    buy(other, clerk, store, "d" * 32, at(2027, 3, 2))  # the period is over
    assert tier_of(other) == "GOLD"
    assert assert_balanced(other) == 100


def test_too_few_points_are_refused_and_nothing_is_written(member, tiers, clerk, store):
    earn(member, "sale:1", "299", at(2026, 3, 1))
    with pytest.raises(services.PointsError) as refused:
        buy(member, clerk, store, "e" * 32, at(2026, 3, 2))
    assert refused.value.code == "insufficient"
    assert assert_balanced(member) == 299
    assert tier_of(member) == "NORMAL"
    assert account_of(member).tier_bought_at is None


def test_refused_when_the_tenant_does_not_sell_tiers_or_by_hq(member, tiers, clerk, store):
    earn(member, "sale:1", "500", at(2026, 3, 1))
    with pytest.raises(services.PointsError) as refused:
        buy(member, make_staff(member.tenant, Role.HQ_STAFF), store, "f" * 32, at(2026, 3, 2))
    assert refused.value.code == "tier_purchase_role"
    PointsRule.objects.update(tier_purchase=False)
    with pytest.raises(services.PointsError) as refused:
        buy(member, clerk, store, "f" * 32, at(2026, 3, 2))
    assert refused.value.code == "tier_purchase_off"


@pytest.mark.django_db
def test_the_clerk_upgrades_a_member_at_the_counter(world, client_for):
    with tenant_context(world.tenant_a):
        standard_tiers()
        from loyalty.models import Tier

        Tier.objects.filter(code="SILVER").update(upgrade_points=300)
        rule = services.points_rule()
        rule.tier_purchase = True
        rule.save()
        member = CustomerFactory(home_store=world.store_a1)
        hq = make_staff(world.tenant_a, Role.HQ_ADMIN)
        services.points_adjust(customer=member, points=400, reason="补录", staff=hq)
    client = client_for(world.staff_a[Role.CLERK])
    redeem_page = client.get(reverse("loyalty:redeem", args=[member.pk])).content.decode()
    assert reverse("loyalty:tier_buy", args=[member.pk]) in redeem_page
    page = client.get(reverse("loyalty:tier_buy", args=[member.pk]))
    token = page.context["form"].initial["token"]
    data = {"store": world.store_a1.pk, "token": token}
    assert client.post(reverse("loyalty:tier_buy", args=[member.pk]), data).status_code == 302
    assert client.post(reverse("loyalty:tier_buy", args=[member.pk]), data).status_code == 302
    with tenant_context(world.tenant_a):
        assert tier_of(member) == "SILVER"
        assert assert_balanced(member) == 100  # a double submit spent once


def test_a_member_merge_keeps_the_purchase_period(member, tiers, clerk, store):
    earn(member, "sale:1", "500", at(2026, 3, 1))
    buy(member, clerk, store, "9" * 32, at(2026, 3, 2))
    target = CustomerFactory(home_store=store)
    services.points_merge(source=member, target=target)
    assert account_of(target).tier_bought_at == at(2026, 3, 2)
