"""Member files as chains really have them, each through the pages: upload -> preview ->
confirm, then counted in the database. Every file is generated here (no real people)."""

import csv
import datetime
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.models import Customer, ImportJob, ImportStatus
from tenancy.encryption import phone_index
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

# A POS export: alias headers, one birthday column, and a column the CRM does not know.
HEADERS = ["手机", "会员姓名", "性别", "出生日期", "所属门店", "爱好"]
ROWS = [
    ["13900000001", "王芳", "女", "1990-01-02", "BJ-ZY-001", "咖啡"],
    ["13900000002", "李雷", "男", "1992/2/29", "BJ-ZY-002", ""],
    ["13900000003", "韩梅梅", "", "19851231", "BJ-ZY-001", "烘焙"],
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def admin_client(in_a, client_for):
    return client_for(in_a.staff_a[Role.HQ_ADMIN])


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    """A POST whose queued job runs (eagerly) when the request commits."""

    def do(client, url, data=None):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {})

    return do


@pytest.fixture
def check(admin_client, send):
    """Upload a file through the import page; returns the job after its check."""

    def do(name, content, **data):
        response = send(
            admin_client,
            reverse("customers:import"),
            {"file": SimpleUploadedFile(name, content), **data},
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        return ImportJob.objects.order_by("-pk").first()

    return do


@pytest.fixture
def confirm(admin_client, send):
    def do(job):
        send(admin_client, reverse("customers:import_confirm", args=[job.pk]))
        job.refresh_from_db()
        return job

    return do


def text_file(rows, *, encoding: str, delimiter: str = ",", newline: str = "\r\n") -> bytes:
    return "".join(delimiter.join(row) + newline for row in rows).encode(encoding)


def xlsx_file(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def birthdays() -> dict[str, tuple]:
    return {
        c.phone: (c.birth_year, c.birth_month, c.birth_day)
        for c in Customer.objects.order_by("phone")
    }


EXPECTED = {
    "13900000001": (1990, 1, 2),
    "13900000002": (1992, 2, 29),
    "13900000003": (1985, 12, 31),
}


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter", "newline", "shown"),
    [
        ("gbk-crlf.csv", "gbk", ",", "\r\n", "GBK/GB18030"),
        ("gbk-crcrlf.csv", "gbk", ",", "\r\r\n", "GBK/GB18030"),
        ("bom.csv", "utf-8-sig", ";", "\r\n", "UTF-8"),
        ("unicode.txt", "utf-16", "\t", "\r\n", "UTF-16"),  # Excel's "Unicode text"
    ],
)
def test_text_files_preview_then_import(
    in_a, admin_client, check, confirm, name, encoding, delimiter, newline, shown
):
    content = text_file([HEADERS, *ROWS], encoding=encoding, delimiter=delimiter, newline=newline)
    job = check(name, content)
    assert job.status == ImportStatus.READY, job.errors
    assert Customer.objects.count() == 0  # nothing is written before the confirm

    page = admin_client.get(reverse("customers:import_job", args=[job.pk])).content.decode()
    assert shown in page
    assert "爱好" in page and "不导入" in page  # the unknown column is said, not dropped
    assert "韩梅梅" in page and "1992-02-29" in page  # rows as they will be stored
    mapped = {column["header"]: column["field"] for column in job.preview["columns"]}
    assert mapped == {
        "手机": "手机号",
        "会员姓名": "姓名",
        "性别": "性别",
        "出生日期": "生日",
        "所属门店": "门店编码",
        "爱好": "",
    }

    job = confirm(job)
    assert job.status == ImportStatus.DONE, job.errors
    assert (job.created_count, job.updated_count) == (3, 0)
    assert birthdays() == EXPECTED
    assert Customer.objects.get(phone_hash=phone_index("13900000002")).home_store == in_a.store_a2


def test_xlsx_with_date_cells_and_serial_numbers(check, confirm):
    content = xlsx_file(
        [
            ["手机号码", "姓名", "生日", "门店编码"],
            [13900000001, "王芳", 32875, "BJ-ZY-001"],  # a serial: 1990-01-02
            # A date cell; openpyxl hands it back naive, as Excel stores it.
            [13900000002, "李雷", datetime.datetime(1992, 2, 29), "BJ-ZY-001"],  # noqa: DTZ001
            [None, None, None, None],  # an empty row: not a member, still row 4 in Excel
            [13900000003, "韩梅梅", "1985年12月31日", "BJ-ZY-001"],
        ]
    )
    job = confirm(check("members.xlsx", content))
    assert job.status == ImportStatus.DONE, job.errors
    assert job.preview["encoding"] == "XLSX"
    assert [row["row"] for row in job.preview["rows"]] == [2, 3, 5]
    assert birthdays() == EXPECTED


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("1990-01-02", (1990, 1, 2)),
        ("1990/1/2", (1990, 1, 2)),
        ("19900102", (1990, 1, 2)),
        ("1990年1月2日", (1990, 1, 2)),
        ("32875", (1990, 1, 2)),
        ("2月29日", (None, 2, 29)),
        ("1992-02-29", (1992, 2, 29)),
    ],
)
def test_one_birthday_column_in_every_usual_form(check, confirm, written, stored):
    content = text_file(
        [["手机号", "姓名", "生日", "门店"], ["13900000001", "王芳", written, "BJ-ZY-001"]],
        encoding="utf-8",
    )
    job = confirm(check("m.csv", content))
    assert job.status == ImportStatus.DONE, job.errors
    assert birthdays() == {"13900000001": stored}


