"""Concurrent first sales of a referred member reward the referrer exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from interactions import hooks, services
from interactions.models import Referral
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_parallel_first_sales_reward_once(world):
    with tenant_context(world.tenant_a):
        alice = CustomerFactory(home_store=world.store_a1)
        bob = CustomerFactory(home_store=world.store_a1)
        services.referral_record(staff=world.staff_a[Role.CLERK], referred=bob, referrer=alice)
    rewarded = []
    lock = threading.Lock()

    def rewarder(**kwargs):
        with lock:
            rewarded.append(kwargs["source_key"])

    hooks.register("referral_rewarder", rewarder)
    start = threading.Barrier(8)
    results = []

    def sell(number: int) -> None:
        try:
            with tenant_context(world.tenant_a):
                start.wait()
                won = services.referral_first_sale(member=bob, sale_reference=f"S{number}")
                with lock:
                    results.append(won)
        finally:
            connection.close()

    threads = [threading.Thread(target=sell, args=(n,)) for n in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        hooks.unregister("referral_rewarder")
    assert sorted(results) == [False] * 7 + [True]
    assert len(rewarded) == 1
    with tenant_context(world.tenant_a):
        referral = Referral.objects.get()
        assert referral.rewarded and referral.first_sale_reference.startswith("S")
