"""CSV/XLSX import of a day's POS export: all or nothing, line-numbered Chinese errors."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from analytics import services
from analytics.models import DirtyDay, Sale, SaleImport, StoreDailyStats
from analytics.services import local_day
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

HEADER = "小票号,时间,会员,商品编码,商品名称,品类,数量,单价,折扣,原小票号\n"


def csv_file(body: str, name="pos.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (HEADER + body).encode("utf-8"), content_type="text/csv")


def upload(client, store, file):
    """Upload and check; when the check found nothing wrong, confirm as the uploader does.
    Returns the upload's answer (a redirect to the import's page)."""
    response = client.post(reverse("analytics:import_upload"), {"store": store.pk, "file": file})
    if response.status_code == 302:
        with tenant_context(store.tenant):
            checked = SaleImport.objects.filter(status="checked").order_by("-pk").first()
        if checked is not None:
            client.post(reverse("analytics:import_confirm", args=[checked.pk]))
    return response


def test_the_check_writes_nothing_until_the_uploader_confirms_once(world, client_for, day_before):
    body = f"T1,{day_before} 10:00,,A,苹果,水果,2,5.00,0,\n"
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = client.post(
        reverse("analytics:import_upload"),
        {"store": world.store_a1.pk, "file": csv_file(body)},
    )
    page = client.get(response["Location"]).content.decode()
    assert "已检查，等待确认" in page and "UTF-8" in page and "苹果" in page
    with tenant_context(world.tenant_a):
        sale_import = SaleImport.objects.get()
        assert sale_import.status == "checked" and not Sale.objects.exists()
    confirm = reverse("analytics:import_confirm", args=[sale_import.pk])
    client.post(confirm)
    client.post(confirm)  # a double click
    with tenant_context(world.tenant_a):
        assert Sale.objects.count() == 1
        assert SaleImport.objects.get().status == "done"
    # Another store's manager (another tenant) cannot confirm or read it.
    other = client_for(world.staff_b[Role.STORE_MANAGER])
    assert other.post(confirm).status_code == 404


def test_an_unconfirmed_check_is_let_go_after_a_day(world, client_for, day_before):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    body = f"T1,{day_before} 10:00,,A,苹果,水果,2,5.00,0,\n"
    client.post(
        reverse("analytics:import_upload"), {"store": world.store_a1.pk, "file": csv_file(body)}
    )
    with tenant_context(world.tenant_a):
        SaleImport.objects.update(created_at=timezone.now() - datetime.timedelta(days=2))
        services.sale_imports_sweep()
        sale_import = SaleImport.objects.get()
        assert (sale_import.status, sale_import.rows) == ("failed", [])
        assert not Sale.objects.exists()


@pytest.fixture
def day_before(world):
    with tenant_context(world.tenant_a):
        return local_day(timezone.now()) - datetime.timedelta(days=2)


def test_a_good_file_imports_every_sale_and_recomputes_its_late_day(world, client_for, day_before):
    with tenant_context(world.tenant_a):
        CustomerFactory(home_store=world.store_a1, card_number="VIP-1")
    body = (
        f"T1,{day_before} 10:00,VIP-1,A,苹果,水果,2,5.00,0,\n"
        f"T1,{day_before} 10:00,VIP-1,B,香蕉,水果,1,3.50,0.50,\n"
        f"T2,{day_before} 11:30,,A,苹果,水果,1,5.00,,\n"
        f"R1,{day_before} 12:00,VIP-1,A,,,1,,,T1\n"
    )
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = upload(client, world.store_a1, csv_file(body))
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        sale_import = SaleImport.objects.get()
        assert (sale_import.status, sale_import.sales_created) == ("done", 3)
        assert Sale.objects.count() == 3
        assert Sale.objects.get(external_id="R1").total == Decimal("-5.00")
        # The day was marked late and recomputed right after the import.
        assert DirtyDay.objects.get(day=day_before).cleaned_at is not None
        stats = StoreDailyStats.objects.get(store=world.store_a1, day=day_before)
        assert (stats.revenue, stats.transactions, stats.refunds) == (Decimal("13.00"), 2, 1)
        assert AuditEvent.objects.filter(action="sale_import.done").exists()
    # Uploading the same file again is harmless: nothing new.
    upload(client, world.store_a1, csv_file(body))
    with tenant_context(world.tenant_a):
        latest = SaleImport.objects.order_by("-pk").first()
        assert (latest.sales_created, latest.sales_skipped) == (0, 3)
        assert Sale.objects.count() == 3


def test_a_file_with_bad_rows_writes_nothing_and_names_each_line(world, client_for, day_before):
    body = (
        f"T1,{day_before} 10:00,,A,苹果,水果,2,5.00,0,\n"
        f"T2,昨天,,A,苹果,水果,1,5.00,,\n"
        f"T3,{day_before} 10:00,,A,苹果,水果,0,5.00,,\n"
        f"T4,{day_before} 10:00,NOPE,A,苹果,水果,1,abc,,\n"
        f"R1,{day_before} 12:00,,A,,,1,,,T9\n"
    )
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    response = upload(client, world.store_a1, csv_file(body))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    with tenant_context(world.tenant_a):
        sale_import = SaleImport.objects.get()
        assert sale_import.status == "failed"
        assert not Sale.objects.exists()
        assert not DirtyDay.objects.exists()
    lines: dict[int, str] = {}
    for e in sale_import.error_rows:  # one error per cell: row, column, value, message
        lines[e["row"]] = lines.get(e["row"], "") + e["message"]
    assert set(lines) == {3, 4, 5}  # R1 is checked only once every row parses
    assert "时间格式应为" in lines[3]
    assert "数量必须是不小于 1 的整数" in lines[4]
    assert "没有卡号或手机号为 NOPE 的会员" in lines[5] and "单价" in lines[5]
    assert "未导入任何数据" in page
    # Stored as msgids with parameters: the same import reads in English for an English reader.
    assert {
        "msgid": "no member with card or phone %(v)s",
        "context": "",
        "params": {"v": "NOPE"},
    } in [e["message"] for e in sale_import.errors]
    client.cookies["django_language"] = "en"
    english = client.get(response["Location"]).content.decode()
    assert "no member with card or phone NOPE" in english
    assert "quantity must be a whole number of at least 1" in english
    assert "没有卡号" not in english and "msgid" not in english


def test_a_refund_of_an_unknown_sale_rolls_back_the_whole_file(world, client_for, day_before):
    body = f"T1,{day_before} 10:00,,A,苹果,水果,2,5.00,0,\nR1,{day_before} 12:00,,A,,,1,,,T9\n"
    upload(client_for(world.staff_a[Role.STORE_MANAGER]), world.store_a1, csv_file(body))
    with tenant_context(world.tenant_a):
        assert SaleImport.objects.get().error_rows == [
            {"row": 3, "column": "原小票号", "value": "T9", "message": "本门店没有原小票 T9"}
        ]
        assert not Sale.objects.exists()


def test_missing_columns_and_wrong_file_types_are_refused_on_the_form(world, client_for):
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    bad = SimpleUploadedFile("pos.csv", "小票号,时间\nT1,2026-01-01 10:00\n".encode())
    page = upload(client, world.store_a1, bad).content.decode()
    assert "第 1 行：缺少列：商品编码、数量。" in page
    # .txt is read too: Excel saves its "Unicode text" (UTF-16, tab-separated) as .txt.
    page = upload(client, world.store_a1, SimpleUploadedFile("a.pdf", b"x")).content.decode()
    assert "请上传 CSV 或 XLSX 文件。" in page


def test_xlsx_files_import_too(world, client_for, day_before):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    sheet.append(
        [
            "X1",
            datetime.datetime.combine(day_before, datetime.time(9)),
            None,
            "A",
            "苹果",
            "水果",
            3,
            2.5,
            0,
            None,
        ]
    )
    buffer = io.BytesIO()
    book.save(buffer)
    upload(
        client_for(world.staff_a[Role.STORE_MANAGER]),
        world.store_a1,
        SimpleUploadedFile("pos.xlsx", buffer.getvalue()),
    )
    with tenant_context(world.tenant_a):
        assert Sale.objects.get(external_id="X1").total == Decimal("7.50")


def test_a_large_file_runs_as_a_background_job(
    world, client_for, day_before, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr("analytics.services.imports.IMPORT_SYNC_LIMIT", 2)  # where it is read
    body = "".join(f"T{n},{day_before} 10:{n:02d},,A,苹果,水果,1,5.00,0,\n" for n in range(5))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        upload(client_for(world.staff_a[Role.STORE_MANAGER]), world.store_a1, csv_file(body))
    assert len(callbacks) == 1
    with tenant_context(world.tenant_a):
        assert SaleImport.objects.get().status == "done"
        assert Sale.objects.count() == 5


@pytest.mark.parametrize(
    ("name", "encoding", "separator", "newline"),
    [("pos.csv", "gbk", ",", "\r\r\n"), ("pos.txt", "utf-16", "\t", "\r\n")],
)
def test_gbk_and_utf16_pos_exports_import_with_excel_row_numbers(
    world, client_for, day_before, name, encoding, separator, newline
):
    rows = [
        HEADER.strip().split(","),
        ["X1", f"{day_before} 09:00", "", "A", "苹果", "水果", "3", "2.50", "0", ""],
        [""] * 10,  # a blank line: skipped, yet the next row is still row 4 as in Excel
        ["X2", f"{day_before} 09:30", "", "B", "香蕉", "水果", "0", "1.00", "0", ""],
    ]
    content = "".join(separator.join(row) + newline for row in rows).encode(encoding)
    client = client_for(world.staff_a[Role.STORE_MANAGER])
    upload(client, world.store_a1, SimpleUploadedFile(name, content))
    with tenant_context(world.tenant_a):
        sale_import = SaleImport.objects.get()
        assert [(e["row"], e["column"]) for e in sale_import.errors] == [(4, "数量")]
        assert not Sale.objects.exists()
        rows[3][6] = "1"
        content = "".join(separator.join(row) + newline for row in rows).encode(encoding)
    upload(client, world.store_a1, SimpleUploadedFile(name, content))
    with tenant_context(world.tenant_a):
        assert Sale.objects.get(external_id="X1").total == Decimal("7.50")
        assert Sale.objects.count() == 2
