"""The counter sale form sent many times, together and one after the other: one sale.

Each request carries the form's one-time token; the second of two concurrent requests waits
on the unique (store, external_id) index and is answered with the first sale.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from analytics.models import Sale, SaleLine
from loyalty.models import PointsEntry
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.analytics.test_counter import form_data
from tests.concurrency.threads import run_threads
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REPEATS = 10


def _signed_in(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def _sale_form(world, client) -> dict:
    with tenant_context(world.tenant_a):
        CustomerFactory(home_store=world.store_a1, phone="13812345678")
    token = client.get(reverse("analytics:counter_sale")).context["form"].initial["token"]
    data = form_data(
        world.store_a1,
        member="13812345678",
        lines=[{"sku": "A1", "name": "面包", "quantity": "2", "unit_price": "50.00"}],
    )
    return {**data, "token": token}


def _assert_one_sale(world, locations: list[str]) -> None:
    with tenant_context(world.tenant_a):
        sale = Sale.objects.get()
        assert SaleLine.objects.count() == 1
        assert PointsEntry.objects.filter(source_key=f"sale:{sale.pk}").count() == 1
    # Every answer, the first and the repeats, leads to the one sale.
    assert set(locations) == {reverse("analytics:sale_detail", kwargs={"sale_id": sale.pk})}


def test_the_same_counter_sale_posted_ten_times_at_once_records_one_sale(world):
    clerk = world.staff_a[Role.CLERK]
    data = _sale_form(world, _signed_in(clerk))
    clients = [_signed_in(clerk) for _ in range(REPEATS)]

    answers = run_threads(
        REPEATS, lambda i: clients[i].post(reverse("analytics:counter_sale"), data)
    )

    assert [getattr(answer, "status_code", answer) for answer in answers] == [302] * REPEATS
    _assert_one_sale(world, [answer["Location"] for answer in answers])


def test_the_same_counter_sale_posted_ten_times_in_a_row_records_one_sale(world):
    client = _signed_in(world.staff_a[Role.CLERK])
    data = _sale_form(world, client)
    url = reverse("analytics:counter_sale")

    answers = [client.post(url, data) for _ in range(REPEATS)]

    assert [answer.status_code for answer in answers] == [302] * REPEATS
    _assert_one_sale(world, [answer["Location"] for answer in answers])
    page = client.post(url, data, follow=True).content.decode()
    assert "这笔销售已经记录" in page


def test_a_fresh_form_records_a_second_sale(world):
    client = _signed_in(world.staff_a[Role.CLERK])
    first = _sale_form(world, client)
    client.post(reverse("analytics:counter_sale"), first)
    token = client.get(reverse("analytics:counter_sale")).context["form"].initial["token"]
    client.post(reverse("analytics:counter_sale"), {**first, "token": token})
    with tenant_context(world.tenant_a):
        assert Sale.objects.count() == 2
