"""Sales leads: record intent, follow up, the "today" list, won or lost, conversion."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from interactions import services
from interactions.models import Lead, LeadStatus
from tenancy.context import tenant_context
from tenancy.models import Notification, Role
from tests.conftest import make_staff
from tests.interactions.factories import LeadFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

TODAY = datetime.date(2026, 3, 10)


def test_clerk_records_a_lead_from_the_page(world, client_for, member_a):
    clerk = world.staff_a[Role.CLERK]
    response = client_for(clerk).post(
        reverse("interactions:lead_create"),
        {
            "member": member_a.card_number,
            "store": world.store_a1.pk,
            "product": "羊绒大衣",
            "budget": "3000.00",
            "next_step": "到货通知",
            "follow_up_on": "2026-03-10",
        },
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        lead = Lead.objects.get()
    assert (lead.owner_id, lead.budget, lead.follow_up_on, lead.status) == (
        clerk.pk,
        Decimal("3000.00"),
        TODAY,
        LeadStatus.OPEN,
    )


def test_today_list_shows_a_clerks_own_due_follow_ups(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    colleague = make_staff(world.tenant_a, Role.CLERK, world.store_a1)
    with tenant_context(world.tenant_a):
        mine = LeadFactory(store=world.store_a1, owner=clerk, follow_up_on=TODAY)
        LeadFactory(store=world.store_a1, owner=colleague, follow_up_on=TODAY)
        LeadFactory(store=world.store_a1, owner=clerk, follow_up_on=TODAY + datetime.timedelta(1))
        from interactions.selectors import leads_due

        assert list(leads_due(clerk, TODAY)) == [mine]
        manager_view = leads_due(world.staff_a[Role.STORE_MANAGER], TODAY)
        assert manager_view.count() == 2
    assert client_for(clerk).get(reverse("interactions:lead_today")).status_code == 200


def _sale_of(member, store):
    from django.utils import timezone

    from tests.analytics.factories import line, record_sale

    return record_sale(store, timezone.now(), lines=[line("A", 1, "99.00")], member=member)


def test_won_and_lost_close_a_lead_once(world):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        lead = LeadFactory(store=world.store_a1, owner=clerk)
        sale = _sale_of(lead.member, world.store_a1)
        with pytest.raises(ValidationError):
            services.lead_win(staff=clerk, lead=lead, sale_reference=" ")
        lead = services.lead_win(staff=clerk, lead=lead, sale_reference=f"#{sale.pk}")
        assert (lead.status, lead.sale_reference) == (LeadStatus.WON, f"#{sale.pk}")
        with pytest.raises(ValidationError):
            services.lead_lose(staff=clerk, lead=lead, reason="太贵")
        with pytest.raises(ValidationError):
            services.lead_follow_up(staff=clerk, lead=lead, note="再联系")


def test_a_won_lead_needs_a_real_sale_of_its_member(world):
    """The sales app's registered check (no fake): unknown numbers and other members' sales
    are refused with a message, the member's own sale or POS id is taken."""
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        lead = LeadFactory(store=world.store_a1, owner=clerk)
        other = LeadFactory(store=world.store_a1, owner=clerk)
        others_sale = _sale_of(other.member, world.store_a1)
        with pytest.raises(ValidationError, match="没有这个编号的销售"):
            services.lead_win(staff=clerk, lead=lead, sale_reference="S-FAKE")
        with pytest.raises(ValidationError, match="没有这个编号的销售"):
            services.lead_win(staff=clerk, lead=lead, sale_reference="9" * 40)
        with pytest.raises(ValidationError, match="不是这位会员的消费"):
            services.lead_win(staff=clerk, lead=lead, sale_reference=str(others_sale.pk))
        assert Lead.objects.get(pk=lead.pk).status == LeadStatus.OPEN
        own = _sale_of(lead.member, world.store_a1)
        assert services.lead_win(staff=clerk, lead=lead, sale_reference=str(own.pk)).status == (
            LeadStatus.WON
        )


def test_conversion_per_store_and_per_clerk(world, client_for):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        for status in (LeadStatus.WON, LeadStatus.LOST, LeadStatus.LOST, LeadStatus.OPEN):
            LeadFactory(store=world.store_a1, owner=clerk, status=status)
    response = client_for(world.staff_a[Role.STORE_MANAGER]).get(
        reverse("interactions:lead_conversion")
    )
    (row,) = response.context["by_store"]
    assert (row["won"], row["lost"], row["open"], row["rate"]) == (1, 2, 1, 33)
    (row,) = response.context["by_owner"]
    assert row["label"] == clerk.display_name and row["rate"] == 33
    assert client_for(clerk).get(reverse("interactions:lead_conversion")).status_code == 403


def test_due_follow_ups_are_reminded_once_per_day(world):
    clerk = world.staff_a[Role.CLERK]
    with tenant_context(world.tenant_a):
        lead = LeadFactory(store=world.store_a1, owner=clerk, follow_up_on=TODAY)
        LeadFactory(store=world.store_a1, owner=clerk, follow_up_on=TODAY + datetime.timedelta(1))
        assert services.leads_remind_due(today=TODAY) == 1
        assert services.leads_remind_due(today=TODAY) == 0
        assert Notification.objects.filter(kind="lead.follow_up_due").count() == 1
        # Put off to tomorrow: tomorrow's run reminds again, for both.
        services.lead_follow_up(
            staff=clerk, lead=lead, note="没接电话", follow_up_on=TODAY + datetime.timedelta(1)
        )
        assert services.leads_remind_due(today=TODAY + datetime.timedelta(1)) == 2
        assert Notification.objects.filter(kind="lead.follow_up_due").count() == 2
