"""Migrating members from another system: 会员等级 by tier name and 积分 as an opening balance,
through the member import pages (upload -> preview -> confirm); a re-run never credits twice."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.urls import reverse

from customers.models import Customer, ImportJob, ImportStatus
from loyalty.models import PointsAccount, PointsEntry, PointsLot
from tenancy.context import tenant_context
from tenancy.encryption import phone_index
from tenancy.models import Role
from tests.loyalty.factories import standard_tiers

pytestmark = pytest.mark.django_db

HEADER = ["手机号码", "姓名", "门店编码", "等级", "当前积分"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def in_a(world):
    with tenant_context(world.tenant_a):
        standard_tiers()
        yield world


@pytest.fixture
def imported(in_a, client_for, django_capture_on_commit_callbacks):
    """Upload a GBK CSV through the page and confirm it if the check passed."""
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])

    def do(rows) -> ImportJob:
        buffer = io.StringIO()
        csv.writer(buffer).writerows([HEADER, *rows])  # quotes "1,200"; lines end in \r\n
        content = buffer.getvalue().encode("gbk")
        entries_before = PointsEntry.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(
                reverse("customers:import"), {"file": SimpleUploadedFile("old-pos.csv", content)}
            )
        job = ImportJob.objects.order_by("-pk").first()
        if job.status == ImportStatus.READY:
            page = client.get(reverse("customers:import_job", args=[job.pk])).content.decode()
            assert "会员等级" in page and "积分" in page  # the preview shows both columns
            # Nothing is written before the confirm.
            assert PointsEntry.objects.count() == entries_before
            with django_capture_on_commit_callbacks(execute=True):
                client.post(reverse("customers:import_confirm", args=[job.pk]))
            job.refresh_from_db()
        return job

    return do


def balance(phone: str) -> int:
    return PointsAccount.objects.get(customer__phone_hash=phone_index(phone)).balance


ROWS = [
    ["13900000001", "王芳", "BJ-ZY-001", "金卡", "1,200"],
    ["13900000002", "李雷", "BJ-ZY-001", "银卡", ""],
    ["13900000003", "韩梅梅", "BJ-ZY-001", "", "300"],
]


def test_tier_by_name_and_one_opening_entry_per_member(imported):
    job = imported(ROWS)
    assert job.status == ImportStatus.DONE, job.errors
    gold = Customer.objects.get(phone_hash=phone_index("13900000001"))
    assert (gold.tier_name, balance("13900000001")) == ("金卡", 1200)
    assert Customer.objects.get(phone_hash=phone_index("13900000002")).tier_name == "银卡"
    assert balance("13900000003") == 300
    entries = PointsEntry.objects.order_by("source_key")
    assert [(e.source_key.split(":")[0], e.points) for e in entries] == [
        ("import-opening", 1200),
        ("import-opening", 300),
    ]
    # The ledger stays the truth: balance == sum of entries == points in lots.
    assert PointsLot.objects.aggregate(total=Sum("remaining"))["total"] == 1500


def test_running_the_same_file_again_never_credits_twice(imported):
    imported(ROWS)
    job = imported(ROWS)
    assert (job.status, job.updated_count) == (ImportStatus.DONE, 3)
    assert balance("13900000001") == 1200 and balance("13900000003") == 300
    assert PointsEntry.objects.count() == 2


def test_unknown_tier_bad_points_and_a_changed_balance_are_refused(imported):
    imported(ROWS)
    job = imported(
        [
            ["13900000004", "新人", "BJ-ZY-001", "黑卡", "10"],  # row 2: no such tier
            ["13900000005", "新人二", "BJ-ZY-001", "", "-5"],  # row 3
            ["13900000001", "王芳", "BJ-ZY-001", "金卡", "999"],  # row 4: 1200 was imported
        ]
    )
    assert job.status == ImportStatus.FAILED
    assert [(e["row"], e["column"], e["value"]) for e in job.errors] == [
        (2, "等级", "黑卡"),
        (3, "当前积分", "-5"),
        (4, "当前积分", "999"),
    ]
    assert "金卡" in job.error_rows[0]["message"]  # the tiers that exist are named
    assert "1200" in job.error_rows[2]["message"]
    assert not Customer.objects.filter(phone_hash=phone_index("13900000004")).exists()
    assert balance("13900000001") == 1200
