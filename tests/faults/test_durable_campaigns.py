"""A campaign sent "now" while the broker is down: the page answers, nothing is lost, and the
campaign runs exactly once after the broker returns (beat's run_due finds its row)."""

from __future__ import annotations

import datetime
import time

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import connection
from django.test import Client
from django.urls import reverse

from campaigns import services, tasks
from campaigns.models import Campaign, CampaignRun, CampaignStatus, Channel, Delivery
from crm_site.celery import app
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.campaigns.factories import CampaignFactory
from tests.factories import CustomerFactory
from tests.faults.test_durable_imports import _fresh_broker_connections

MEMBERS = 5


def _close_db_after_task(**kwargs) -> None:
    connection.close()  # the worker thread's connection, so the test database can be dropped


def _wait_for(predicate, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_campaign_sent_now_while_the_broker_is_down_runs_once_after_it_returns(
    world, private_redis
):
    with tenant_context(world.tenant_a):
        # No quiet hours, so "now" sends whatever the clock says.
        rules = services.campaign_settings()
        rules.quiet_start = rules.quiet_end = datetime.time(0, 0)
        rules.save()
        for n in range(MEMBERS):
            CustomerFactory(
                home_store=world.store_a1, marketing_consent=True, phone=f"1390000{n:04d}"
            )
        campaign = CampaignFactory(channel=Channel.SMS, template="{name}您好")
    client = Client()
    client.force_login(world.staff_a[Role.HQ_ADMIN].user)

    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    app.conf.broker_url = private_redis.url
    _fresh_broker_connections()
    task_postrun.connect(_close_db_after_task, dispatch_uid="faults-close-db", weak=False)
    try:
        private_redis.stop()
        answer = client.post(reverse("campaigns:campaign_schedule", args=[campaign.pk]))
        assert answer.status_code == 302  # approved, not a 500
        with tenant_context(world.tenant_a):
            assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED
            assert not CampaignRun.objects.exists()

        private_redis.start()
        _fresh_broker_connections()
        with start_worker(
            app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ):
            # What beat does every minute; twice, as a late tick and a redelivery would.
            tasks.run_due.delay(world.tenant_a.pk)
            tasks.run_due.delay(world.tenant_a.pk)

            def sent() -> bool:
                with tenant_context(world.tenant_a):
                    return Delivery.objects.filter(status="sent").count() == MEMBERS

            _wait_for(sent)
        with tenant_context(world.tenant_a):
            assert CampaignRun.objects.filter(campaign=campaign).count() == 1
            assert Delivery.objects.count() == MEMBERS  # each member once
            assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DONE
            assert services.campaigns_due() == []
    finally:
        task_postrun.disconnect(dispatch_uid="faults-close-db")
        app.conf.update(saved)
        _fresh_broker_connections()
