"""Import: whole-file validation, all or nothing, matched by phone. Export: escaped, audited."""

import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.models import Customer, ImportJob, ImportStatus
from tenancy.encryption import phone_index
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["手机号", "姓名", "性别", "出生年", "出生月", "出生日", "门店编码", "营销同意", "备注"]
    )
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


@pytest.fixture
def upload(django_capture_on_commit_callbacks):
    """Upload through the page, then confirm the preview if the check found no error; the
    queued job runs (eagerly) when each request commits. Returns the upload's response."""

    def do(client, name, content, **data):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("customers:import"), {"file": SimpleUploadedFile(name, content), **data}
            )
        job = ImportJob.objects.order_by("-pk").first()
        if job and job.status == ImportStatus.READY:
            with django_capture_on_commit_callbacks(execute=True):
                client.post(reverse("customers:import_confirm", args=[job.pk]))
        return response

    return do


def test_good_file_creates_and_updates_matched_by_phone(in_a, member, client_for, upload, settings):
    content = csv_bytes(
        [
            ["138 1234 5678", "改名了", "女", "", "", "", "BJ-ZY-002", "是", "新备注"],  # existing
            ["13900000001", "新会员甲", "男", "1990", "2", "28", "BJ-ZY-001", "否", "VIP"],
            ["+86 139-0000-0002", "新会员乙", "", "", "2", "29", "bj-zy-002", "", ""],
        ]
    )
    response = upload(client_for(in_a.staff_a[Role.HQ_ADMIN]), "members.csv", content)
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("customers:import_job", args=[job.pk])
    assert job.status == ImportStatus.DONE, job.errors
    assert (job.created_count, job.updated_count, job.total_rows) == (2, 1, 3)
    member.refresh_from_db()
    assert member.name == "改名了" and member.gender == "female" and member.marketing_consent
    assert member.consent_channel == "import"
    assert member.home_store == in_a.store_a2 and member.notes == "新备注"
    assert member.birth_month is None  # empty birthday cells leave it as it was
    new = Customer.objects.get(phone_hash=phone_index("13900000002"))
    assert new.phone_last4 == "0002" and new.home_store == in_a.store_a2 and new.birth_day == 29
    assert Customer.objects.get(phone_hash=phone_index("13900000001")).notes == "VIP"
    assert Customer.objects.count() == 3
    assert AuditEvent.objects.filter(action="customer.imported").exists()
    assert not (settings.MEDIA_ROOT / job.file_path).exists()  # the PII upload is gone


def test_imported_new_member_has_every_column_an_enrolment_would(in_a, client_for, upload):
    # On PostgreSQL new members are written by our own INSERT, not bulk_create: defaults,
    # db_default, timestamps, tenant and the card number must come out the same.
    content = csv_bytes([["13900000001", "新会员", "男", "1990", "2", "28", "BJ-ZY-001", "是", ""]])
    admin = in_a.staff_a[Role.HQ_ADMIN]
    upload(client_for(admin), "members.csv", content)
    assert ImportJob.objects.get().status == ImportStatus.DONE
    new = Customer.objects.get(phone_hash=phone_index("13900000001"))
    assert new.tenant_id == in_a.tenant_a.pk and new.enrolled_by == admin
    assert new.card_number.startswith("8") and len(new.card_number) == 10
    assert new.card_number.isdigit()
    assert new.created_at is not None and new.updated_at is not None
    assert new.marketing_consent and new.consent_channel == "import" and new.consent_at
    assert (new.email, new.notes, new.is_erased, new.purchase_count) == ("", "", False, 0)
    assert new.total_spent == 0 and new.phone_last4 == "0001"


