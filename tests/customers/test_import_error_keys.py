"""Import errors are stored as msgids with parameters and read in the reader's language
(issue 16): a file checked for a Chinese uploader reads in English for an English reader,
and jobs from before keep their text."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.models import ImportJob, ImportStatus
from tenancy.context import tenant_context
from tenancy.messages import from_text
from tenancy.models import Role
from tenancy.tabular import DATE_FORMATS_HINT

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

CSV = (
    "手机,姓名,生日,所属门店\r\n"
    "13900000001,王芳,1990-02-29,BJ-ZY-001\r\n"
    "13900000002,李雷,1990-01-02,XX-QQ-9\r\n"
    "13900000002,韩梅梅,1990-01-03,BJ-ZY-001\r\n"
).encode()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _visible(client, url: str, language: str) -> str:
    client.cookies["django_language"] = language
    response = client.get(url)
    assert response.status_code == 200
    return re.sub(r"<[^>]+>", " ", response.content.decode())


def _checked_job(world, client) -> ImportJob:
    """Uploaded by someone reading Chinese: the check runs in zh-hans."""
    from django.test import TestCase

    client.cookies["django_language"] = "zh-hans"
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            reverse("customers:import"), {"file": SimpleUploadedFile("m.csv", CSV)}
        )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        return ImportJob.objects.get()


def test_row_errors_read_in_the_readers_language(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    job = _checked_job(world, client)
    assert job.status == ImportStatus.FAILED
    stored = {error["row"]: error["message"] for error in job.errors}
    assert stored[3] == {
        "msgid": "Unknown store code %(code)s.",
        "context": "",
        "params": {"code": "XX-QQ-9"},
    }
    assert stored[4]["params"] == {"line": 3}
    assert [part["msgid"] for part in stored[2]] == [
        "Not a date.",
        from_text(DATE_FORMATS_HINT)["msgid"],
    ]

    url = reverse("customers:import_job", args=[job.pk])
    chinese = _visible(client, url, "zh-hans")
    assert "不是日期。" in chinese
    assert "门店编码 XX-QQ-9 不存在。" in chinese
    assert "手机号与第 3 行重复。" in chinese
    english = _visible(client, url, "en")
    assert "Not a date. Write dates as 1990-01-02" in english
    assert "Unknown store code XX-QQ-9." in english
    assert "Same mobile number as line 3." in english
    assert "不存在" not in english and "msgid" not in english and "%(" not in english

    client.cookies["django_language"] = "en"
    errors_csv = client.get(reverse("customers:import_errors", args=[job.pk]))
    assert "Unknown store code XX-QQ-9." in errors_csv.content.decode("utf-8-sig")


def test_jobs_from_before_keys_keep_their_text(world, client_for):
    with tenant_context(world.tenant_a):
        old = ImportJob.objects.create(
            file_path="x.csv",
            original_name="旧文件.csv",
            status=ImportStatus.FAILED,
            errors=[
                {"line": 2, "errors": ["手机号格式不正确。"]},
                {"row": 3, "column": "姓名", "value": "", "message": "请填写会员姓名。"},
            ],
        )
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    for language in ("zh-hans", "en"):
        text = _visible(client, reverse("customers:import_job", args=[old.pk]), language)
        assert "手机号格式不正确。" in text and "请填写会员姓名。" in text
