"""The beat entries fan the nightly jobs out per tenant, and the jobs do their work."""

from __future__ import annotations

import datetime

import pytest
from celery import current_app
from django.conf import settings

from loyalty.models import EntryKind, PointsEntry
from tenancy.context import tenant_context
from tenancy.tasks import fan_out
from tests.factories import CustomerFactory, StoreFactory, TenantFactory
from tests.loyalty.conftest import assert_balanced, earn

pytestmark = pytest.mark.clock


def test_every_loyalty_beat_entry_fans_out_a_registered_task():
    beat = settings.CELERY_BEAT_SCHEDULE.values()
    entries = [e for e in beat if "loyalty." in (e.get("args") or [""])[0]]
    assert {e["args"][0] for e in entries} == {
        "loyalty.expire_points",
        "loyalty.evaluate_tiers",
        "loyalty.notify_expiring",
        "loyalty.release_pending",
        "loyalty.settle_last_month",
    }
    for entry in entries:
        assert entry["task"] == "tenancy.fan_out"
        assert entry["args"][0] in current_app.tasks


@pytest.mark.django_db
def test_the_expiry_task_expires_each_tenants_due_points():
    tenants = [TenantFactory(slug="t1"), TenantFactory(slug="t2")]
    members = []
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    for tenant in tenants:
        with tenant_context(tenant):
            member = CustomerFactory(home_store=StoreFactory())
            earn(member, "sale:1", "100", long_ago)
            members.append(member)
    assert fan_out.apply(args=["loyalty.expire_points"]).get() == 2
    fan_out.apply(args=["loyalty.evaluate_tiers"]).get()
    fan_out.apply(args=["loyalty.notify_expiring"]).get()
    for tenant, member in zip(tenants, members, strict=True):
        with tenant_context(tenant):
            assert PointsEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 1
            assert assert_balanced(member) == 0
