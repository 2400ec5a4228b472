"""Real threads on PostgreSQL: concurrent redemptions cannot overspend, a replayed sale
earns once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Sum

from loyalty import services
from loyalty.models import PointsAccount, PointsEntry
from tenancy.context import tenant_context
from tests.concurrency.threads import run_threads
from tests.factories import CustomerFactory, StoreFactory, TenantFactory
from tests.loyalty.conftest import at

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup():
    tenant = TenantFactory(slug="threads")
    with tenant_context(tenant):
        store = StoreFactory()
        member = CustomerFactory(home_store=store)
        rule = services.points_rule()
        rule.redeem_minimum = 10
        rule.save()
    return tenant, store, member


def test_fifty_counters_redeeming_ten_points_from_a_hundred_point_member(setup):
    tenant, store, member = setup
    with tenant_context(tenant):
        services.points_earn_for_sale(
            customer=member, source_key="sale:1", amount=Decimal("100"), store=store,
            occurred_at=at(2026, 11, 1),
        )  # fmt: skip
    balances_seen = []

    def redeem(index: int):
        with tenant_context(tenant):
            entry = services.points_redeem(
                customer=member, points=10, source_key=f"sale-redeem:{index}", store=store,
                staff=None,
            )  # fmt: skip
            balances_seen.append(entry.balance_after)
            return entry

    results = run_threads(50, redeem)
    succeeded = [r for r in results if isinstance(r, PointsEntry)]
    refused = [r for r in results if isinstance(r, services.PointsError)]
    assert len(succeeded) == 10
    assert len(refused) == 40, [r for r in results if not isinstance(r, PointsEntry)][:3]
    assert sorted(balances_seen) == list(range(0, 100, 10))
    assert min(balances_seen) >= 0
    with tenant_context(tenant):
        account = PointsAccount.objects.get(customer=member)
        ledger = account.entries.aggregate(s=Sum("points"))["s"]
        assert account.balance == ledger == 0
        assert account.lots.aggregate(s=Sum("remaining"))["s"] == 0


def test_the_same_sale_replayed_twenty_times_concurrently_earns_once(setup):
    tenant, store, member = setup
    with tenant_context(tenant):
        # An earlier sale: the account row exists, so only the row lock (not the unique
        # insert of a first account) keeps the replays apart.
        services.points_earn_for_sale(
            customer=member, source_key="sale:41", amount=Decimal("10"), store=store,
            occurred_at=at(2026, 10, 1),
        )  # fmt: skip

    def earn(index: int):
        with tenant_context(tenant):
            return services.points_earn_for_sale(
                customer=member, source_key="sale:42", amount=Decimal("250.50"), store=store,
                occurred_at=at(2026, 11, 1),
            )  # fmt: skip

    results = run_threads(20, earn)
    assert all(isinstance(r, PointsEntry) for r in results), results
    assert len({r.pk for r in results}) == 1
    with tenant_context(tenant):
        assert PointsEntry.objects.filter(source_key="sale:42").count() == 1
        account = PointsAccount.objects.get(customer=member)
        assert account.balance == 260
        assert account.entries.aggregate(s=Sum("points"))["s"] == 260
