"""The personal-data requests register: due dates in working days, pages for HQ only,
evidence from the export and erase run through the page, reminders in the owner's inbox."""

from __future__ import annotations

import datetime
import hashlib

import pytest
from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers.models import DataRequest, RequestChannel, RequestKind, RequestStatus
from customers.privacy import (
    add_working_days,
    data_request_create,
    data_request_update,
    data_requests_remind,
    privacy_settings_update,
)
from customers.tasks import remind_data_requests
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Notification, Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

FRIDAY = datetime.date(2026, 12, 4)
SATURDAY = datetime.date(2026, 12, 5)


@pytest.fixture
def monday(in_a, clock):
    """Monday 2026-12-07 10:00 on the tenant's clock."""
    return clock.move_to(datetime.datetime(2026, 12, 7, 10, 0, tzinfo=in_a.tenant_a.zone))


@pytest.fixture
def hq(in_a):
    return in_a.staff_a[Role.HQ_STAFF]


def _request(staff, member, kind=RequestKind.ACCESS, received_on=FRIDAY, owner=None):
    return data_request_create(
        staff=staff,
        customer=member,
        kind=kind,
        channel=RequestChannel.COUNTER,
        received_on=received_on,
        owner=owner or staff,
    )


def test_working_days_skip_weekends(in_a):
    """An empty working calendar: weekends only."""
    assert FRIDAY.weekday() == 4
    assert add_working_days(FRIDAY, 1) == datetime.date(2026, 12, 7)  # Monday
    assert add_working_days(SATURDAY, 1) == datetime.date(2026, 12, 7)
    assert add_working_days(FRIDAY, 5) == datetime.date(2026, 12, 11)


def test_due_dates_follow_the_national_day_holiday_and_its_make_up_days(monday, hq, member):
    from tenancy.calendar import calendar_import_official

    received = datetime.date(2026, 9, 28)  # Monday before National Day
    # Weekends only: Sept 29 and 30, Oct 1-2, 5-9, 12-16 and 19 are the 15 working days.
    assert _request(hq, member, received_on=received).due_on == datetime.date(2026, 10, 19)
    assert calendar_import_official(actor=hq, year=2026) > 0
    # With the 2026 schedule: Oct 1-7 off, Saturday Oct 10 worked (调休). Sept 29, 30, Oct 8,
    # 9, 10, 12-16 and 19-23 are the 15: due Friday Oct 23.
    assert _request(hq, member, received_on=received).due_on == datetime.date(2026, 10, 23)
    # Sunday Sept 20 is a make-up working day: received Friday the 18th, 1 day is Sunday.
    assert add_working_days(datetime.date(2026, 9, 18), 1) == datetime.date(2026, 9, 20)
    # Received during the holiday: the first working day counted is Oct 8.
    assert add_working_days(datetime.date(2026, 10, 2), 1) == datetime.date(2026, 10, 8)


def test_received_on_a_friday_is_due_15_working_days_later(monday, hq, member):
    data_request = _request(hq, member)
    # Three whole weeks: 15 working days, 6 weekend days skipped.
    assert data_request.due_on == datetime.date(2026, 12, 25)
    assert _request(hq, member, received_on=SATURDAY).due_on == datetime.date(2026, 12, 25)
    assert AuditEvent.objects.filter(action="data_request.created").count() == 2


def test_the_tenant_sets_the_number_of_working_days(monday, in_a, hq, member):
    privacy_settings_update(
        actor=in_a.staff_a[Role.HQ_ADMIN], retention_years=0, request_days=10, reminder_days=3
    )
    assert _request(hq, member).due_on == datetime.date(2026, 12, 18)


def test_recording_a_request_on_the_page_shows_the_due_date(monday, in_a, hq, member, client_for):
    client = client_for(hq)
    assert client.get(reverse("customers:request_create")).status_code == 200
    response = client.post(
        reverse("customers:request_create"),
        {
            "card_number": member.card_number,
            "kind": RequestKind.DELETION,
            "channel": RequestChannel.PHONE,
            "received_on": FRIDAY.isoformat(),
            "owner": hq.pk,
            "note": "电话来电要求删除",
        },
    )
    data_request = DataRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:request_detail", args=[data_request.pk])
    assert (data_request.customer, data_request.owner) == (member, hq)
    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="due-on">2026-12-25' in html
    assert member.phone not in html and member.masked_phone in html