def test_a_non_date_is_an_error_on_its_row_and_column(admin_client, check):
    content = text_file(
        [
            HEADERS,
            ROWS[0],
            ["13900000002", "李雷", "", "1990-02-29", "BJ-ZY-002", ""],  # row 3: not a leap year
            ["13900000003", "韩梅梅", "", "下个月", "BJ-ZY-001", ""],  # row 4
        ],
        encoding="gbk",
    )
    job = check("bad.csv", content)
    assert job.status == ImportStatus.FAILED
    assert [(e["row"], e["column"], e["value"]) for e in job.errors] == [
        (3, "出生日期", "1990-02-29"),
        (4, "出生日期", "下个月"),
    ]
    assert "不是日期" in job.error_rows[1]["message"]
    assert Customer.objects.count() == 0
    page = admin_client.get(reverse("customers:import_job", args=[job.pk])).content.decode()
    assert "下个月" in page and "未保存任何数据" in page
    download = admin_client.get(reverse("customers:import_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["行号", "列", "值", "问题"]
    assert rows[2][:3] == ["4", "出生日期", "下个月"]
    # No preview can be confirmed for a rejected file.
    admin_client.post(reverse("customers:import_confirm", args=[job.pk]))
    assert Customer.objects.count() == 0


def test_split_birthday_columns_keep_working(check, confirm):
    content = text_file(
        [
            ["手机号", "姓名", "出生年", "出生月", "出生日", "门店编码"],
            ["13900000001", "王芳", "", "2", "29", "BJ-ZY-001"],
            ["13900000002", "李雷", "1990", "1", "2", "BJ-ZY-001"],
        ],
        encoding="utf-8",
    )
    job = confirm(check("m.csv", content))
    assert job.status == ImportStatus.DONE, job.errors
    assert birthdays() == {"13900000001": (None, 2, 29), "13900000002": (1990, 1, 2)}


def test_rows_without_a_store_take_the_default_store(in_a, check, confirm):
    member = CustomerFactory(phone="13900000009", home_store=in_a.store_a1)
    content = text_file(
        [
            ["手机号", "姓名", "门店编码"],
            ["13900000001", "无门店", ""],
            ["13900000002", "有门店", "BJ-ZY-001"],
            ["13900000009", "老会员", ""],  # an update keeps its store
        ],
        encoding="utf-8",
    )
    without = check("m.csv", content)
    assert without.status == ImportStatus.FAILED
    assert [(e["row"], e["column"]) for e in without.errors] == [(2, "门店编码")]
    assert "默认门店" in without.error_rows[0]["message"]

    job = confirm(check("m.csv", content, default_store=in_a.store_a2.pk))
    assert job.status == ImportStatus.DONE, job.errors
    assert Customer.objects.get(phone_hash=phone_index("13900000001")).home_store == in_a.store_a2
    assert Customer.objects.get(phone_hash=phone_index("13900000002")).home_store == in_a.store_a1
    member.refresh_from_db()
    assert member.home_store == in_a.store_a1 and member.name == "老会员"


def test_card_numbers_are_kept_and_must_be_unique(in_a, check, confirm):
    CustomerFactory(phone="13900000009", card_number="C-0009", home_store=in_a.store_a1)
    header = ["手机号", "姓名", "会员卡号", "门店编码"]
    taken = text_file(
        [
            header,
            ["13900000001", "甲", "C-0001", "BJ-ZY-001"],
            ["13900000002", "乙", "C-0001", "BJ-ZY-001"],  # twice in the file
            ["13900000003", "丙", "C-0009", "BJ-ZY-001"],  # someone else's
        ],
        encoding="utf-8",
    )
    job = check("m.csv", taken)
    assert [(e["row"], e["column"], e["value"]) for e in job.errors] == [
        (3, "会员卡号", "C-0001"),
        (4, "会员卡号", "C-0009"),
    ]
    good = text_file(
        [
            header,
            ["13900000001", "甲", "C-0001", "BJ-ZY-001"],
            ["13900000002", "乙", "", "BJ-ZY-001"],
        ],
        encoding="utf-8",
    )
    job = confirm(check("m.csv", good))
    assert job.status == ImportStatus.DONE, job.errors
    assert Customer.objects.get(phone_hash=phone_index("13900000001")).card_number == "C-0001"
    assert Customer.objects.get(phone_hash=phone_index("13900000002")).card_number.startswith("8")


def test_the_confirm_checks_the_whole_file_again(in_a, check, confirm):
    content = text_file(
        [["手机号", "姓名", "卡号", "门店"], ["13900000001", "甲", "C-0001", "BJ-ZY-001"]],
        encoding="utf-8",
    )
    job = check("m.csv", content)
    assert job.status == ImportStatus.READY
    # Between the preview and the confirm, someone enrols a member with that card.
    CustomerFactory(phone="13900000009", card_number="C-0001", home_store=in_a.store_a1)
    job = confirm(job)
    assert job.status == ImportStatus.FAILED
    assert job.errors[0]["row"] == 2 and job.errors[0]["value"] == "C-0001"
    assert not Customer.objects.filter(phone_hash=phone_index("13900000001")).exists()


def test_running_the_same_file_again_updates_and_never_duplicates(check, confirm):
    content = text_file([HEADERS, *ROWS], encoding="gbk")
    confirm(check("m.csv", content))
    job = confirm(check("m.csv", content))
    assert (job.status, job.created_count, job.updated_count) == (ImportStatus.DONE, 0, 3)
    assert Customer.objects.count() == 3


def test_cancel_writes_nothing_and_deletes_the_upload(admin_client, send, check, media):
    job = check("m.csv", text_file([HEADERS, *ROWS], encoding="gbk"))
    assert job.status == ImportStatus.READY
    assert [path for path in media.rglob("*") if path.is_file()]
    send(admin_client, reverse("customers:import_discard", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert Customer.objects.count() == 0
    assert not [path for path in media.rglob("*") if path.is_file()]


def test_a_file_in_an_unknown_encoding_says_so_in_chinese(admin_client, check):
    job = check("m.csv", b"\xff\xfa\xfb" * 50 + b"\n")
    assert job.status == ImportStatus.FAILED
    message = job.error_rows[0]["message"]
    assert "编码" in message and "CSV UTF-8" in message and ".xlsx" in message
    page = admin_client.get(reverse("customers:import_job", args=[job.pk])).content.decode()
    assert "编码" in page


def test_an_old_xls_file_is_refused_with_what_to_do(check):
    job = check("m.xls".replace(".xls", ".csv"), b"\xd0\xcf\x11\xe0" + b"\x00" * 64)
    assert job.status == ImportStatus.FAILED
    assert ".xls" in job.error_rows[0]["message"]


def test_a_file_too_large_is_refused_on_the_page(admin_client, monkeypatch):
    from customers import importing

    monkeypatch.setattr(importing, "MAX_UPLOAD_BYTES", 1024)
    content = text_file([HEADERS, *ROWS * 50], encoding="utf-8")
    response = admin_client.post(
        reverse("customers:import"), {"file": SimpleUploadedFile("m.csv", content)}
    )
    assert response.status_code == 200
    assert "MB" in response.content.decode()
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_the_template_imports_as_it_is(in_a, admin_client, check, confirm, file_format):
    response = admin_client.get(reverse("customers:import_template"), {"format": file_format})
    assert response.status_code == 200
    if file_format == "xlsx":
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        headers = [cell.value for cell in book.worksheets[0][1]]
        assert book.worksheets[1].max_row > 5  # a note per column
    else:
        headers = next(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert headers[:3] == ["手机号", "姓名", "性别"] and "生日" in headers
    job = confirm(check(f"template.{file_format}", response.content))
    assert job.status == ImportStatus.DONE, job.errors
    example = Customer.objects.get()
    assert (example.name, example.birth_month, example.home_store) == ("王芳", 1, in_a.store_a1)


def test_loyalty_columns_without_a_receiver_are_not_imported_and_say_so(check):
    # customers knows 会员等级 and 积分 but does not write them: with no app to receive them
    # they must show as not imported rather than vanish.
    from customers.hooks import members_imported
    from loyalty.importing import on_members_imported

    members_imported.disconnect(dispatch_uid="loyalty.on_members_imported")
    try:
        content = text_file(
            [["手机号", "姓名", "门店编码", "积分"], ["13900000001", "甲", "BJ-ZY-001", "100"]],
            encoding="utf-8",
        )
        job = check("m.csv", content)
    finally:
        members_imported.connect(on_members_imported, dispatch_uid="loyalty.on_members_imported")
    assert job.status == ImportStatus.READY
    assert job.preview["ignored"] == ["积分"]


def test_enrolment_dates_from_the_old_system_are_kept_for_new_members(in_a, check, confirm):
    member = CustomerFactory(phone="13900000009", home_store=in_a.store_a1)
    joined_before = member.created_at
    content = text_file(
        [
            ["手机号", "姓名", "门店编码", "入会时间"],
            ["13900000001", "甲", "BJ-ZY-001", "2019/5/1"],
            ["13900000009", "老会员", "BJ-ZY-001", "2001-01-01"],  # already a member: kept
        ],
        encoding="utf-8",
    )
    job = confirm(check("m.csv", content))
    assert job.status == ImportStatus.DONE, job.errors
    new = Customer.objects.get(phone_hash=phone_index("13900000001"))
    assert new.created_at.astimezone(in_a.tenant_a.zone).date() == datetime.date(2019, 5, 1)
    member.refresh_from_db()
    assert member.created_at == joined_before

    future = text_file(
        [
            ["手机号", "姓名", "门店编码", "注册时间"],
            ["13900000002", "乙", "BJ-ZY-001", "2999-01-01"],
        ],
        encoding="utf-8",
    )
    assert [e["column"] for e in check("m.csv", future).errors] == ["注册时间"]


def test_a_preview_nobody_confirms_is_forgotten_after_a_day(check, media):
    from customers.importing import import_jobs_sweep

    job = check("m.csv", text_file([HEADERS, *ROWS], encoding="gbk"))
    assert import_jobs_sweep() == 0
    job.refresh_from_db()
    assert job.status == ImportStatus.READY  # a fresh preview waits
    ImportJob.objects.filter(pk=job.pk).update(
        created_at=job.created_at - datetime.timedelta(days=2)
    )
    import_jobs_sweep()
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "一天内未确认" in job.error_rows[0]["message"]
    assert not [path for path in media.rglob("*") if path.is_file()]
    assert Customer.objects.count() == 0
