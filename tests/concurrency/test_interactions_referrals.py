"""Concurrent first sales of a referred member reward the referrer exactly once, through the
production rewarder (loyalty's points ledger)."""

from __future__ import annotations

import pytest

from interactions import services
from interactions.models import Referral
from loyalty.models import PointsAccount, PointsEntry, PointsRule
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.concurrency.threads import run_threads
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def test_parallel_first_sales_reward_once(world):
    with tenant_context(world.tenant_a):
        rule = PointsRule.objects.first() or PointsRule.objects.create()
        rule.referral_points = 300
        rule.save()
        alice = CustomerFactory(home_store=world.store_a1)
        bob = CustomerFactory(home_store=world.store_a1)
        services.referral_record(staff=world.staff_a[Role.CLERK], referred=bob, referrer=alice)

    def sell(number: int) -> bool:
        with tenant_context(world.tenant_a):
            return services.referral_first_sale(member=bob, sale_reference=f"S{number}")

    results = run_threads(THREADS, sell)

    assert sorted(results) == [False] * (THREADS - 1) + [True]
    with tenant_context(world.tenant_a):
        referral = Referral.objects.get()
        assert referral.rewarded and referral.first_sale_reference.startswith("S")
        assert PointsEntry.objects.filter(source_key=f"referral:{referral.pk}").count() == 1
        assert PointsAccount.objects.get(customer=alice).balance == 300
