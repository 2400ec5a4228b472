"""Without DATABASE_REPLICA_URL the replica router changes nothing: marked reads use the
primary and no pin cookie is set. The replica itself is tested in tests/replica/."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stores.models import Store
from tenancy.context import tenant_context
from tenancy.models import Role
from tenancy.replica import PIN_COOKIE, ReplicaRouter, reads_from_replica


@pytest.mark.django_db
def test_marked_reads_use_the_primary_when_no_replica_is_configured(world):
    with tenant_context(world.tenant_a), reads_from_replica():
        assert Store.objects.all().db == "default"
        assert list(Store.objects.order_by("code").values_list("code", flat=True)) == [
            "BJ-ZY-001",
            "BJ-ZY-002",
        ]


@pytest.mark.django_db
def test_no_pin_cookie_without_a_replica(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(reverse("customers:tags"), {"name": "no-replica"})
    assert response.status_code == 302
    assert PIN_COOKIE not in response.cookies


def test_the_replica_is_never_migrated():
    router = ReplicaRouter()
    assert router.allow_migrate("replica", "stores") is False
    assert router.allow_migrate("default", "stores") is None
