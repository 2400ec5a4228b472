"""The edit form shows phone and e-mail masked and changes them only when new ones are typed.

Full values are read only through the audited reveal (issue 12, finding 1): the form's
initial values used to carry them to every clerk who opened it.
"""

import pytest
from django.urls import reverse

from tenancy.models import AuditEvent, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_email(member):
    member.email = "zhang.san@example.com"
    member.save(update_fields=["email"])
    return member


def _post(client, member, store, **overrides):
    # What the browser posts back untouched: the masked values the form showed.
    data = {
        "phone": member.masked_phone,
        "name": member.name,
        "gender": member.gender,
        "home_store": store.pk,
        "email": member.masked_email,
        "notes": "",
    }
    data.update(overrides)
    return client.post(reverse("customers:edit", args=[member.pk]), data)


def test_edit_form_shows_phone_and_email_masked(in_a, with_email, client_for):
    for role in (Role.CLERK, Role.STORE_MANAGER, Role.HQ_ADMIN):
        html = (
            client_for(in_a.staff_a[role])
            .get(reverse("customers:edit", args=[with_email.pk]))
            .content.decode()
        )
        assert 'value="138****5678"' in html and 'value="z***@example.com"' in html
        assert "13812345678" not in html and "zhang.san@example.com" not in html
    assert not AuditEvent.objects.filter(action="customer.phone_revealed").exists()


def test_posting_the_masked_values_back_keeps_phone_and_email(in_a, with_email, client_for):
    client = client_for(in_a.staff_a[Role.CLERK])
    response = _post(client, with_email, in_a.store_a1, name="新名字")
    assert response.status_code == 302
    with_email.refresh_from_db()
    assert (with_email.phone, with_email.email) == ("13812345678", "zhang.san@example.com")
    assert with_email.name == "新名字"
    # Only the name changed, so only the name is in the audit row.
    event = AuditEvent.objects.get(action="customer.updated")
    assert set(event.after) == {"name"}


def test_an_empty_phone_keeps_the_stored_number(in_a, member, client_for):
    response = _post(client_for(in_a.staff_a[Role.CLERK]), member, in_a.store_a1, phone="")
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.phone == "13812345678"


def test_a_typed_number_and_address_replace_the_stored_ones(in_a, with_email, client_for):
    response = _post(
        client_for(in_a.staff_a[Role.CLERK]),
        with_email,
        in_a.store_a1,
        phone="139 0000 1111",
        email="li.si@example.com",
    )
    assert response.status_code == 302
    with_email.refresh_from_db()
    assert (with_email.phone, with_email.phone_last4) == ("13900001111", "1111")
    assert with_email.email == "li.si@example.com"
    # The audit row keeps both masked too.
    event = AuditEvent.objects.get(action="customer.updated")
    assert event.before == {"phone": "138****5678", "email": "z***@example.com"}
    assert event.after == {"phone": "139****1111", "email": "l***@example.com"}


def test_a_cleared_email_is_removed(in_a, with_email, client_for):
    _post(client_for(in_a.staff_a[Role.CLERK]), with_email, in_a.store_a1, email="")
    with_email.refresh_from_db()
    assert with_email.email == "" and with_email.phone == "13812345678"


def test_a_mangled_masked_value_is_an_error_not_a_change(in_a, with_email, client_for):
    response = _post(
        client_for(in_a.staff_a[Role.CLERK]),
        with_email,
        in_a.store_a1,
        phone="138****567",
        email="x***@example.com",
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "phone" in errors and "email" in errors
    # The re-rendered form shows what was typed, never the stored values.
    html = response.content.decode()
    assert "13812345678" not in html and "zhang.san@example.com" not in html
    with_email.refresh_from_db()
    assert (with_email.phone, with_email.email) == ("13812345678", "zhang.san@example.com")
