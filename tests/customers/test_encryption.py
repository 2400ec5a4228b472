"""Members' personal data is encrypted at rest (issue 18): sealed in the database, read back
transparently, rotated to a new key in batches, and never shown as garbage when a key is
wrong or missing."""

from __future__ import annotations

import base64
import logging
import os

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from customers.models import Customer
from customers.selectors import customer_lookup
from tenancy.context import tenant_context
from tenancy.encryption import Unreadable, decrypt, name_index, phone_index
from tenancy.models import Role
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db]


def key(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


K1, K2, STRANGER = key("k1"), key("k2"), key("k9")


def stored(member: Customer, column: str) -> str:
    """What the database holds, read past the model (inside the member's tenant: RLS)."""
    with tenant_context(member.tenant), connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM customers_customer WHERE id = %s", [member.pk])  # noqa: S608 - fixed column names
        return cursor.fetchone()[0]


def test_values_are_sealed_in_the_database_and_read_back_as_they_were(world):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(
            home_store=world.store_a1,
            phone="13812345678",
            name="王芳",
            birth_year=1990,
            email="wf@example.com",
        )
        raw = {c: stored(member, c) for c in ("phone", "name", "birth_year", "email")}
        for value in raw.values():
            assert value.startswith("enc1:dev:")
        assert "13812345678" not in raw["phone"] and "王芳" not in raw["name"]
        assert stored(member, "phone_last4") == "5678"
        assert stored(member, "phone_hash") == phone_index("13812345678")
        assert stored(member, "name_hash") == name_index(" 王芳")  # normalised alike

        again = Customer.objects.get(pk=member.pk)
        assert (again.phone, again.name, again.birth_year, again.email) == (
            "13812345678",
            "王芳",
            1990,
            "wf@example.com",
        )
        assert again.masked_phone == "138****5678"
        # Two writes of one value differ (a fresh nonce each time): equal ciphertexts would
        # let a reader of the dump group members by phone.
        other = CustomerFactory(home_store=world.store_a1, name="王芳")
        assert stored(other, "name") != raw["name"]


def test_a_value_moved_to_another_column_does_not_open(world):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, name="王芳")
        with pytest.raises(ValueError):
            decrypt(stored(member, "name"), context="customers_customer.phone")


def test_encrypted_columns_refuse_lookups_that_cannot_work(world):
    from django.core.exceptions import FieldError

    with tenant_context(world.tenant_a):
        with pytest.raises(FieldError, match="blind index"):
            Customer.objects.filter(phone="13812345678").exists()
        with pytest.raises(FieldError):
            Customer.objects.filter(name__icontains="王").exists()
        # Whether there is a value at all still works.
        assert not Customer.objects.exclude(email="").exists()


def test_rotation_re_encrypts_under_the_new_key_and_is_idempotent(world, capsys):
    with override_settings(FIELD_ENCRYPTION_KEYS=[K1]):
        with tenant_context(world.tenant_a):
            members = [
                CustomerFactory(home_store=world.store_a1, birth_year=1980 + n) for n in range(5)
            ]
        with tenant_context(world.tenant_b):
            members.append(CustomerFactory(home_store=world.store_b1, name="乙会员"))
        assert all(stored(m, "name").startswith("enc1:k1:") for m in members)
        expected = {m.pk: (m.phone, m.name, m.birth_year) for m in members}

    with override_settings(FIELD_ENCRYPTION_KEYS=[K2, K1]):
        # Both generations read while the rotation has not run (or runs).
        with tenant_context(world.tenant_a):
            assert Customer.objects.get(pk=members[0].pk).name == members[0].name
            # A member edited meanwhile is sealed with the new key at once.
            edited = Customer.objects.get(pk=members[1].pk)
            edited.name = "改名"
            edited.save()
            expected[edited.pk] = (edited.phone, "改名", edited.birth_year)
        call_command("rotate_field_keys", batch_size=2)
        first = capsys.readouterr().out
        assert "rows now under key 'k2'" in first
        for member in members:
            for column in ("phone", "name", "birth_year"):
                value = stored(member, column)
                assert value is None or value.startswith("enc1:k2:")
            assert stored(member, "name").startswith("enc1:k2:")
        # Run again: nothing left to do.
        call_command("rotate_field_keys")
        assert "Done: 0 rows" in capsys.readouterr().out

    with override_settings(FIELD_ENCRYPTION_KEYS=[K2]):  # the old key is gone
        for tenant, subset in ((world.tenant_a, members[:5]), (world.tenant_b, members[5:])):
            with tenant_context(tenant):
                for member in subset:
                    again = Customer.objects.get(pk=member.pk)
                    assert (again.phone, again.name, again.birth_year) == expected[member.pk]


