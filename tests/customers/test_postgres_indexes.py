"""The counter lookups are served by (tenant, ...) indexes on PostgreSQL.

With enable_seqscan off the planner takes an index whenever one can answer the query, so
the plan names the index deterministically; a lookup with no usable index would still show
a Seq Scan (at a huge cost) and fail here.
"""

import pytest
from django.db import connection

from customers.models import Customer
from tenancy.context import tenant_context

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def plan_for(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        try:
            cursor.execute("EXPLAIN " + sql, params)
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET enable_seqscan")


@pytest.fixture
def many_members(world):
    with tenant_context(world.tenant_a):
        Customer.objects.bulk_create(
            [
                Customer(
                    phone=f"139{n:08d}",
                    phone_last4=f"{n:08d}"[-4:],
                    card_number=f"8{n:09d}",
                    name=f"会员{n}",
                    home_store=world.store_a1,
                )
                for n in range(3000)
            ]
        )
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE customers_customer")
        yield world


@pytest.mark.parametrize(
    ("lookup", "index"),
    [
        ({"phone": "13900001234"}, "customer_phone_per_tenant"),
        ({"phone_last4": "1234"}, "customer_last4_idx"),
        ({"card_number": "8000001234"}, "customer_card_per_tenant"),
    ],
)
def test_lookup_uses_its_index(many_members, lookup, index):
    with tenant_context(many_members.tenant_a):
        plan = plan_for(Customer.objects.filter(is_erased=False, **lookup))
    assert "Seq Scan" not in plan, plan
    assert index in plan, plan
