"""Counter redemption, member points, adjustment and HQ settings through the pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from loyalty import services
from loyalty.models import EntryKind, PointsEntry, PointsRule, Tier
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def member(world):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13812345678", name="陈静")
        services.points_earn_for_sale(
            customer=member, source_key="sale:1", amount=Decimal("500"), store=world.store_a1,
            occurred_at=timezone.now(),
        )  # fmt: skip
    return member


def test_counter_finds_a_member_by_phone_and_opens_redemption(world, client_for, member):
    client = client_for(world.staff_a[Role.CLERK])
    response = client.get(reverse("loyalty:counter"), {"q": "13812345678"})
    assert response.status_code == 302
    assert response["Location"] == reverse("loyalty:redeem", args=[member.pk])
    page = client.get(response["Location"])
    text = page.content.decode()
    assert "积分余额" in text and "500" in text and "¥5.00" in text
    assert "138****5678" in text and "13812345678" not in text


def test_counter_lookup_by_last_four_lists_matches(world, client_for, member):
    with tenant_context(world.tenant_a):
        CustomerFactory(home_store=world.store_a2, phone="13900005678")
    client = client_for(world.staff_a[Role.CLERK])
    response = client.get(reverse("loyalty:counter"), {"q": "5678"})
    assert response.status_code == 200
    assert len(response.context["members"]) == 2


def test_clerk_redeems_a_gift_once_even_if_the_form_is_sent_twice(world, client_for, member):
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("loyalty:redeem", args=[member.pk])
    token = client.get(url).context["form"].initial["token"]
    data = {"points": 200, "reason": "保温杯", "store": world.store_a1.pk, "token": token}
    first = client.post(url, data, follow=True)
    assert "已兑换 200 积分（保温杯），当前余额 300。" in first.content.decode()
    client.post(url, data)
    with tenant_context(world.tenant_a):
        entries = PointsEntry.objects.filter(kind=EntryKind.REDEEM)
        assert entries.count() == 1
        entry = entries.get()
        assert (entry.store, entry.staff, entry.reason) == (
            world.store_a1, world.staff_a[Role.CLERK], "保温杯"
        )  # fmt: skip


def test_overspending_shows_the_reason_in_chinese_and_writes_nothing(world, client_for, member):
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("loyalty:redeem", args=[member.pk])
    token = client.get(url).context["form"].initial["token"]
    data = {"points": 900, "reason": "保温杯", "store": world.store_a1.pk, "token": token}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "积分不足：可用 500，需要 900。" in response.content.decode()
    with tenant_context(world.tenant_a):
        assert not PointsEntry.objects.filter(kind=EntryKind.REDEEM).exists()


def test_a_clerk_cannot_redeem_at_another_stores_counter(world, client_for, member):
    client = client_for(world.staff_a[Role.CLERK])
    url = reverse("loyalty:redeem", args=[member.pk])
    token = client.get(url).context["form"].initial["token"]
    data = {"points": 200, "reason": "伞", "store": world.store_a2.pk, "token": token}
    response = client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].errors["store"]


def test_member_points_page_shows_lots_and_history_with_reasons(world, client_for, member):
    with tenant_context(world.tenant_a):
        services.points_adjust(
            customer=member, points=-100, reason="重复积分更正",
            staff=world.staff_a[Role.HQ_ADMIN],
        )  # fmt: skip
    response = client_for(world.staff_a[Role.CLERK]).get(
        reverse("loyalty:member_points", args=[member.pk])
    )
    text = response.content.decode()
    assert "重复积分更正" in text and "调整" in text and "获得" in text
    assert "积分批次" in text
    assert reverse("loyalty:adjust", args=[member.pk]) not in text  # clerks cannot adjust


def test_store_manager_adjusts_within_the_limit(world, client_for, member):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    url = reverse("loyalty:adjust", args=[member.pk])
    token = client.get(url).context["form"].initial["token"]
    too_many = client.post(url, {"points": 501, "reason": "补偿", "token": token})
    assert "您的角色单次最多可调整 500 积分。" in too_many.content.decode()
    no_reason = client.post(url, {"points": 50, "reason": "", "token": token})
    assert no_reason.context["form"].errors["reason"]
    done = client.post(url, {"points": 50, "reason": "补偿", "token": token})
    assert done.status_code == 302
    with tenant_context(world.tenant_a):
        assert PointsEntry.objects.filter(kind=EntryKind.ADJUST).get().points == 50


def test_hq_admin_configures_rules_and_tiers_in_the_browser(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("loyalty:settings"),
        {
            "points_per_yuan": "2",
            "expiry_months": "6",
            "redeem_points_per_yuan": "50",
            "redeem_minimum": "100",
            "expiry_notice_days": "30",
            "adjust_limit_store_manager": "300",
            "adjust_limit_hq": "10000",
            "adjust_budget_store_manager": "1000",
            "adjust_budget_hq": "100000",
            "excluded_categories_text": "烟草，礼品卡, 烟草",
            "referral_points": "200",
            "behaviour_points": "50",
        },
    )
    assert response.status_code == 302
    tier = {
        "order": "1", "code": "GOLD", "name": "金卡", "min_spend": "5000", "min_purchases": "0",
        "window_months": "12", "multiplier": "1.5", "benefits": "免费包装",
        "review_months": "12", "max_downgrade_steps": "1",
    }  # fmt: skip
    assert client.post(reverse("loyalty:tier_create"), tier).status_code == 302
    duplicate = client.post(reverse("loyalty:tier_create"), tier)
    assert "已有其他等级使用此代码。" in duplicate.content.decode()
    with tenant_context(world.tenant_a):
        rule = PointsRule.objects.get()
        assert rule.points_per_yuan == 2 and rule.expiry_months == 6
        assert rule.excluded_categories == ["烟草", "礼品卡"]
        assert (rule.referral_points, rule.behaviour_points) == (200, 50)
        assert Tier.objects.get().name == "金卡"
    page = client.get(reverse("loyalty:settings")).content.decode()
    assert "金卡" in page and "免费包装" in page
    with tenant_context(world.tenant_b):
        assert not Tier.objects.exists()


def test_profile_panel_context_shows_the_members_points(world, member):
    from django.template.loader import render_to_string

    from loyalty.views import profile_panel_context

    with tenant_context(world.tenant_a):
        context = profile_panel_context(None, member)
        assert context["summary"].balance == 500
        html = render_to_string("loyalty/_panel.html", context)
    assert reverse("loyalty:redeem", args=[member.pk]) in html


def test_member_profile_shows_the_points_panel(world, client_for):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1)
        services.points_earn_for_sale(
            customer=member,
            source_key="sale:panel",
            amount=Decimal("88"),
            store=world.store_a1,
            occurred_at=timezone.now(),
        )
    html = (
        client_for(world.staff_a[Role.CLERK])
        .get(reverse("customers:profile", args=[member.pk]))
        .content.decode()
    )
    assert reverse("loyalty:member_points", args=[member.pk]) in html
    assert "88" in html


def test_history_times_show_in_the_tenants_time_zone(world, client_for):
    import datetime

    world.tenant_a.time_zone = "Asia/Urumqi"  # UTC+6, two hours behind Beijing
    world.tenant_a.save()
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1)
        services.points_earn_for_sale(
            customer=member, source_key="sale:9", amount=Decimal("10"), store=world.store_a1,
            occurred_at=datetime.datetime(2026, 3, 5, 15, 30, tzinfo=datetime.UTC),
        )  # fmt: skip
    text = (
        client_for(world.staff_a[Role.CLERK])
        .get(reverse("loyalty:member_points", args=[member.pk]))
        .content.decode()
    )
    assert "2026-03-05 21:30" in text


def test_the_member_profile_shows_the_points_panel(world, client_for, member):
    response = client_for(world.staff_a[Role.CLERK]).get(
        reverse("customers:profile", args=[member.pk])
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "积分余额" in text
    assert reverse("loyalty:redeem", args=[member.pk]) in text
