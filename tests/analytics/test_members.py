"""What analytics offers the members app: moving sales on merge, recent purchases."""

from __future__ import annotations

import datetime

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from analytics.aggregation import member_rfm_refresh
from analytics.models import Sale
from analytics.selectors import member_recent_purchases
from analytics.services import sales_move_member
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_merging_moves_every_sale_and_the_next_run_counts_them_on_the_target(world):
    with tenant_context(world.tenant_a):
        source = CustomerFactory(home_store=world.store_a1)
        target = CustomerFactory(home_store=world.store_a1)
        now = timezone.now()
        for days in (1, 2):
            record_sale(
                world.store_a1,
                now - datetime.timedelta(days=days),
                lines=[line(price="10.00")],
                member=source,
            )
        record_sale(world.store_a1, now, lines=[line(price="5.00")], member=target)
        assert sales_move_member(source=source, target=target) == 2
        assert not Sale.objects.filter(member=source).exists()
        assert AuditEvent.objects.filter(action="sale.member_moved").exists()
        member_rfm_refresh(as_of=now + datetime.timedelta(seconds=1))
        target.refresh_from_db()
        source.refresh_from_db()
        assert (target.purchase_count, str(target.total_spent)) == (3, "25.00")
        assert (source.purchase_count, source.rfm_segment) == (0, "")


def test_recent_purchases_are_scoped_for_store_staff(world):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1)
        own = record_sale(world.store_a1, timezone.now(), member=member)
        other = record_sale(world.store_a2, timezone.now(), member=member)
        clerk_view = member_recent_purchases(member=member, staff=world.staff_a[Role.CLERK])
        hq_view = member_recent_purchases(member=member, staff=world.staff_a[Role.HQ_STAFF])
        assert clerk_view == [own]
        assert set(hq_view) == {own, other}
        html = render_to_string("analytics/_member_purchases.html", {"purchases": hq_view})
        assert f"/analytics/sales/{other.pk}/" in html


def test_a_real_merge_moves_the_sales_inside_its_transaction(world):
    from customers.services import customer_merge

    with tenant_context(world.tenant_a):
        source = CustomerFactory(home_store=world.store_a1)
        target = CustomerFactory(home_store=world.store_a1)
        sale = record_sale(world.store_a1, timezone.now(), member=source)
        customer_merge(source=source, target=target, staff=world.staff_a[Role.HQ_ADMIN])
        sale.refresh_from_db()
        assert sale.member == target


def test_a_failing_receiver_rolls_the_move_back(world, monkeypatch):
    from customers.hooks import member_merged
    from customers.services import customer_merge

    def explode(sender, **kwargs):
        raise RuntimeError("another app failed")

    member_merged.connect(explode, dispatch_uid="test_explode")
    try:
        with tenant_context(world.tenant_a):
            source = CustomerFactory(home_store=world.store_a1)
            target = CustomerFactory(home_store=world.store_a1)
            sale = record_sale(world.store_a1, timezone.now(), member=source)
            with pytest.raises(RuntimeError):
                customer_merge(source=source, target=target, staff=world.staff_a[Role.HQ_ADMIN])
            sale.refresh_from_db()
            assert sale.member == source
    finally:
        member_merged.disconnect(dispatch_uid="test_explode")


def test_the_member_profile_shows_recent_purchases(world, client_for):
    from django.urls import reverse

    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1)
        sale = record_sale(
            world.store_a1, timezone.now(), lines=[line(price="66.00")], member=member
        )
    page = client_for(world.staff_a[Role.CLERK]).get(
        reverse("customers:profile", kwargs={"pk": member.pk})
    )
    html = page.content.decode()
    assert "最近消费" in html
    assert f"/analytics/sales/{sale.pk}/" in html and "¥66.00" in html
