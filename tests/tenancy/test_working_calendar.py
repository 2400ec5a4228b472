"""The working calendar HQ keeps (public holidays off, make-up working days): the announced
2026 schedule, imported once or twice, edited by hand through the page, HQ admin only, per
tenant, audited. The due dates that use it: tests/customers/test_privacy_requests.py."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from tenancy.calendar import calendar_import_official, official_days
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, CalendarDay, Role

pytestmark = pytest.mark.django_db


def test_the_2026_schedule_is_the_state_councils():
    days = {day: (kind, name) for day, kind, name in official_days(2026)}
    off = sorted(day for day, (kind, _n) in days.items() if kind == "off")
    work = sorted(day for day, (kind, _n) in days.items() if kind == "work")
    # 3 + 9 + 3 + 5 + 3 + 3 + 7 days off; 6 make-up working days, all on weekends.
    assert len(off) == 33
    assert [d.isoformat() for d in work] == [
        "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
    ]  # fmt: skip
    assert all(day.weekday() >= 5 for day in work)
    assert days[datetime.date(2026, 10, 7)] == ("off", "国庆节")
    assert days[datetime.date(2026, 10, 10)] == ("work", "国庆节调休")
    assert official_days(2031) == []


def test_importing_twice_changes_nothing_and_keeps_the_tenants_own_days(world):
    with tenant_context(world.tenant_a):
        own = CalendarDay.objects.create(day=datetime.date(2026, 12, 24), kind="off", name="店庆")
        assert calendar_import_official(actor=None, year=2026) == 39
        assert calendar_import_official(actor=None, year=2026) == 0
        assert CalendarDay.objects.count() == 40
        assert CalendarDay.objects.get(pk=own.pk).name == "店庆"
    with tenant_context(world.tenant_b):
        assert not CalendarDay.objects.exists()


def test_hq_admin_imports_adds_and_removes_days_on_the_page(world, client_for):
    admin = world.staff_a[Role.HQ_ADMIN]
    client = client_for(admin)
    url = reverse("working_calendar")
    page = client.get(url, {"year": 2026}).content.decode()
    assert "导入 2026 年全国放假安排" in page
    response = client.post(url, {"action": "import", "year": "2026"}, follow=True)
    text = response.content.decode()
    assert "国庆节调休" in text and "2026-10-10" in text
    assert len(response.context["days"]) == 39

    response = client.post(
        url, {"action": "set", "day": "2027-02-10", "kind": "work", "name": "春节调休"}
    )
    assert response.status_code == 302 and response["Location"].endswith("?year=2027")
    assert client.post(url, {"action": "remove", "day": "2026-10-10"}).status_code == 302
    with tenant_context(world.tenant_a):
        assert CalendarDay.objects.get(day=datetime.date(2027, 2, 10)).kind == "work"
        assert not CalendarDay.objects.filter(day=datetime.date(2026, 10, 10)).exists()
        actions = list(
            AuditEvent.objects.filter(action__startswith="tenancy.calendar").values_list(
                "action", flat=True
            )
        )
        assert sorted(actions) == [
            "tenancy.calendar_day_removed",
            "tenancy.calendar_day_set",
            "tenancy.calendar_imported",
        ]
        removed = AuditEvent.objects.get(action="tenancy.calendar_day_removed")
        assert removed.before == {"day": "2026-10-10", "kind": "work", "name": "国庆节调休"}
    page = client.get(url, {"year": 2027}).content.decode()
    assert "尚未收录 2027 年的全国放假安排" in page and "春节调休" in page
    with tenant_context(world.tenant_b):
        assert not CalendarDay.objects.exists()


def test_only_the_hq_admin_edits_the_calendar(world, client_for):
    for role in (Role.HQ_STAFF, Role.STORE_MANAGER, Role.CLERK):
        client = client_for(world.staff_a[role])
        assert client.get(reverse("working_calendar")).status_code == 403
        client.post(reverse("working_calendar"), {"action": "import", "year": "2026"})
    with tenant_context(world.tenant_a):
        assert not CalendarDay.objects.exists()