def test_rotation_reports_values_no_key_opens(world):
    from django.core.management.base import CommandError

    with override_settings(FIELD_ENCRYPTION_KEYS=[STRANGER]):
        with tenant_context(world.tenant_a):
            CustomerFactory(home_store=world.store_a1)
    with override_settings(FIELD_ENCRYPTION_KEYS=[K2]):
        with pytest.raises(CommandError, match="could not be opened"):
            call_command("rotate_field_keys")


def test_phone_lookup_goes_through_the_blind_index(world):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, phone="13812345678")
        CustomerFactory(home_store=world.store_a1, phone="13812340000")
        found = customer_lookup(query="138 1234 5678", staff=world.staff_a[Role.CLERK])
        assert found == [member]
    with tenant_context(world.tenant_b):
        assert customer_lookup(query="13812345678", staff=world.staff_b[Role.CLERK]) == []


def test_a_wrong_key_shows_cannot_be_read_and_is_logged(world, client_for, caplog):
    with override_settings(FIELD_ENCRYPTION_KEYS=[STRANGER]):
        with tenant_context(world.tenant_a):
            member = CustomerFactory(
                home_store=world.store_a1, phone="13812345678", name="王芳", birth_year=1990
            )
    sealed_name = stored(member, "name")
    clerk = client_for(world.staff_a[Role.CLERK])
    clerk.cookies["django_language"] = "zh-hans"
    with caplog.at_level(logging.ERROR, logger="tenancy.encryption"):
        response = clerk.get(reverse("customers:profile", args=[member.pk]))
        listing = clerk.get(reverse("customers:lookup"), {"q": "5678"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "无法读取" in html
    assert sealed_name not in html and "enc1:" not in html
    assert listing.status_code == 200 and "无法读取" in listing.content.decode()
    assert any("cannot be read" in r.getMessage() for r in caplog.records)
    # Nothing of the value is logged.
    assert not any("enc1:" in r.getMessage() for r in caplog.records)

    # Saving the member (a points change, say) writes the sealed values back unchanged.
    with tenant_context(world.tenant_a):
        unreadable = Customer.objects.get(pk=member.pk)
        assert isinstance(unreadable.name, Unreadable) and unreadable.has_unreadable_data
        unreadable.total_spent = 10
        unreadable.save()
    assert stored(member, "name") == sealed_name
    assert stored(member, "phone_hash") == phone_index("13812345678")
    with override_settings(FIELD_ENCRYPTION_KEYS=[STRANGER]):
        with tenant_context(world.tenant_a):
            assert Customer.objects.get(pk=member.pk).name == "王芳"


def test_a_missing_key_id_shows_cannot_be_read(world, client_for):
    with tenant_context(world.tenant_a):
        member = CustomerFactory(home_store=world.store_a1, name="王芳")
    with override_settings(FIELD_ENCRYPTION_KEYS=[K1]):  # "dev" is not configured
        clerk = client_for(world.staff_a[Role.CLERK])
        clerk.cookies["django_language"] = "zh-hans"
        response = clerk.get(reverse("customers:profile", args=[member.pk]))
    assert response.status_code == 200
    assert "无法读取" in response.content.decode()
