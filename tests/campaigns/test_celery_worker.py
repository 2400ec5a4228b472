"""A real Celery worker on Redis runs the birthday fan-out end to end.

beat -> tenancy.fan_out -> campaigns.birthday_fan_out (per tenant) -> campaigns.birthday_batch
(per 1,000 members) -> claims, messages, dispatch. Needs PostgreSQL (marked) and Redis
(REDIS_URL): without Redis the test is skipped, or fails when REQUIRE_POSTGRES=1 (CI) since
CI provides both.
"""

from __future__ import annotations

import datetime
import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.result import EagerResult
from celery.signals import task_postrun
from django.db import connection
from django.utils import timezone

from campaigns import services
from campaigns.models import BirthdayGreeting, Delivery, DeliveryKind, DeliveryStatus
from crm_site.celery import app
from customers.models import Customer
from tenancy.context import tenant_context
from tenancy.tasks import fan_out
from tests.campaigns.factories_services import MemberFactory
from tests.factories import StoreFactory, TenantFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("REDIS_URL", "")


def _close_db_after_task(**kwargs) -> None:
    # Tasks run on the worker's thread with its own connection; CONN_MAX_AGE would keep it
    # open after the worker stops, and the test database could then not be dropped.
    connection.close()


@pytest.fixture
def worker():
    if not REDIS_URL:
        message = "needs Redis: set REDIS_URL"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"REQUIRE_POSTGRES=1 but this test would be skipped: {message}")
        pytest.skip(message)
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    app.conf.broker_url = REDIS_URL
    task_postrun.connect(_close_db_after_task, dispatch_uid="test-close-db", weak=False)
    try:
        app.control.purge()  # nothing left over from an earlier, interrupted run
        with start_worker(
            app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ) as running:
            yield running
    finally:
        task_postrun.disconnect(dispatch_uid="test-close-db")
        app.conf.update(saved)


def birthdays_today(tenant, count: int) -> list[int]:
    """`count` members of `tenant` whose birthday is today on the tenant's clock."""
    today = timezone.localtime(timezone.now(), tenant.zone).date()
    with tenant_context(tenant):
        rules = services.campaign_settings()
        rules.birthday_send_time = datetime.time(0, 0)
        rules.quiet_start = rules.quiet_end  # no quiet hours, whatever the hour of the run
        rules.save()
        store = StoreFactory()
        first = MemberFactory(home_store=store, birth_month=today.month, birth_day=today.day)
        Customer.objects.bulk_create(
            Customer(
                phone=f"151{n:08d}",
                card_number=f"W{tenant.pk}{n:08d}",
                name=f"寿星{n}",
                home_store=store,
                marketing_consent=True,
                birth_month=today.month,
                birth_day=today.day,
            )
            for n in range(count - 1)
        )
        return sorted(
            [first.pk, *Customer.objects.exclude(pk=first.pk).values_list("pk", flat=True)]
        )


def sent_birthdays(tenant) -> list[int]:
    with tenant_context(tenant):
        return sorted(
            Delivery.objects.filter(
                kind=DeliveryKind.BIRTHDAY, status=DeliveryStatus.SENT
            ).values_list("member_id", flat=True)
        )


def test_a_real_worker_runs_the_birthday_fan_out_end_to_end(worker):
    shanghai = TenantFactory(slug="worker-sh", time_zone="Asia/Shanghai")
    urumqi = TenantFactory(slug="worker-urumqi", time_zone="Asia/Urumqi")
    # 1,200 members: two batch tasks for this tenant (1,000 + 200), one for the other.
    expected = {shanghai: birthdays_today(shanghai, 1200), urumqi: birthdays_today(urumqi, 3)}

    assert app.conf.task_always_eager is False
    result = fan_out.delay("campaigns.birthday_fan_out")
    assert not isinstance(result, EagerResult)  # queued on Redis, not run in this thread

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(len(sent_birthdays(t)) == len(ids) for t, ids in expected.items()):
            break
        time.sleep(0.5)
    for tenant, ids in expected.items():
        assert sent_birthdays(tenant) == ids
        with tenant_context(tenant):
            assert BirthdayGreeting.objects.count() == len(ids)
            assert Delivery.objects.count() == len(ids)


def test_eager_mode_is_back_for_the_other_tests():
    """Runs after the worker test in this file: the fixture put the session setting back."""
    assert app.conf.task_always_eager is True
