"""Real threads on PostgreSQL: redemptions racing the release of pending points (and two
release jobs racing each other) never overspend and never break the ledger."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from loyalty import services
from loyalty.models import PointsAccount, PointsEntry, PointsLot
from tenancy.context import tenant_context
from tests.concurrency.threads import run_threads
from tests.factories import CustomerFactory, StoreFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.clock]

RELEASERS = 2
REDEEMERS = 28


def test_redemptions_racing_the_release_of_pending_points_never_overspend():
    tenant = TenantFactory(slug="pending-threads")
    with tenant_context(tenant):
        store = StoreFactory()
        member = CustomerFactory(home_store=store)
        rule = services.points_rule()
        rule.redeem_minimum = 10
        rule.pending_days = 7
        rule.save()
        now = timezone.now()
        for index in range(2):  # 100 spendable (window over) + 100 pending, due for release
            services.points_earn_for_sale(
                customer=member, source_key=f"sale:{index}", amount=Decimal("100"),
                store=store, occurred_at=now - datetime.timedelta(minutes=5 - index),
            )  # fmt: skip
        lots = PointsLot.objects.order_by("id")
        lots.filter(pk=lots[0].pk).update(pending_until=None)
        lots.filter(pk=lots[1].pk).update(pending_until=now - datetime.timedelta(seconds=1))

    def work(index: int):
        with tenant_context(tenant):
            if index < RELEASERS:
                return services.points_release_pending()
            return services.points_redeem(
                customer=member, points=10, source_key=f"sale-redeem:{index}", store=store,
                staff=None,
            )  # fmt: skip

    results = run_threads(RELEASERS + REDEEMERS, work)
    released, redeemed = results[:RELEASERS], results[RELEASERS:]
    assert sorted(released) == [0, 1], released  # one job released the lot, once
    succeeded = [r for r in redeemed if isinstance(r, PointsEntry)]
    refused = [r for r in redeemed if isinstance(r, services.PointsError)]
    assert len(succeeded) + len(refused) == REDEEMERS, redeemed[:3]
    # Never more than the 200 points there are; at least the 100 spendable from the start.
    assert 10 <= len(succeeded) <= 20
    with tenant_context(tenant):
        account = PointsAccount.objects.get(customer=member)
        ledger = account.entries.aggregate(s=Sum("points"))["s"]
        lots_left = account.lots.aggregate(s=Sum("remaining"))["s"]
        assert account.balance == ledger == lots_left == 200 - 10 * len(succeeded) >= 0
        assert not account.lots.filter(pending_until__isnull=False).exists()
        # What was refused was refused for lack of points, never for a lot counted twice.
        assert all(r.code in {"insufficient", "pending"} for r in refused)
