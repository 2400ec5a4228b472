"""Real threads on PostgreSQL: concurrent redemptions cannot overspend, a replayed sale
earns once."""

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


def test_ten_adjustments_at_once_stay_within_the_managers_monthly_budget(setup):
    """Each thread adjusts another member (no shared account lock): only the lock on the
    adjuster's row keeps them from all reading the month's total before any of them wrote."""
    tenant, store, _member = setup
    manager = make_staff(tenant, Role.STORE_MANAGER, store)
    with tenant_context(tenant):
        rule = services.points_rule()
        rule.adjust_budget_store_manager = 500
        rule.save()
        members = [CustomerFactory(home_store=store) for _ in range(10)]

    def adjust(index: int):
        with tenant_context(tenant):
            return services.points_adjust(
                customer=members[index], points=100, reason="补偿", staff=manager
            )

    results = run_threads(10, adjust)
    succeeded = [r for r in results if isinstance(r, PointsEntry)]
    refused = [r for r in results if isinstance(r, services.PointsError)]
    assert len(succeeded) == 5, results
    assert len(refused) == 5 and {r.code for r in refused} == {"over_budget"}
    with tenant_context(tenant):
        assert PointsEntry.objects.filter(staff=manager).aggregate(s=Sum("points"))["s"] == 500
