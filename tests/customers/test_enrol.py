"""Enrolling at the counter: validation, normalisation, duplicates, card numbers."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from customers.models import ConsentChannel, Customer
from customers.services import DuplicatePhone, customer_enrol, normalise_phone, validate_birthday
from tenancy.models import AuditEvent, Role

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def enrol(world, **overrides):
    values = {
        "staff": world.staff_a[Role.CLERK],
        "phone": "13812345678",
        "name": "王芳",
        "home_store": world.store_a1,
    }
    return customer_enrol(**{**values, **overrides})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("8613812345678", "13812345678"),
    ],
)
def test_phone_is_normalised(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "12345678901", "1381234567", "010-12345678", "+1 415 555 0100", "abc"]
)
def test_bad_phone_is_refused(raw, in_a):
    with pytest.raises(ValidationError):
        enrol(in_a, phone=raw)
    assert not Customer.objects.exists()


def test_enrol_records_consent_card_and_audit(in_a):
    customer = enrol(
        in_a,
        phone="+86 138 1234 5678",
        marketing_consent=True,
        consent_channel=ConsentChannel.COUNTER,
    )
    assert customer.phone == "13812345678"
    assert customer.phone_last4 == "5678"
    assert customer.card_number.isdigit() and len(customer.card_number) == 10
    assert customer.consent_at is not None and customer.consent_channel == "counter"
    assert customer.enrolled_by == in_a.staff_a[Role.CLERK]
    assert list(customer.tags.values_list("name", flat=True)) == ["新客户"]
    event = AuditEvent.objects.get(action="customer.enrolled")
    assert "13812345678" not in str(event.after)  # the audit log keeps the masked phone


def test_no_consent_leaves_no_consent_record(in_a):
    customer = enrol(in_a)
    assert not customer.marketing_consent and customer.consent_at is None


def test_duplicate_phone_points_at_the_existing_member(in_a):
    first = enrol(in_a)
    with pytest.raises(DuplicatePhone) as caught:
        enrol(in_a, phone="138-1234-5678", name="另一人")
    assert caught.value.existing == first
    assert Customer.objects.count() == 1


def test_card_numbers_are_unique(in_a):
    cards = {enrol(in_a, phone=f"1381234{n:04d}").card_number for n in range(30)}
    assert len(cards) == 30


def test_future_birthday_is_refused(in_a):
    with pytest.raises(ValidationError):
        validate_birthday(year=2030, month=1, day=1, today=date(2026, 11, 25))
    with pytest.raises(ValidationError):
        enrol(in_a, birth_year=timezone.now().year + 1, birth_month=1, birth_day=1)


def test_feb_29_is_accepted_without_year_and_in_leap_years(in_a):
    assert enrol(in_a, birth_month=2, birth_day=29).birth_day == 29
    assert (
        enrol(in_a, phone="13812340000", birth_year=2000, birth_month=2, birth_day=29).birth_year
        == 2000
    )
    with pytest.raises(ValidationError):
        enrol(in_a, phone="13812340001", birth_year=2001, birth_month=2, birth_day=29)


@pytest.mark.parametrize(("month", "day"), [(2, 30), (4, 31), (13, 1), (None, 5), (5, None)])
def test_impossible_birthdays_are_refused(month, day):
    with pytest.raises(ValidationError):
        validate_birthday(year=None, month=month, day=day)


def test_enrol_page_defaults_to_the_clerks_store_and_redirects_to_profile(in_a, client_for):
    client = client_for(in_a.staff_a[Role.CLERK])
    page = client.get(reverse("customers:enrol"))
    assert page.context["form"].initial["home_store"] == in_a.store_a1.pk
    response = client.post(
        reverse("customers:enrol"),
        {
            "phone": "13812345678",
            "name": "李娜",
            "gender": "female",
            "home_store": in_a.store_a1.pk,
            "consent_channel": "counter",
            "marketing_consent": "on",
        },
    )
    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:profile", args=[customer.pk])
    assert customer.marketing_consent


def test_enrol_page_shows_existing_member_for_a_duplicate_phone(in_a, member, client_for):
    response = client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:enrol"),
        {
            "phone": "138 1234 5678",
            "name": "李娜",
            "gender": "unknown",
            "home_store": in_a.store_a1.pk,
            "consent_channel": "counter",
        },
    )
    assert response.status_code == 200
    assert response.context["existing"] == member
    assert reverse("customers:profile", args=[member.pk]) in response.content.decode()
    assert Customer.objects.count() == 1


def test_enrol_page_shows_field_errors_in_chinese(in_a, client_for):
    response = client_for(in_a.staff_a[Role.CLERK]).post(
        reverse("customers:enrol"),
        {
            "phone": "12345",
            "name": "李娜",
            "gender": "unknown",
            "home_store": in_a.store_a1.pk,
            "consent_channel": "counter",
            "birth_month": "2",
            "birth_day": "30",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "请输入有效的中国大陆手机号码" in html
    assert not Customer.objects.exists()
