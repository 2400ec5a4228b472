"""Repeated failed sign-ins lock the account and the address; forged headers change nothing."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tenancy.models import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def fail(client, username, **headers):
    return client.post(reverse("login"), {"username": username, "password": "wrong"}, **headers)


def test_account_locks_after_repeated_failures_even_with_the_right_password(world, settings):
    username = world.staff_a[Role.CLERK].user.username
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(client, username)
    response = client.post(reverse("login"), {"username": username, "password": PASSWORD})
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()


def test_account_lock_holds_from_another_address(world, settings):
    username = world.staff_a[Role.CLERK].user.username
    for index in range(settings.AXES_FAILURE_LIMIT):
        fail(Client(REMOTE_ADDR=f"10.0.0.{index + 1}"), username)
    response = Client(REMOTE_ADDR="10.0.0.99").post(
        reverse("login"), {"username": username, "password": PASSWORD}
    )
    assert response.status_code == 429


def test_address_locks_after_failures_against_many_accounts(world, settings):
    client = Client(REMOTE_ADDR="192.0.2.7")
    for index in range(settings.AXES_FAILURE_LIMIT):
        fail(client, f"nobody{index}")
    other = world.staff_a[Role.HQ_STAFF].user.username
    response = client.post(reverse("login"), {"username": other, "password": PASSWORD})
    assert response.status_code == 429


def test_spoofed_forwarded_for_without_a_trusted_proxy_does_not_reset_the_lock(world, settings):
    client = Client(REMOTE_ADDR="192.0.2.8")
    for index in range(settings.AXES_FAILURE_LIMIT):
        fail(client, f"ghost{index}", HTTP_X_FORWARDED_FOR=f"203.0.113.{index}")
    response = client.post(
        reverse("login"),
        {"username": world.staff_a[Role.HQ_STAFF].user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.200",
    )
    assert response.status_code == 429


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_only_the_address_it_saw_counts(world, settings):
    # The client prepends forged addresses; our proxy appends the one it really saw.
    client = Client(REMOTE_ADDR="10.1.1.1")
    for index in range(settings.AXES_FAILURE_LIMIT):
        fail(client, f"ghost{index}", HTTP_X_FORWARDED_FOR=f"203.0.113.{index}, 198.51.100.9")
    response = client.post(
        reverse("login"),
        {"username": world.staff_a[Role.HQ_STAFF].user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.250, 198.51.100.9",
    )
    assert response.status_code == 429
    other_client = client.post(
        reverse("login"),
        {"username": world.staff_a[Role.HQ_STAFF].user.username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="198.51.100.10",
    )
    assert other_client.status_code == 302
