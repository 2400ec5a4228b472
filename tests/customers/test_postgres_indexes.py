"""The counter lookups are served by (tenant, ...) indexes on PostgreSQL.

With enable_seqscan off the planner takes an index whenever one can answer the query, so
the plan names the index deterministically; a lookup with no usable index would still show
a Seq Scan (at a huge cost) and fail here.
"""

import pytest
from django.db import connection

from customers.models import Customer
from tenancy.context import tenant_context
from tenancy.encryption import phone_index

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
        # The phone is encrypted: the lookup goes through its blind index.
        ({"phone_hash": phone_index("13900001234")}, "customer_phone_hash_per_tenant"),
        ({"phone_last4": "1234"}, "customer_last4_idx"),
        ({"card_number": "8000001234"}, "customer_card_per_tenant"),
    ],
)
def test_lookup_uses_its_index(many_members, lookup, index):
    with tenant_context(many_members.tenant_a):
        plan = plan_for(Customer.objects.filter(is_erased=False, **lookup))
    assert "Seq Scan" not in plan, plan
    assert index in plan, plan


def test_the_counter_phone_lookup_query_uses_the_blind_index(many_members):
    """The SQL customer_lookup really runs for a full phone, explained as it ran."""
    from django.test.utils import CaptureQueriesContext

    from customers.selectors import customer_lookup
    from tenancy.models import Role

    with tenant_context(many_members.tenant_a):
        with CaptureQueriesContext(connection) as captured:
            found = customer_lookup(query="13900001234", staff=many_members.staff_a[Role.CLERK])
        assert [member.phone for member in found] == ["13900001234"]
        sql = next(q["sql"] for q in captured.captured_queries if "phone_hash" in q["sql"])
        # Without the tenant selection that travels in front of each statement (set_config).
        sql = sql[sql.index('SELECT "customers_customer"') :]
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")
            try:
                cursor.execute("EXPLAIN " + sql)
                plan = "\n".join(row[0] for row in cursor.fetchall())
            finally:
                cursor.execute("RESET enable_seqscan")
    assert "customer_phone_hash_per_tenant" in plan, plan
    assert "Seq Scan" not in plan, plan
