"""Members written by an import (bulk, no save()) get their profile, pinyin keys and
anniversary through customers' members_bulk_written event: found by "zw" at once."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer, ImportJob
from interactions.models import MemberProfile
from interactions.selectors import member_search
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.customers.test_import_export import csv_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _import(client, rows, capture) -> None:
    """Upload, then confirm the preview, as HQ does on the pages."""
    with capture(execute=True):
        client.post(
            reverse("customers:import"),
            {"file": SimpleUploadedFile("members.csv", csv_bytes(rows))},
        )
    with tenant_context(client.tenant):
        job = ImportJob.objects.order_by("-pk").first()
    with capture(execute=True):
        client.post(reverse("customers:import_confirm", args=[job.pk]))


def test_an_imported_member_is_found_by_pinyin_initials_and_has_an_anniversary(
    world, client_for, django_capture_on_commit_callbacks
):
    rows = [
        ["13900001111", "张伟", "男", "", "", "", world.store_a1.code, "是", ""],
        ["13900002222", "李娜", "女", "", "", "", world.store_a1.code, "否", ""],
    ]
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.tenant = world.tenant_a
    _import(client, rows, django_capture_on_commit_callbacks)

    with tenant_context(world.tenant_a):
        assert Customer.objects.count() == 2
        assert [m.name for m in member_search("zw")] == ["张伟"]
        today = timezone.localtime(timezone.now(), world.tenant_a.zone).strftime("%m-%d")
        assert set(MemberProfile.objects.values_list("anniversary", flat=True)) == {today}

    # A second import renames a member: the keys follow the new name.
    rows[0][1] = "王芳"
    _import(client, rows, django_capture_on_commit_callbacks)
    with tenant_context(world.tenant_a):
        assert member_search("zw") == []
        assert [m.name for m in member_search("wf")] == ["王芳"]
