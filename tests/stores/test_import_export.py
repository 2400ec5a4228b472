"""Import existing stores (all rows or none) and export the registry safely."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from stores import services
from stores.models import Store, StoreCodeCounter, StoreCodeHistory, StoreStatus
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.stores.factories import approved_store, region, store_type

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

HEADER = "code,name,region,store_type,status,address,phone,opened_on\n"
GOOD = (
    HEADER + "BJ-ZY-007,北京老店,BJ,ZY,营业,朝阳路1号,010-1,2019-05-01\n"
    "BJ-ZY-003,北京三店,BJ,ZY,open,,,\n"
    "SH-JM-012,上海加盟店,SH,JM,闭店,,,\n"
)


def csv_file(text: str, name: str = "stores.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, ("\ufeff" + text).encode("utf-8"), content_type="text/csv")


@pytest.fixture
def setup_a(world):
    with tenant_context(world.tenant_a):
        services.counters_sync_with_stores()
        for code in ("BJ", "SH"):
            region(code)
        for code in ("ZY", "JM"):
            store_type(code)
    return world


@pytest.fixture(autouse=True)
def kept_files(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def post_import(client, upload, **kwargs):
    """Upload and check; when the check passed, confirm the preview as HQ does."""
    checked = client.post(reverse("stores:store_import"), {"file": upload}, **kwargs)
    token = checked.context and checked.context.get("upload_token")
    if not token:
        return checked
    return client.post(reverse("stores:store_import"), {"upload": token}, **kwargs)


@pytest.mark.parametrize(
    "bad_row, reason",
    [
        ("BJ-ZY-020,坏区域店,XX,ZY,,,,", "未知区域“XX”"),
        ("BJ-ZY-20,格式错店,BJ,ZY,,,,", "门店编码格式错误“BJ-ZY-20”"),
        ("BJ-ZY-007,重复店,BJ,ZY,,,,", "门店编码 BJ-ZY-007 重复（第 2 行也有）"),
        ("BJ-ZY-001,已存在店,BJ,ZY,,,,", "门店编码 BJ-ZY-001 已存在"),
        ("BJ-ZY-021,,BJ,ZY,,,,", "缺少门店名称"),
        ("BJ-JM-021,类型不符店,BJ,ZY,,,,", "编码 BJ-JM-021 与区域 BJ、类型 ZY 不符"),
    ],
)
def test_one_bad_row_writes_nothing_and_is_named_with_its_line(
    setup_a, client_for, bad_row, reason
):
    world = setup_a
    with tenant_context(world.tenant_a):
        stores_before = Store.objects.count()
        counters_before = list(StoreCodeCounter.objects.values_list("pk", "last_sequence"))
    response = post_import(client_for(world.staff_a[Role.HQ_STAFF]), csv_file(GOOD + bad_row))
    html = response.content.decode()
    assert response.status_code == 200
    assert "未导入任何数据" in html
    assert {"row": 5, "message": reason} in [
        {"row": error["row"], "message": error["message"]} for error in response.context["errors"]
    ]
    with tenant_context(world.tenant_a):
        assert Store.objects.count() == stores_before
        assert not StoreCodeHistory.objects.filter(code="BJ-ZY-007").exists()
        assert list(StoreCodeCounter.objects.values_list("pk", "last_sequence")) == (
            counters_before
        )
        assert not AuditEvent.objects.filter(action="stores.import").exists()


def test_good_import_then_next_approval_continues_after_the_highest_code(setup_a, client_for):
    world = setup_a
    response = post_import(client_for(world.staff_a[Role.HQ_ADMIN]), csv_file(GOOD))
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        old = Store.objects.get(code="BJ-ZY-007")
        assert old.name == "北京老店" and old.status == StoreStatus.OPEN
        assert str(old.opened_on) == "2019-05-01"
        assert Store.objects.get(code="SH-JM-012").status == StoreStatus.CLOSED
        assert StoreCodeHistory.objects.filter(code__in=["BJ-ZY-003", "SH-JM-012"]).count() == 2
        assert approved_store(region_code="BJ", type_code="ZY").code == "BJ-ZY-008"
        assert approved_store(region_code="SH", type_code="JM").code == "SH-JM-013"
        event = AuditEvent.objects.get(action="stores.import")
        assert event.after["stores"] == 3
        assert event.actor == world.staff_a[Role.HQ_ADMIN].user


def test_xlsx_import(setup_a, client_for):
    world = setup_a
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["code", "name", "region", "store_type"])
    sheet.append(["SH-ZY-1200", "上海千号店", "SH", "ZY"])
    sheet.append([None, None, None, None])  # trailing empty row from a spreadsheet
    content = io.BytesIO()
    book.save(content)
    upload = SimpleUploadedFile("stores.xlsx", content.getvalue())
    assert post_import(client_for(world.staff_a[Role.HQ_STAFF]), upload).status_code == 302
    with tenant_context(world.tenant_a):
        assert Store.objects.filter(code="SH-ZY-1200").exists()
        assert approved_store(region_code="SH", type_code="ZY").code == "SH-ZY-1201"


def _files(folder) -> list:
    return [path for path in folder.rglob("*") if path.is_file()]


def test_the_preview_writes_nothing_until_confirmed_and_cancel_removes_the_file(
    setup_a, client_for, kept_files
):
    world = setup_a
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    gbk = SimpleUploadedFile(
        "门店.csv",
        "门店编码,门店名称,区域,门店类型,负责人\r\nBJ-ZY-030,国贸店,BJ,ZY,王\r\n".encode("gbk"),
    )
    checked = client.post(reverse("stores:store_import"), {"file": gbk})
    page = checked.content.decode()
    assert "GBK/GB18030" in page and "国贸店" in page and "不导入" in page
    assert [row["code"] for row in checked.context["rows"]] == ["BJ-ZY-030"]
    with tenant_context(world.tenant_a):
        assert not Store.objects.filter(code="BJ-ZY-030").exists()
    assert len(_files(kept_files)) == 1

    token = checked.context["upload_token"]
    # Another person of the tenant cannot confirm it, and a changed token is refused.
    other = client_for(world.staff_a[Role.HQ_STAFF])
    refused = other.post(reverse("stores:store_import"), {"upload": token}, follow=True)
    assert "检查已过期" in refused.content.decode()
    client.post(reverse("stores:store_import"), {"upload": token[:-2] + "xx"})
    client.post(reverse("stores:store_import"), {"upload": token, "discard": "1"})
    assert _files(kept_files) == []
    with tenant_context(world.tenant_a):
        assert not Store.objects.filter(code="BJ-ZY-030").exists()


def test_files_checked_but_never_confirmed_are_swept_after_a_day(setup_a, client_for, kept_files):
    import datetime

    world = setup_a
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    client.post(reverse("stores:store_import"), {"file": csv_file(GOOD)})
    (kept,) = _files(kept_files)
    # The file's own time (the file system keeps the real clock, even when a test moves it).
    written = datetime.datetime.fromtimestamp(kept.stat().st_mtime, tz=datetime.UTC)
    with tenant_context(world.tenant_a):
        assert services.store_uploads_sweep(now=written + datetime.timedelta(hours=23)) == 0
        later = written + datetime.timedelta(days=1, minutes=1)
        assert services.store_uploads_sweep(now=later) == 1
    assert _files(kept_files) == []


def test_import_without_required_columns_is_refused(setup_a, client_for):
    response = post_import(
        client_for(setup_a.staff_a[Role.HQ_STAFF]), csv_file("编码,名称\nBJ-ZY-050,店\n")
    )
    assert "文件缺少以下列" in response.content.decode()


@pytest.mark.parametrize("role", [Role.CLERK, Role.STORE_MANAGER])
def test_store_staff_cannot_import_or_export(world, client_for, role):
    client = client_for(world.staff_a[role])
    assert client.get(reverse("stores:store_export")).status_code == 403
    assert post_import(client, csv_file(GOOD)).status_code == 403


def _rows(response) -> list[list[str]]:
    text = response.content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_export_escapes_formula_cells_and_is_audited(world, client_for):
    with tenant_context(world.tenant_a):
        Store.objects.filter(pk=world.store_a1.pk).update(
            name='=HYPERLINK("http://evil")', address="@SUM(A1)", phone="+8613800000000"
        )
        Store.objects.filter(pk=world.store_a2.pk).update(name="-2+3", address="\tx")
    hq = world.staff_a[Role.HQ_STAFF]
    response = client_for(hq).get(reverse("stores:store_export"), {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _rows(response)
    assert rows[0][:4] == ["code", "name", "region", "store_type"]
    by_code = {row[0]: row for row in rows[1:]}
    assert set(by_code) == {"BJ-ZY-001", "BJ-ZY-002"}  # tenant B's BJ-ZY-001 is not there
    assert by_code["BJ-ZY-001"][1] == '\'=HYPERLINK("http://evil")'
    assert by_code["BJ-ZY-001"][5] == "'@SUM(A1)"
    assert by_code["BJ-ZY-001"][6] == "'+8613800000000"
    assert by_code["BJ-ZY-002"][1] == "'-2+3"
    assert by_code["BJ-ZY-002"][5] == "'\tx"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    with tenant_context(world.tenant_a):
        event = AuditEvent.objects.get(action="stores.export")
        assert event.actor == hq.user and event.after == {"format": "csv", "stores": 2}


def test_xlsx_export_round_trips_into_an_import_check(world, client_for):
    response = client_for(world.staff_a[Role.HQ_ADMIN]).get(
        reverse("stores:store_export"), {"format": "xlsx"}
    )
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    values = [[c.value for c in row] for row in book.active.rows]
    assert values[0][0] == "code" and {v[0] for v in values[1:]} == {"BJ-ZY-001", "BJ-ZY-002"}
    # Re-importing the same registry is refused row by row: the codes exist already.
    with tenant_context(world.tenant_a):
        rows = [dict(zip(values[0], v, strict=True)) for v in values[1:]]
        problems = services.stores_import_validate(rows=rows)
    assert [p.line for p in problems] == [2, 3]


def test_gbk_file_with_chinese_headers_a_blank_row_and_an_unknown_column(setup_a, client_for):
    world = setup_a
    rows = [
        ["门店编码", "门店名称", "区域", "门店类型", "开业日期", "店长"],
        ["BJ-ZY-031", "北京三十一店", "BJ", "ZY", "2019/5/1", "张三"],
        ["", "", "", "", "", ""],
        ["BJ-ZY-32", "格式错店", "BJ", "ZY", "", ""],  # row 4 as Excel numbers it
    ]
    content = "".join(",".join(row) + "\r\r\n" for row in rows).encode("gbk")
    client = client_for(world.staff_a[Role.HQ_STAFF])
    answer = post_import(client, SimpleUploadedFile("stores.csv", content))
    assert [(e["row"], e["column"], e["value"]) for e in answer.context["errors"]] == [
        (4, "code", "BJ-ZY-32")
    ]
    with tenant_context(world.tenant_a):
        assert not Store.objects.filter(code="BJ-ZY-031").exists()
    rows[3][0] = "BJ-ZY-032"
    content = "".join(",".join(row) + "\r\r\n" for row in rows).encode("gbk")
    checked = client.post(
        reverse("stores:store_import"), {"file": SimpleUploadedFile("stores.csv", content)}
    )
    assert {"header": "店长", "field": ""} in checked.context[
        "preview"
    ].columns  # said, not dropped
    assert "不导入" in checked.content.decode()
    client.post(reverse("stores:store_import"), {"upload": checked.context["upload_token"]})
    with tenant_context(world.tenant_a):
        store = Store.objects.get(code="BJ-ZY-031")
        assert store.opened_on.isoformat() == "2019-05-01"
        assert Store.objects.filter(code="BJ-ZY-032").exists()


def test_excel_unicode_text_stores_file_imports(setup_a, client_for):
    """Excel's "Unicode text": UTF-16, tab-separated, saved as .txt."""
    world = setup_a
    text = "门店编码\t门店名称\t区域\t门店类型\r\nBJ-ZY-040\t望京店\tBJ\tZY\r\n"
    upload = SimpleUploadedFile("门店.txt", text.encode("utf-16"))
    answer = post_import(client_for(world.staff_a[Role.HQ_ADMIN]), upload)
    assert answer.status_code == 302
    with tenant_context(world.tenant_a):
        assert Store.objects.get(code="BJ-ZY-040").name == "望京店"