def test_a_future_received_date_is_refused(monday, hq, member):
    with pytest.raises(ValidationError):
        _request(hq, member, received_on=datetime.date(2026, 12, 8))


@pytest.mark.parametrize("role", [Role.STORE_MANAGER, Role.CLERK])
def test_store_staff_cannot_reach_the_register(monday, in_a, hq, member, client_for, role):
    data_request = _request(hq, member)
    client = client_for(in_a.staff_a[role])
    for name, args in (
        ("customers:request_list", []),
        ("customers:request_create", []),
        ("customers:request_detail", [data_request.pk]),
        ("customers:privacy_settings", []),
        ("customers:retention", []),
    ):
        assert client.get(reverse(name, args=args)).status_code == 403, name
    for name in ("customers:request_export", "customers:request_erase"):
        assert client.post(reverse(name, args=[data_request.pk])).status_code == 403, name
    data_request.refresh_from_db()
    assert data_request.evidence is None
    assert not AuditEvent.objects.filter(action="customer.personal_data_exported").exists()


def test_another_tenant_gets_404(monday, world, hq, member, client_for):
    data_request = _request(hq, member)
    client = client_for(world.staff_b[Role.HQ_ADMIN])
    assert (
        client.get(reverse("customers:request_detail", args=[data_request.pk])).status_code == 404
    )
    response = client.post(reverse("customers:request_export", args=[data_request.pk]))
    assert response.status_code == 404


