"""Real threads on PostgreSQL: 20 concurrent sales of different members at one capped store
never issue more than the cap."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty import services
from loyalty.models import PointsEntry, StoreIssuance
from tenancy.context import tenant_context
from tests.concurrency.threads import run_threads
from tests.factories import CustomerFactory, StoreFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]

SALES = 20


@pytest.mark.parametrize("mode", ["refuse", "zero"])
def test_twenty_concurrent_sales_never_overrun_a_store_cap(mode):
    tenant = TenantFactory(slug=f"cap-{mode}")
    with tenant_context(tenant):
        store = StoreFactory()
        members = [CustomerFactory(home_store=store) for _ in range(SALES)]
        rule = services.points_rule()
        rule.issuance_cap_mode = mode
        rule.save()
        services.store_points_cap_set(store=store, monthly_cap=1000, staff=None)
    now = timezone.now()

    def sell(index: int):
        with tenant_context(tenant):
            return services.points_earn_for_sale(
                customer=members[index], source_key=f"sale:{index}", amount=Decimal("100"),
                store=store, occurred_at=now,
            )  # fmt: skip

    results = run_threads(SALES, sell)
    earned = [r for r in results if isinstance(r, PointsEntry) and r.points == 100]
    others = [r for r in results if not (isinstance(r, PointsEntry) and r.points == 100)]
    assert len(earned) == 10
    if mode == "refuse":
        assert all(isinstance(r, services.PointsError) and r.code == "over_cap" for r in others)
    else:
        assert all(isinstance(r, PointsEntry) and r.points == 0 for r in others), others[:3]
    with tenant_context(tenant):
        assert StoreIssuance.objects.get().issued == 1000
        issued = PointsEntry.objects.filter(store=store).aggregate(s=Sum("points"))["s"]
        assert issued == 1000
