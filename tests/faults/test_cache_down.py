"""Redis stops in the middle of a working day: the counter keeps working from PostgreSQL.

A real redis-server on a private port serves the cache, is killed mid-test and started again.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from analytics.models import Sale
from customers.models import Customer
from loyalty.models import EntryKind, PointsEntry
from loyalty.services import points_award
from tenancy.cache import ResilientRedisCache
from tenancy.context import tenant_context
from tenancy.encryption import phone_index
from tenancy.models import Role
from tests.analytics.test_counter import form_data
from tests.factories import PASSWORD, CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _quick_retry(monkeypatch):
    # Production skips a failed cache for 5 s; the test retries sooner so it stays short.
    monkeypatch.setattr(ResilientRedisCache, "RETRY_SECONDS", 0.2)


def _counter_day(world, client: Client, *, phone: str) -> None:
    """Sign in, look up, enrol, record a sale and redeem, all through the pages."""
    clerk = world.staff_a[Role.CLERK]
    response = client.post(
        reverse("login"), {"username": clerk.user.username, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content[:500]
    assert client.get(reverse("customers:lookup"), {"q": "5678"}).status_code == 200
    assert client.get(reverse("loyalty:counter"), {"q": "5678"}).status_code == 302

    response = client.post(
        reverse("customers:enrol"),
        {
            "phone": phone,
            "name": "新会员",
            "gender": "unknown",
            "home_store": world.store_a1.pk,
            "consent_channel": "counter",
        },
    )
    assert response.status_code == 302, response.content[:500]

    response = client.post(
        reverse("analytics:counter_sale"),
        form_data(
            world.store_a1,
            member=phone,
            lines=[{"sku": "A1", "name": "面包", "quantity": "1", "unit_price": "20.00"}],
        ),
    )
    assert response.status_code == 302, response.content[:500]

    with tenant_context(world.tenant_a):
        member = Customer.objects.get(phone_hash=phone_index("13812345678"))
    url = reverse("loyalty:redeem", args=[member.pk])
    token = client.get(url).context["form"].initial["token"]
    response = client.post(
        url, {"points": 100, "reason": "保温杯", "store": world.store_a1.pk, "token": token}
    )
    assert response.status_code == 302, response.context["form"].errors


def test_the_counter_works_with_redis_stopped_and_after_it_returns(world, redis_cache):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13812345678")
        points_award(customer=member, points=1000, source_key="gift:cache", reason="test")

    # Warm: the user and membership are cached, so the outage hits a cache that has them.
    client = Client()
    _counter_day(world, client, phone="13900000001")
    assert Client().get(reverse("healthz")).json()["status"] == "ok"

    redis_cache.stop()
    started = time.monotonic()
    _counter_day(world, client, phone="13900000002")  # the same session, mid-day
    _counter_day(world, Client(), phone="13900000003")  # and a fresh sign-in
    # The breaker keeps each page from waiting on the dead socket more than now and then.
    assert time.monotonic() - started < 20
    health = Client().get(reverse("healthz"))
    assert health.status_code == 200
    assert health.json()["status"] == "degraded"
    assert health.json()["database"] == "ok"
    assert health.json()["cache"].startswith("error")

    redis_cache.start()
    time.sleep(0.3)  # past the breaker's retry interval
    _counter_day(world, client, phone="13900000004")
    assert Client().get(reverse("healthz")).json()["status"] == "ok"
    cache.set("after-outage", "ok")
    assert cache.get("after-outage") == "ok"  # the cache is in use again

    with tenant_context(world.tenant_a):
        phones = Customer.objects.values_list("phone", flat=True)
        assert sum(1 for phone in phones if phone.startswith("139000000")) == 4
        assert Sale.objects.count() == 4
        assert PointsEntry.objects.filter(kind=EntryKind.REDEEM).count() == 4


def test_a_cache_error_is_a_miss_and_is_logged_once_per_interval(redis_cache, caplog):
    redis_cache.stop()
    with caplog.at_level("WARNING", logger="tenancy.cache"):
        for _ in range(5):
            assert cache.get("anything", "default") == "default"
            cache.set("anything", 1)
            assert cache.get_many(["a", "b"]) == {}
            cache.delete("anything")
            time.sleep(0.25)  # past the retry interval: every round really asks Redis
    assert len([r for r in caplog.records if r.name == "tenancy.cache"]) == 1