def test_export_through_the_page_attaches_the_audited_export(monday, hq, member, client_for):
    data_request = _request(hq, member)
    client = client_for(hq)
    detail = reverse("customers:request_detail", args=[data_request.pk])
    # Not done without evidence.
    refused = client.post(detail, {"status": RequestStatus.DONE, "owner": hq.pk, "note": ""})
    assert refused.status_code == 400

    response = client.post(reverse("customers:request_export", args=[data_request.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert member.phone in response.content.decode()  # the member gets their own data
    data_request.refresh_from_db()
    assert data_request.evidence.action == "customer.personal_data_exported"
    assert data_request.evidence.object_id == str(member.pk)
    assert data_request.evidence.actor == hq.user
    assert data_request.evidence_sha256 == hashlib.sha256(response.content).hexdigest()
    assert data_request.status == RequestStatus.IN_PROGRESS
    assert AuditEvent.objects.filter(action="data_request.exported").count() == 1

    html = client.get(detail).content.decode()
    assert 'data-testid="evidence"' in html and data_request.evidence_sha256 in html
    done = client.post(detail, {"status": RequestStatus.DONE, "owner": hq.pk, "note": "已交付"})
    assert done.status_code == 302
    data_request.refresh_from_db()
    assert data_request.status == RequestStatus.DONE and data_request.closed_at is not None
    # A closed request runs no more exports.
    client.post(reverse("customers:request_export", args=[data_request.pk]))
    assert AuditEvent.objects.filter(action="customer.personal_data_exported").count() == 1


def test_erase_through_the_page_attaches_the_erase_event(monday, hq, member, client_for):
    data_request = _request(hq, member, kind=RequestKind.DELETION)
    client = client_for(hq)
    # The export does not answer a deletion request.
    client.post(reverse("customers:request_export", args=[data_request.pk]))
    assert not AuditEvent.objects.filter(action="customer.personal_data_exported").exists()

    response = client.post(reverse("customers:request_erase", args=[data_request.pk]))
    assert response.status_code == 302
    data_request.refresh_from_db()
    member.refresh_from_db()
    assert member.is_erased and member.phone is None
    assert data_request.evidence.action == "customer.erased"
    assert data_request.evidence.object_id == str(member.pk)
    assert f"#{data_request.pk}" in data_request.evidence.reason
    assert data_request.status == RequestStatus.DONE
    assert (
        client.get(reverse("customers:request_detail", args=[data_request.pk])).status_code == 200
    )


def test_refusing_needs_a_reason(monday, hq, member):
    data_request = _request(hq, member, kind=RequestKind.CORRECTION)
    with pytest.raises(ValidationError):
        data_request_update(
            data_request=data_request, staff=hq, status=RequestStatus.REFUSED, owner=hq, note=""
        )
    data_request_update(
        data_request=data_request,
        staff=hq,
        status=RequestStatus.REFUSED,
        owner=hq,
        note="无法核实身份",
    )
    data_request.refresh_from_db()
    assert data_request.status == RequestStatus.REFUSED


def test_list_filters_by_status_and_overdue(monday, hq, member, client_for):
    overdue = _request(hq, member, received_on=datetime.date(2026, 11, 2))  # due 2026-11-23
    current = _request(hq, CustomerFactory(home_store=member.home_store))
    client = client_for(hq)
    url = reverse("customers:request_list")
    html = client.get(url).content.decode()
    assert f'href="{reverse("customers:request_detail", args=[current.pk])}"' in html
    html = client.get(url, {"overdue": "on"}).content.decode()
    assert f'href="{reverse("customers:request_detail", args=[overdue.pk])}"' in html
    assert f'href="{reverse("customers:request_detail", args=[current.pk])}"' not in html
    html = client.get(url, {"status": RequestStatus.DONE}).content.decode()
    assert f'href="{reverse("customers:request_detail", args=[overdue.pk])}"' not in html


def test_the_inbox_reminds_the_owner_before_the_due_date_and_flags_overdue(
    monday, in_a, hq, member, clock
):
    admin = in_a.staff_a[Role.HQ_ADMIN]
    due_soon = _request(hq, member, received_on=datetime.date(2026, 11, 19))
    late = _request(hq, member, received_on=datetime.date(2026, 11, 2))
    fresh = _request(hq, member, received_on=FRIDAY)
    # Monday 12-07: due_soon is due Thursday, within the 3 working days; late was due 11-23.
    assert (due_soon.due_on, late.due_on, fresh.due_on) == (
        datetime.date(2026, 12, 10),
        datetime.date(2026, 11, 23),
        datetime.date(2026, 12, 25),
    )
    assert data_requests_remind() == {"due_soon": 1, "overdue": 1}
    reminder = Notification.objects.get(kind="data_request.due_soon")
    assert reminder.recipient == hq
    assert reminder.link == reverse("customers:request_detail", args=[due_soon.pk])
    assert "2026-12-10" in reminder.title
    flagged = Notification.objects.filter(kind="data_request.overdue")
    assert set(flagged.values_list("recipient_id", flat=True)) == {hq.pk, admin.pk}
    assert AuditEvent.objects.filter(action="data_request.overdue").count() == 1
    # A repeat notifies nobody twice.
    assert data_requests_remind() == {"due_soon": 0, "overdue": 0}

    clock.move_to(datetime.datetime(2026, 12, 28, 9, 0, tzinfo=in_a.tenant_a.zone))
    assert data_requests_remind() == {"due_soon": 0, "overdue": 2}
    assert Notification.objects.filter(kind="data_request.overdue", recipient=hq).count() == 3
    assert Notification.objects.filter(kind="data_request.due_soon").count() == 1


def test_finished_requests_are_not_reminded(monday, in_a, hq, member, clock):
    data_request = _request(hq, member, kind=RequestKind.CORRECTION)
    data_request_update(
        data_request=data_request, staff=hq, status=RequestStatus.DONE, owner=hq, note="已更正"
    )
    clock.move_to(datetime.datetime(2027, 1, 29, 9, 0, tzinfo=in_a.tenant_a.zone))
    assert data_requests_remind() == {"due_soon": 0, "overdue": 0}


def test_the_reminder_job_is_on_the_beat_schedule(world):
    entry = settings.CELERY_BEAT_SCHEDULE["customers-remind-data-requests"]
    assert entry["task"] == "tenancy.fan_out"
    assert entry["args"][0] == remind_data_requests.name
    assert entry["args"][0] in current_app.tasks
    with tenant_context(world.tenant_a):
        assert remind_data_requests.delay(world.tenant_a.pk).get() == {
            "due_soon": 0,
            "overdue": 0,
        }


def test_a_merge_moves_the_requests_to_the_member_who_stays(monday, hq, member, client_for):
    from customers.services import customer_merge

    data_request = _request(hq, member)
    target = CustomerFactory(home_store=member.home_store)
    customer_merge(source=member, target=target, staff=hq)
    data_request.refresh_from_db()
    assert data_request.customer == target


def test_the_profile_links_to_a_prefilled_request_form(monday, hq, member, client_for):
    client = client_for(hq)
    html = client.get(reverse("customers:profile", args=[member.pk])).content.decode()
    link = f"{reverse('customers:request_create')}?card={member.card_number}"
    assert link in html
    assert f'value="{member.card_number}"' in client.get(link).content.decode()