def test_one_bad_row_writes_nothing_and_lists_every_bad_line(in_a, member, client_for, upload):
    content = csv_bytes(
        [
            ["13900000001", "好的一行", "", "", "", "", "BJ-ZY-001", "", ""],
            ["12345", "坏手机", "", "", "", "", "BJ-ZY-001", "", ""],  # line 3
            ["13900000003", "", "", "", "", "", "BJ-ZY-001", "", ""],  # line 4: no name
            ["13900000004", "未来", "", "2999", "1", "1", "BJ-ZY-001", "", ""],  # line 5
            ["13900000001", "重复", "", "", "", "", "XX-YY-999", "也许", ""],  # line 6
            ["138-1234-5678", "改名", "", "", "", "", "", "", ""],  # fine: an update
        ]
    )
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    upload(client, "bad.csv", content)
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.FAILED
    assert sorted({error["row"] for error in job.errors}) == [3, 4, 5, 6]
    reasons = {}
    for error in job.error_rows:
        reasons[error["row"]] = reasons.get(error["row"], "") + " " + error["message"]
    assert "手机号" in reasons[3]
    assert "姓名" in reasons[4]
    assert "未来" in reasons[5]
    assert "第 2 行" in reasons[6] and "XX-YY-999" in reasons[6]
    assert Customer.objects.count() == 1
    member.refresh_from_db()
    assert member.name != "改名"
    html = client.get(reverse("customers:import_job", args=[job.pk])).content.decode()
    assert "XX-YY-999" in html and "未保存任何数据" in html


def test_xlsx_import_with_numeric_cells(in_a, client_for, upload):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["phone", "name", "birth_month", "birth_day", "home_store"])
    sheet.append([13900000007, "表格会员", 7, 7, "BJ-ZY-001"])
    buffer = io.BytesIO()
    book.save(buffer)
    upload(client_for(in_a.staff_a[Role.HQ_STAFF]), "members.xlsx", buffer.getvalue())
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.DONE, job.errors
    assert Customer.objects.get(phone_hash=phone_index("13900000007")).birth_month == 7


def test_other_file_types_are_refused(in_a, client_for, upload):
    # .txt is accepted: it is what Excel names its "Unicode text" (UTF-16, tab-separated).
    response = upload(client_for(in_a.staff_a[Role.HQ_ADMIN]), "members.pdf", b"x")
    assert response.status_code == 200
    assert not ImportJob.objects.exists()


def test_import_and_export_are_hq_only(in_a, client_for, upload):
    for role in (Role.CLERK, Role.STORE_MANAGER):
        client = client_for(in_a.staff_a[role])
        assert client.get(reverse("customers:import")).status_code == 403
        assert client.get(reverse("customers:export")).status_code == 403


def test_export_csv_escapes_formulas_and_is_audited(in_a, client_for):
    CustomerFactory(name='=HYPERLINK("http://x")', notes="@cmd", home_store=in_a.store_a1)
    response = client_for(in_a.staff_a[Role.HQ_ADMIN]).get(
        reverse("customers:export"), {"format": "csv"}
    )
    assert response.status_code == 200
    text = response.content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["notes"] == "'@cmd"
    assert rows[0]["home_store"] == "BJ-ZY-001"
    event = AuditEvent.objects.get(action="customer.exported")
    assert event.after == {"rows": 1, "format": "csv"}


def test_export_xlsx_escapes_formulas(in_a, client_for):
    CustomerFactory(name="+SUM(1,2)", home_store=in_a.store_a1)
    response = client_for(in_a.staff_a[Role.HQ_ADMIN]).get(
        reverse("customers:export"), {"format": "xlsx"}
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = [cell.value for cell in sheet[2]]
    assert "'+SUM(1,2)" in values


def test_a_redelivered_import_job_does_nothing(in_a, client_for, upload):
    from customers.importing import import_job_run

    content = csv_bytes([["13900000001", "一次", "", "", "", "", "BJ-ZY-001", "", ""]])
    upload(client_for(in_a.staff_a[Role.HQ_ADMIN]), "once.csv", content)
    job = ImportJob.objects.get()
    import_job_run(job_id=job.pk)  # the broker delivers the task a second time
    assert Customer.objects.count() == 1
    assert AuditEvent.objects.filter(action="customer.imported").count() == 1
