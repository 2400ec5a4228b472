"""Two counters enrol the same phone at the same moment: one member, the other sees it."""

import pytest

from customers.models import Customer
from customers.services import DuplicatePhone, customer_enrol
from tenancy.context import tenant_context
from tenancy.encryption import phone_index
from tenancy.models import Role
from tests.concurrency.threads import run_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_enrol_of_one_phone_makes_one_member(world):
    staff = [world.staff_a[Role.CLERK], world.staff_a[Role.STORE_MANAGER]]

    def counter(index: int) -> tuple[str, int]:
        with tenant_context(world.tenant_a):
            try:
                customer = customer_enrol(
                    staff=staff[index], phone="13812345678", name="并发", home_store=world.store_a1
                )
                return ("enrolled", customer.pk)
            except DuplicatePhone as exc:
                return ("duplicate", exc.existing.pk)

    outcomes = run_threads(2, counter)

    kinds = sorted(kind for kind, _pk in outcomes)
    assert kinds == ["duplicate", "enrolled"], outcomes
    with tenant_context(world.tenant_a):
        assert Customer.objects.filter(phone_hash=phone_index("13812345678")).count() == 1
        (pk,) = Customer.objects.values_list("pk", flat=True)
    assert {pk for _kind, pk in outcomes} == {pk}
