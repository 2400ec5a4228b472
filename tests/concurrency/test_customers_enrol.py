"""Two counters enrol the same phone at the same moment: one member, the other sees it."""

import threading

import pytest
from django.db import connection

from customers.models import Customer
from customers.services import DuplicatePhone, customer_enrol
from tenancy.context import tenant_context
from tenancy.models import Role

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_enrol_of_one_phone_makes_one_member(world):
    barrier = threading.Barrier(2)
    outcomes = []

    def counter(staff):
        try:
            with tenant_context(world.tenant_a):
                barrier.wait()
                try:
                    customer = customer_enrol(
                        staff=staff, phone="13812345678", name="并发", home_store=world.store_a1
                    )
                    outcomes.append(("enrolled", customer.pk))
                except DuplicatePhone as exc:
                    outcomes.append(("duplicate", exc.existing.pk))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=counter, args=(world.staff_a[role],))
        for role in (Role.CLERK, Role.STORE_MANAGER)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    kinds = sorted(kind for kind, _pk in outcomes)
    assert kinds == ["duplicate", "enrolled"], outcomes
    with tenant_context(world.tenant_a):
        assert Customer.objects.filter(phone="13812345678").count() == 1
        (pk,) = Customer.objects.values_list("pk", flat=True)
    assert {pk for _kind, pk in outcomes} == {pk}
