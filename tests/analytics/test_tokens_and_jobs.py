"""POS token pages (HQ admin) and the beat job's path through tenancy.fan_out."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

import analytics.tasks  # noqa: F401 - a worker autodiscovers it; registers the task here
from analytics.models import StoreApiToken, StoreDailyStats
from analytics.services import local_day
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tenancy.tasks import fan_out

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def test_hq_admin_creates_a_token_shown_once_and_revokes_it(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("analytics:token_list"), {"store": world.store_a1.pk, "name": "一号收银机"}
    )
    assert response.status_code == 200
    plain = response.context["plain_token"]
    assert plain and plain in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    with tenant_context(world.tenant_a):
        token = StoreApiToken.objects.get()
        assert plain.split(".")[2] not in token.secret_hash  # only the hash is kept
    listing = client.get(reverse("analytics:token_list")).content.decode()
    assert plain not in listing and token.key in listing
    revoke = reverse("analytics:token_revoke", kwargs={"token_id": token.pk})
    assert client.get(revoke).status_code == 405
    assert client.post(revoke).status_code == 302
    with tenant_context(world.tenant_a):
        token.refresh_from_db()
        assert token.revoked_at is not None
        assert set(
            AuditEvent.objects.filter(action__startswith="api_token").values_list(
                "action", flat=True
            )
        ) == {"api_token.create", "api_token.revoke"}


def test_other_roles_cannot_manage_tokens(world, client_for):
    for role in (Role.HQ_STAFF, Role.STORE_MANAGER, Role.CLERK):
        response = client_for(world.staff_a[role]).post(
            reverse("analytics:token_list"), {"store": world.store_a1.pk, "name": "x"}
        )
        assert response.status_code == 403
    with tenant_context(world.tenant_a):
        assert not StoreApiToken.objects.exists()


def test_beat_fans_the_nightly_job_out_to_every_tenant(world):
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-nightly-aggregates"]
    assert entry["task"] == "tenancy.fan_out"
    assert fan_out(*entry["args"]) >= 2  # runs in-process in tests
    for tenant, stores in ((world.tenant_a, 2), (world.tenant_b, 1)):
        with tenant_context(tenant):
            yesterday = local_day(timezone.now(), tenant) - datetime.timedelta(days=1)
            assert StoreDailyStats.objects.filter(day=yesterday).count() == stores
