"""Sign-in throttling: guessing is slowed, but an attacker cannot lock the real person out.

Limits (tenancy/throttle.py): an account + address pair locks after LOGIN_FAILURE_LIMIT
failures; an account from anywhere and an address against any accounts lock only devices the
account has not signed in from; forged headers change nothing.
"""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from tenancy.models import Role
from tests.conftest import make_staff
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def fail(client, username, **headers):
    return client.post(reverse("login"), {"username": username, "password": "wrong"}, **headers)


def sign_in(client, username, **headers):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD}, **headers)


def known_device(username: str, address: str) -> Client:
    """A browser the person signed in from (it keeps the device cookie), now signed out."""
    client = Client(REMOTE_ADDR=address)
    assert sign_in(client, username).status_code == 302
    client.post(reverse("logout"))
    return client


def test_the_pair_locks_after_repeated_failures_even_with_the_right_password(world, settings):
    username = world.staff_a[Role.CLERK].user.username
    attacker = Client(REMOTE_ADDR="192.0.2.1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(attacker, username)
    response = sign_in(attacker, username)
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()


def test_an_attacker_failing_from_one_address_does_not_lock_the_owner_elsewhere(world, settings):
    username = world.staff_a[Role.CLERK].user.username
    own_pc = known_device(username, "10.0.0.5")
    attacker = Client(REMOTE_ADDR="192.0.2.1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(attacker, username)
    assert sign_in(attacker, username).status_code == 429
    assert sign_in(own_pc, username).status_code == 302
    # Five failures are far below the per-account limit: a new device still signs in too.
    assert sign_in(Client(REMOTE_ADDR="10.0.0.6"), username).status_code == 302


def spread_attack(username: str, failures: int) -> None:
    """Guesses from many addresses, never enough at one to lock the pair."""
    for index in range(failures):
        fail(Client(REMOTE_ADDR=f"198.51.100.{index // 4 + 1}"), username)


def test_guessing_from_many_addresses_backs_off_the_account_for_new_devices_only(world, settings):
    username = world.staff_a[Role.HQ_STAFF].user.username
    own_pc = known_device(username, "10.0.0.5")
    known_device(username, "10.0.0.7").cookies.clear()  # another known address, no cookie
    spread_attack(username, settings.LOGIN_ACCOUNT_FAILURE_LIMIT)

    assert sign_in(Client(REMOTE_ADDR="203.0.113.9"), username).status_code == 429
    assert sign_in(own_pc, username).status_code == 302
    assert sign_in(Client(REMOTE_ADDR="10.0.0.7"), username).status_code == 302
    # Other accounts are not touched.
    other = world.staff_a[Role.CLERK].user.username
    assert sign_in(Client(REMOTE_ADDR="203.0.113.9"), other).status_code == 302


@override_settings(LOGIN_KNOWN_ADDRESS_DAYS=0)
def test_a_device_cookie_of_another_account_does_not_count(world, settings):
    username = world.staff_a[Role.HQ_STAFF].user.username
    shared_pc = known_device(world.staff_a[Role.CLERK].user.username, "10.0.0.5")
    spread_attack(username, settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
    assert sign_in(shared_pc, username).status_code == 429


def test_a_forged_device_cookie_does_not_count(world, settings):
    username = world.staff_a[Role.HQ_STAFF].user.username
    spread_attack(username, settings.LOGIN_ACCOUNT_FAILURE_LIMIT)
    forger = Client(REMOTE_ADDR="203.0.113.9")
    forger.cookies["crm_device"] = "abc:def"
    assert sign_in(forger, username).status_code == 429


def test_many_staff_behind_one_store_address_each_mistyping_are_not_blocked(world):
    store_nat = "100.64.1.1"
    staff = [make_staff(world.tenant_a, Role.CLERK, world.store_a1) for _ in range(25)]
    for member in staff:
        client = Client(REMOTE_ADDR=store_nat)
        fail(client, member.user.username)
        fail(client, member.user.username)
    for member in staff:
        assert sign_in(Client(REMOTE_ADDR=store_nat), member.user.username).status_code == 302


@override_settings(LOGIN_ADDRESS_FAILURE_LIMIT=12)
def test_spraying_many_accounts_from_one_address_locks_that_address_for_new_devices(world):
    username = world.staff_a[Role.STORE_MANAGER].user.username
    own_pc = known_device(username, "100.64.1.1")
    sprayer = Client(REMOTE_ADDR="100.64.1.1")
    for index in range(12):
        fail(sprayer, f"guess{index}")
    newcomer = world.staff_a[Role.CLERK].user.username
    assert sign_in(Client(REMOTE_ADDR="100.64.1.1"), newcomer).status_code == 429
    assert sign_in(own_pc, username).status_code == 302


def test_the_lockout_page_says_why_and_for_how_long_in_chinese(world, settings):
    username = world.staff_a[Role.CLERK].user.username
    attacker = Client(REMOTE_ADDR="192.0.2.1")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        fail(attacker, username)
    html = sign_in(attacker, username).content.decode()
    assert "15 分钟后再试" in html
    assert "常用设备" in html


def test_spoofed_forwarded_for_without_a_trusted_proxy_does_not_reset_the_lock(world, settings):
    username = world.staff_a[Role.HQ_STAFF].user.username
    client = Client(REMOTE_ADDR="192.0.2.8")
    for index in range(settings.AXES_FAILURE_LIMIT):
        fail(client, username, HTTP_X_FORWARDED_FOR=f"203.0.113.{index}")
    response = sign_in(client, username, HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert response.status_code == 429


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_only_the_address_it_saw_counts(world, settings):
    # The client prepends forged addresses; our proxy appends the one it really saw.
    username = world.staff_a[Role.HQ_STAFF].user.username
    client = Client(REMOTE_ADDR="10.1.1.1")
    for index in range(settings.AXES_FAILURE_LIMIT):
        fail(client, username, HTTP_X_FORWARDED_FOR=f"203.0.113.{index}, 198.51.100.9")
    response = sign_in(client, username, HTTP_X_FORWARDED_FOR="203.0.113.250, 198.51.100.9")
    assert response.status_code == 429
    response = sign_in(
        Client(REMOTE_ADDR="10.1.1.1"), username, HTTP_X_FORWARDED_FOR="198.51.100.10"
    )
    assert response.status_code == 302
