"""Counter lookup: each key finds the member, phones are masked for clerks, reveals audited."""

import pytest
from django.urls import reverse

from customers.selectors import classify_query, customer_lookup
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("13812345678", "phone"),
        ("138 1234 5678", "phone"),
        ("+86 138-1234-5678", "phone"),
        ("5678", "last4"),
        ("8000000001", "card"),
        ("m01000001", "card"),
        ("  ", ""),
    ],
)
def test_query_kind(query, kind):
    assert classify_query(query).kind == kind


def test_lookup_by_full_phone_last4_and_card(member, in_a):
    other = CustomerFactory(phone="13900005678", home_store=in_a.store_a2)
    CustomerFactory(phone="13900001111")
    clerk = in_a.staff_a[Role.CLERK]
    assert customer_lookup(query="13812345678", staff=clerk) == [member]
    assert set(customer_lookup(query="5678", staff=clerk)) == {member, other}
    assert customer_lookup(query="8000000001", staff=clerk) == [member]
    assert customer_lookup(query="1234", staff=clerk) == []


def test_last4_returns_at_most_20(in_a):
    for n in range(25):
        CustomerFactory(phone=f"137{n:04d}0000"[:7] + "4321")
    assert len(customer_lookup(query="4321", staff=in_a.staff_a[Role.CLERK])) == 20


def test_lookup_never_crosses_tenants(world):
    from tenancy.context import tenant_context

    with tenant_context(world.tenant_b):
        CustomerFactory(phone="13812345678", card_number="8000000009", home_store=world.store_b1)
    with tenant_context(world.tenant_a):
        assert customer_lookup(query="13812345678", staff=world.staff_a[Role.CLERK]) == []
        assert customer_lookup(query="5678", staff=world.staff_a[Role.CLERK]) == []


def test_clerk_sees_masked_phone_in_results_and_profile(member, client_for, in_a):
    client = client_for(in_a.staff_a[Role.CLERK])
    html = client.get(reverse("customers:lookup"), {"q": "5678", "partial": "1"}).content.decode()
    assert "138****5678" in html
    assert "13812345678" not in html
    html = client.get(reverse("customers:profile", args=[member.pk])).content.decode()
    assert "138****5678" in html and "13812345678" not in html
    assert reverse("customers:reveal", args=[member.pk]) not in html


def test_clerk_cannot_reveal(member, client_for, in_a):
    response = client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:reveal", args=[member.pk])
    )
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="customer.phone_revealed").exists()


@pytest.mark.parametrize("role", [Role.STORE_MANAGER, Role.HQ_STAFF, Role.HQ_ADMIN])
def test_manager_and_hq_reveal_is_audited(role, member, client_for, in_a):
    staff = in_a.staff_a[role]
    client = client_for(staff)
    assert (
        "13812345678"
        not in client.get(reverse("customers:profile", args=[member.pk])).content.decode()
    )
    response = client.post(reverse("customers:reveal", args=[member.pk]))
    assert response.status_code == 200
    assert "13812345678" in response.content.decode()
    event = AuditEvent.objects.get(action="customer.phone_revealed")
    assert event.object_id == str(member.pk)
    assert event.actor == staff.user


def test_partial_answers_with_the_results_fragment_only(member, client_for, in_a):
    response = client_for(in_a.staff_a[Role.CLERK]).get(
        reverse("customers:lookup"), {"q": "13812345678"}, headers={"X-Requested-With": "fetch"}
    )
    html = response.content.decode()
    assert member.name in html
    assert "<html" not in html


def test_unknown_full_phone_offers_to_enrol_it(in_a, client_for):
    html = (
        client_for(in_a.staff_a[Role.CLERK])
        .get(reverse("customers:lookup"), {"q": "13911112222", "partial": "1"})
        .content.decode()
    )
    assert reverse("customers:enrol") + "?phone=13911112222" in html


@pytest.mark.parametrize("query", ["13812345678", "5678", "8000000001"])
def test_lookup_request_query_count(query, member, in_a, client_for, django_assert_max_num_queries):
    """The view issues one query; a whole warm request one (three on PostgreSQL).

    Measured: the signed-in user and staff membership come from the cache after the first
    request (a cold request adds the user and the staff member + tenant reads). PostgreSQL
    adds two set_config calls that select and reset the tenant for row-level security.
    """
    for n in range(5):
        CustomerFactory(phone=f"139000{n}5678", home_store=in_a.store_a2)
    client = client_for(in_a.staff_a[Role.CLERK])
    from django.db import connection

    client.get(reverse("customers:lookup"))  # warms the user/membership cache
    budget = 3 if connection.vendor == "postgresql" else 1
    with django_assert_max_num_queries(budget) as captured:
        response = client.get(reverse("customers:lookup"), {"q": query, "partial": "1"})
    assert response.status_code == 200
    assert member.name in response.content.decode()
    own = [q for q in captured.captured_queries if "customers_" in q["sql"]]
    assert len(own) == 1


def test_cold_lookup_request_query_count(member, in_a, client_for, django_assert_max_num_queries):
    """First request of a session: user and membership are read too (3; 7 on PostgreSQL)."""
    from django.core.cache import cache
    from django.db import connection

    cache.clear()
    client = client_for(in_a.staff_a[Role.CLERK])
    budget = 7 if connection.vendor == "postgresql" else 3
    with django_assert_max_num_queries(budget):
        response = client.get(reverse("customers:lookup"), {"q": "5678", "partial": "1"})
    assert member.name in response.content.decode()
