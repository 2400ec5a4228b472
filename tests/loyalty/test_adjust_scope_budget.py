"""Manual points adjustments: a store manager adjusts only their own stores' members, and
every adjuster has a monthly budget (tenant setting per role) counted on the tenant's clock.
Refusals of either kind are audited, like the adjustments themselves."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from loyalty import services
from loyalty.models import EntryKind, PointsEntry
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.conftest import make_staff
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def members(world):
    """One member of store A1 (the store manager's) and one of store A2 (not theirs)."""
    with tenant_context(world.tenant_a):
        return (
            CustomerFactory(home_store=world.store_a1),
            CustomerFactory(home_store=world.store_a2),
        )


def adjust(world, member, points, staff=None, **kwargs):
    staff = staff or world.staff_a[Role.STORE_MANAGER]
    with tenant_context(world.tenant_a):
        return services.points_adjust(
            customer=member, points=points, reason="补偿", staff=staff, **kwargs
        )


def set_budget(world, *, manager: int, hq: int = 500000) -> None:
    with tenant_context(world.tenant_a):
        rule = services.points_rule()
        rule.adjust_budget_store_manager, rule.adjust_budget_hq = manager, hq
        rule.save()


def adjustments(world) -> list[int]:
    with tenant_context(world.tenant_a):
        return list(
            PointsEntry.objects.filter(kind=EntryKind.ADJUST)
            .order_by("pk")
            .values_list("points", flat=True)
        )


def refusals(world) -> list[dict]:
    with tenant_context(world.tenant_a):
        return [
            event.after
            for event in AuditEvent.objects.filter(action="loyalty.points_adjust_refused")
        ]


def test_a_store_manager_adjusts_their_own_stores_members_only(world, members):
    mine, theirs = members
    adjust(world, mine, 100)
    with pytest.raises(services.PointsError) as refused:
        adjust(world, theirs, 100)
    assert refused.value.code == "not_your_member"
    # HQ administrators adjust any member of the tenant.
    adjust(world, theirs, 100, staff=world.staff_a[Role.HQ_ADMIN])
    assert adjustments(world) == [100, 100]
    assert refusals(world) == [{"points": 100, "refused": "not_your_member"}]


def test_the_three_actors_on_the_adjust_page(world, client_for, members):
    mine, theirs = members
    manager = client_for(world.staff_a[Role.STORE_MANAGER])

    def post(client, member, points=50):
        url = reverse("loyalty:adjust", args=[member.pk])
        token = client.get(url).context["form"].initial["token"]
        return client.post(url, {"points": points, "reason": "补偿", "token": token})

    # Someone who may: the manager of the member's home store.
    assert post(manager, mine).status_code == 302
    # Someone of the same tenant who may not: the same manager, a member of another store.
    response = post(manager, theirs)
    assert response.status_code == 200
    assert "您只能调整本店会员的积分。" in response.content.decode()
    points_page = manager.get(reverse("loyalty:member_points", args=[theirs.pk]))
    assert reverse("loyalty:adjust", args=[theirs.pk]) not in points_page.content.decode()
    # Someone of another tenant: the member does not exist for them.
    other = client_for(world.staff_b[Role.STORE_MANAGER])
    assert other.get(reverse("loyalty:adjust", args=[mine.pk])).status_code == 404
    assert adjustments(world) == [50]


def test_the_monthly_budget_counts_every_adjustment_of_the_adjuster(world, members):
    mine, _theirs = members
    set_budget(world, manager=1000)
    adjust(world, mine, 500)
    adjust(world, mine, 400)
    with pytest.raises(services.PointsError) as refused:
        adjust(world, mine, 200)  # 900 used + 200 > 1000
    assert refused.value.code == "over_budget"
    assert "1000" in refused.value.messages[0] and "100" in refused.value.messages[0]
    adjust(world, mine, -100)  # removals count too: 900 + 100 = 1000, the budget exactly
    with pytest.raises(services.PointsError):
        adjust(world, mine, 1)
    assert adjustments(world) == [500, 400, -100]
    assert [r["refused"] for r in refusals(world)] == ["over_budget", "over_budget"]
    # The budget is per person: another manager of the same store has their own.
    colleague = make_staff(world.tenant_a, Role.STORE_MANAGER, world.store_a1)
    adjust(world, mine, 500, staff=colleague)
    with tenant_context(world.tenant_a):
        event = AuditEvent.objects.filter(action="loyalty.points_adjusted").last()
    assert (event.after["month_used"], event.after["month_budget"]) == (500, 1000)


def test_an_idempotent_replay_is_not_refused_by_the_budget_it_used(world, members):
    mine, _theirs = members
    set_budget(world, manager=500)
    first = adjust(world, mine, 500, source_key="adjust:form-1")
    assert adjust(world, mine, 500, source_key="adjust:form-1") == first
    assert adjustments(world) == [500]


def test_the_budget_renews_at_the_start_of_the_month_on_the_tenants_clock(world, members, clock):
    mine, _theirs = members
    set_budget(world, manager=500)
    zone = world.tenant_a.zone
    clock.move_to(datetime.datetime(2026, 10, 31, 23, 30, tzinfo=zone))
    adjust(world, mine, 500)
    clock.move_to(datetime.datetime(2026, 10, 31, 23, 59, tzinfo=zone))
    with pytest.raises(services.PointsError):
        adjust(world, mine, 1)
    # Just after midnight on the tenant's wall clock: a new month there, while in UTC (and on
    # any clock west of the tenant) it is still October 31.
    clock.move_to(datetime.datetime(2026, 11, 1, 0, 1, tzinfo=zone))
    adjust(world, mine, 500)
    with pytest.raises(services.PointsError):
        adjust(world, mine, 1)
    assert adjustments(world) == [500, 500]


def test_hq_admins_have_their_own_budget(world, members):
    _mine, theirs = members
    set_budget(world, manager=1000, hq=600)
    hq = world.staff_a[Role.HQ_ADMIN]
    adjust(world, theirs, 600, staff=hq)
    with pytest.raises(services.PointsError) as refused:
        adjust(world, theirs, 1, staff=hq)
    assert refused.value.code == "over_budget"
