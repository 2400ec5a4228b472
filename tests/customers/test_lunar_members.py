"""Lunar (农历) birthdays on members: services, the enrol and edit pages, the member page in
both languages, import and export, and the "lunar birthday this month" segment filter."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from lunardate import LunarDate

from customers.models import Customer, ImportJob, ImportStatus
from customers.selectors import criteria_queryset
from customers.services import customer_enrol, customer_update
from tenancy.encryption import phone_index
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def enrol(world, **overrides) -> Customer:
    values = {
        "staff": world.staff_a[Role.CLERK],
        "phone": "13812345678",
        "name": "王芳",
        "home_store": world.store_a1,
    }
    return customer_enrol(**{**values, **overrides})


# --- Services and the database ------------------------------------------------------------


def test_enrol_with_a_lunar_birthday(in_a):
    member = enrol(in_a, lunar_birth_month=5, lunar_birth_day=8)
    member.refresh_from_db()
    assert (member.lunar_birth_month, member.lunar_birth_day, member.lunar_birth_leap) == (
        5,
        8,
        False,
    )
    assert member.birth_month is None and member.birthday_text == ""
    assert member.any_birthday_text == "农历 五月初八"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"birth_month": 1, "birth_day": 2, "lunar_birth_month": 5, "lunar_birth_day": 8},
            "不能两者都填",
        ),
        ({"lunar_birth_month": 5}, "月和日"),
        ({"lunar_birth_month": 13, "lunar_birth_day": 1}, "1 到 12"),
        ({"lunar_birth_month": 5, "lunar_birth_day": 31}, "1 到 30"),
        # 2026 has no leap month at all; 2025's is the sixth.
        (
            {
                "birth_year": 2026,
                "lunar_birth_month": 6,
                "lunar_birth_day": 1,
                "lunar_birth_leap": True,
            },
            "没有闰6月",
        ),
        ({"birth_year": 1850, "lunar_birth_month": 6, "lunar_birth_day": 1}, "晚于 1900"),
    ],
)
def test_bad_lunar_birthdays_are_refused(in_a, values, message):
    with pytest.raises(ValidationError, match=message):
        enrol(in_a, **values)
    assert not Customer.objects.exists()


def test_a_lunar_year_is_checked_with_the_library(in_a):
    # 2025 has 闰六月; its sixth regular month and the 30th follow the library.
    month_30 = next(m for m in range(1, 13) if _has_30_days(2025, m))
    month_29 = next(m for m in range(1, 13) if not _has_30_days(2025, m))
    enrol(in_a, birth_year=2025, lunar_birth_month=6, lunar_birth_day=1, lunar_birth_leap=True)
    enrol(
        in_a, phone="13812345679", birth_year=2025, lunar_birth_month=month_30, lunar_birth_day=30
    )
    with pytest.raises(ValidationError, match="只有 29 天"):
        enrol(
            in_a,
            phone="13812345670",
            birth_year=2025,
            lunar_birth_month=month_29,
            lunar_birth_day=30,
        )


def _has_30_days(year, month) -> bool:
    try:
        LunarDate(year, month, 30).to_solar_date()
    except ValueError:
        return False
    return True


def test_switching_calendars_on_update(in_a):
    member = enrol(in_a, birth_month=1, birth_day=2)
    staff = in_a.staff_a[Role.CLERK]
    with pytest.raises(ValidationError, match="不能两者都填"):
        customer_update(customer=member, staff=staff, lunar_birth_month=4, lunar_birth_day=15)
    customer_update(
        customer=member,
        staff=staff,
        birth_month=None,
        birth_day=None,
        lunar_birth_month=4,
        lunar_birth_day=15,
        lunar_birth_leap=True,
    )
    member.refresh_from_db()
    assert member.any_birthday_text == "农历 闰四月十五"


def test_the_database_refuses_both_calendars_and_bad_lunar_values(in_a):
    for values in (
        {"birth_month": 1, "birth_day": 2, "lunar_birth_month": 5, "lunar_birth_day": 8},
        {"lunar_birth_month": 5, "lunar_birth_day": 31},
        {"lunar_birth_leap": True},
    ):
        with pytest.raises(IntegrityError), transaction.atomic():
            CustomerFactory(home_store=in_a.store_a1, **values)


# --- Pages ----------------------------------------------------------------------------------


def post_enrol(client, phone, **fields):
    data = {
        "phone": phone,
        "name": "农历会员",
        "gender": "unknown",
        "home_store": "",
        "consent_channel": "counter",
        **fields,
    }
    return client.post(reverse("customers:enrol"), data)


def test_the_enrol_page_takes_a_lunar_birthday(in_a, client_for):
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    page = client.get(reverse("customers:enrol")).content.decode()
    assert "农历" in page and 'data-show-when="birthday_calendar=lunar"' in page
    response = post_enrol(
        client,
        "13900000001",
        home_store=in_a.store_a1.pk,
        birthday_calendar="lunar",
        birth_month="3",  # typed before switching to 农历: dropped
        birth_day="3",
        lunar_birth_month="4",
        lunar_birth_day="15",
        lunar_birth_leap="on",
    )
    assert response.status_code == 302
    member = Customer.objects.get(phone_hash=phone_index("13900000001"))
    assert (member.birth_month, member.lunar_birth_month, member.lunar_birth_day) == (None, 4, 15)
    assert member.lunar_birth_leap


def test_the_enrol_page_says_what_is_wrong(in_a, client_for):
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    response = post_enrol(
        client,
        "13900000001",
        home_store=in_a.store_a1.pk,
        birthday_calendar="lunar",
        lunar_birth_month="4",
    )
    assert response.status_code == 200
    assert "请同时填写农历生日的月和日" in response.content.decode()
    assert not Customer.objects.exists()


def test_the_edit_page_switches_a_member_to_a_lunar_birthday(in_a, client_for):
    member = CustomerFactory(home_store=in_a.store_a1, birth_month=1, birth_day=2)
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    url = reverse("customers:edit", args=[member.pk])
    response = client.post(
        url,
        {
            "phone": member.masked_phone,
            "name": member.name,
            "gender": member.gender,
            "home_store": member.home_store_id,
            "email": "",
            "notes": "",
            "birthday_calendar": "lunar",
            "birth_month": "1",
            "birth_day": "2",
            "lunar_birth_month": "12",
            "lunar_birth_day": "23",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    member.refresh_from_db()
    assert (member.birth_month, member.birth_day) == (None, None)
    assert (member.lunar_birth_month, member.lunar_birth_day) == (12, 23)
    form = client.get(url).content.decode()
    assert 'value="lunar" id="id_birthday_calendar_1" checked' in form


@pytest.mark.parametrize(
    ("language", "text"),
    [("zh-hans", "农历 五月初八"), ("en", "Lunar calendar: month 5, day 8")],
)
def test_the_member_page_shows_the_lunar_birthday(in_a, client_for, language, text):
    member = CustomerFactory(home_store=in_a.store_a1, lunar_birth_month=5, lunar_birth_day=8)
    client = client_for(in_a.staff_a[Role.CLERK])
    client.cookies["django_language"] = language
    page = client.get(reverse("customers:profile", args=[member.pk])).content.decode()
    assert text in page


# --- Import and export ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def csv_bytes(rows, headers=("手机号", "姓名", "生日", "农历生日", "门店编码")) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


@pytest.fixture
def upload(django_capture_on_commit_callbacks, in_a, client_for):
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])

    def do(content):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("customers:import"), {"file": SimpleUploadedFile("m.csv", content)})
        job = ImportJob.objects.order_by("-pk").first()
        if job.status == ImportStatus.READY:
            with django_capture_on_commit_callbacks(execute=True):
                client.post(reverse("customers:import_confirm", args=[job.pk]))
        job.refresh_from_db()
        return job

    return do


def test_import_accepts_lunar_birthdays_in_each_written_form(in_a, upload):
    existing = CustomerFactory(
        phone="13900000009", home_store=in_a.store_a1, birth_month=1, birth_day=2
    )
    job = upload(
        csv_bytes(
            [
                ["13900000001", "甲", "", "05-08", "BJ-ZY-001"],
                ["13900000002", "乙", "", "闰四月十五", "BJ-ZY-001"],
                ["13900000003", "丙", "", "腊月廿三", "BJ-ZY-001"],
                ["13900000004", "丁", "", "1990-L05-01", "BJ-ZY-001"],
                ["13900000005", "戊", "1990-03-04", "", "BJ-ZY-001"],
                ["13900000009", "改农历", "", "正月初一", ""],
            ]
        )
    )
    assert job.status == ImportStatus.DONE, job.errors
    got = {
        c.phone[-1]: (
            c.birth_year,
            c.birth_month,
            c.lunar_birth_month,
            c.lunar_birth_day,
            c.lunar_birth_leap,
        )
        for c in Customer.objects.all()
    }
    assert got["1"] == (None, None, 5, 8, False)
    assert got["2"] == (None, None, 4, 15, True)
    assert got["3"] == (None, None, 12, 23, False)
    assert got["4"] == (1990, None, 5, 1, True)  # 1990 had 闰五月
    assert got["5"] == (1990, 3, None, None, False)
    existing.refresh_from_db()
    assert (existing.birth_month, existing.lunar_birth_month) == (None, 1)


def test_a_leap_month_the_lunar_birth_year_lacks_is_an_error(in_a, upload):
    # 1990 had 闰五月, not 闰六月.
    assert LunarDate.leap_month_for_year(1990) == 5
    job = upload(csv_bytes([["13900000004", "丁", "", "1990-闰06-01", "BJ-ZY-001"]]))
    assert job.status == ImportStatus.FAILED
    assert "1990" in job.error_rows[0]["message"] and "闰" in job.error_rows[0]["message"]


def test_bad_lunar_cells_are_refused_per_row_in_chinese(in_a, upload):
    job = upload(
        csv_bytes(
            [
                ["13900000001", "好", "", "05-08", "BJ-ZY-001"],
                ["13900000002", "月份错", "", "13-01", "BJ-ZY-001"],  # line 3
                ["13900000003", "日子错", "", "05-31", "BJ-ZY-001"],  # line 4
                ["13900000004", "看不懂", "", "端午", "BJ-ZY-001"],  # line 5
                ["13900000005", "两个都填", "1990-01-02", "05-08", "BJ-ZY-001"],  # line 6
            ]
        )
    )
    assert job.status == ImportStatus.FAILED
    assert not Customer.objects.exists()
    messages = {error["row"]: (error["column"], error["message"]) for error in job.error_rows}
    assert sorted(messages) == [3, 4, 5, 6]
    assert all(column == "农历生日" for column, _message in messages.values())
    assert "农历月份" in messages[3][1]
    assert "农历日期" in messages[4][1]
    assert "不是农历生日" in messages[5][1] and "五月初八" in messages[5][1]
    assert "公历生日或农历生日" in messages[6][1]


def test_the_export_writes_the_lunar_birthday_the_import_reads(in_a, client_for):
    CustomerFactory(
        home_store=in_a.store_a1, lunar_birth_month=4, lunar_birth_day=15, lunar_birth_leap=True
    )
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    response = client.get(reverse("customers:export"), {"format": "csv"})
    body = b"".join(response.streaming_content) if response.streaming else response.content
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0]["lunar_birthday"] == "闰04-15"


# --- Segments -----------------------------------------------------------------------------


def test_lunar_birthday_this_month_segment(in_a, clock):
    clock.move_to(datetime.datetime(2026, 3, 15, 12, tzinfo=in_a.tenant_a.zone))
    # March 2026 runs from 正月十三 to 二月十三 (lunardate).
    assert LunarDate.from_solar_date(2026, 3, 1).month == 1
    inside = [
        CustomerFactory(home_store=in_a.store_a1, lunar_birth_month=1, lunar_birth_day=20),
        CustomerFactory(home_store=in_a.store_a1, lunar_birth_month=2, lunar_birth_day=1),
    ]
    CustomerFactory(home_store=in_a.store_a1, lunar_birth_month=1, lunar_birth_day=2)  # Feb
    CustomerFactory(home_store=in_a.store_a1, lunar_birth_month=6, lunar_birth_day=1)
    CustomerFactory(home_store=in_a.store_a1, birth_month=3, birth_day=20)  # solar
    found = set(criteria_queryset({"lunar_birthday_this_month": True}).values_list("pk", flat=True))
    assert found == {m.pk for m in inside}
    for member in inside:
        day = LunarDate(2026, member.lunar_birth_month, member.lunar_birth_day).to_solar_date()
        assert (day.year, day.month) == (2026, 3)


def test_the_segment_form_offers_the_lunar_filter(in_a, client_for, clock):
    clock.move_to(datetime.datetime(2026, 3, 15, 12, tzinfo=in_a.tenant_a.zone))
    CustomerFactory(home_store=in_a.store_a1, lunar_birth_month=1, lunar_birth_day=20)
    client = client_for(in_a.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("customers:segment_new"),
        {"name": "本月农历生日", "lunar_birthday_this_month": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from customers.models import Segment
    from customers.selectors import segment_queryset

    segment = Segment.objects.get(name="本月农历生日")
    assert segment.criteria == {"lunar_birthday_this_month": True}
    assert segment_queryset(segment).count() == 1


# --- Merge, erase, personal data ------------------------------------------------------------


def test_merge_keeps_one_birthday_never_a_mix(in_a):
    from customers.services import customer_merge

    staff = in_a.staff_a[Role.HQ_ADMIN]
    lunar_source = CustomerFactory(lunar_birth_month=4, lunar_birth_day=15, lunar_birth_leap=True)
    blank_target = CustomerFactory()
    customer_merge(source=lunar_source, target=blank_target, staff=staff)
    blank_target.refresh_from_db()
    assert blank_target.any_birthday_text == "农历 闰四月十五"

    solar_source = CustomerFactory(birth_year=1990, birth_month=1, birth_day=2)
    lunar_target = CustomerFactory(lunar_birth_month=5, lunar_birth_day=8)
    customer_merge(source=solar_source, target=lunar_target, staff=staff)
    lunar_target.refresh_from_db()
    assert (lunar_target.birth_year, lunar_target.birth_month) == (None, None)
    assert lunar_target.any_birthday_text == "农历 五月初八"


def test_erase_removes_the_lunar_birthday_and_personal_data_lists_it(in_a):
    from customers.services import customer_erase, customer_personal_data

    staff = in_a.staff_a[Role.HQ_ADMIN]
    member = CustomerFactory(lunar_birth_month=5, lunar_birth_day=8, lunar_birth_leap=False)
    data = customer_personal_data(customer=member, staff=staff)
    assert (data["lunar_birth_month"], data["lunar_birth_day"]) == (5, 8)
    customer_erase(customer=member, staff=staff, reason="会员要求")
    member.refresh_from_db()
    assert (member.lunar_birth_month, member.lunar_birth_day, member.lunar_birth_leap) == (
        None,
        None,
        False,
    )
