"""The client's address trusts X-Forwarded-For only as far as the proxies we run (issue 12).

A forged header must neither dodge the sign-in throttle nor write a false address into the
audit log, and a proxy count that does not match the traffic is logged, once.
"""

import logging
import re
from pathlib import Path

import pytest
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from tenancy import net
from tenancy.context import tenant_context
from tenancy.models import AuditEvent, Role
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_warnings():
    net._warned.clear()
    yield
    net._warned.clear()


def request_with(**meta):
    return RequestFactory().get("/", REMOTE_ADDR="192.0.2.10", **meta)


def proxy_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tenancy.net"]


def test_without_a_trusted_proxy_the_header_is_ignored_and_logged_once(settings, caplog):
    settings.TRUSTED_PROXY_COUNT = 0
    with caplog.at_level(logging.WARNING, logger="tenancy.net"):
        for index in range(3):
            request = request_with(HTTP_X_FORWARDED_FOR=f"203.0.113.{index}")
            assert net.client_ip(request) == "192.0.2.10"
    assert len(proxy_warnings(caplog)) == 1
    assert "TRUSTED_PROXY_COUNT is 0" in proxy_warnings(caplog)[0]


def test_no_header_and_no_proxy_logs_nothing(settings, caplog):
    settings.TRUSTED_PROXY_COUNT = 0
    with caplog.at_level(logging.WARNING, logger="tenancy.net"):
        assert net.client_ip(request_with()) == "192.0.2.10"
    assert proxy_warnings(caplog) == []


def test_a_request_that_bypassed_the_trusted_proxy_is_logged_once(settings, caplog):
    settings.TRUSTED_PROXY_COUNT = 1
    with caplog.at_level(logging.WARNING, logger="tenancy.net"):
        assert net.client_ip(request_with()) == "192.0.2.10"
        assert net.client_ip(request_with()) == "192.0.2.10"
        # Through the proxy: its entry counts and nothing more is logged.
        assert net.client_ip(request_with(HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.9")) == (
            "198.51.100.9"
        )
    assert len(proxy_warnings(caplog)) == 1
    assert "fewer than TRUSTED_PROXY_COUNT=1" in proxy_warnings(caplog)[0]


@pytest.mark.django_db
def test_rotating_forged_header_cannot_dodge_the_throttle(world, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    username = world.staff_a[Role.CLERK].user.username
    attacker = Client(REMOTE_ADDR="192.0.2.66")
    for index in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(
            reverse("login"),
            {"username": username, "password": "wrong"},
            HTTP_X_FORWARDED_FOR=f"203.0.113.{index}",
        )
    response = attacker.post(
        reverse("login"),
        {"username": username, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.250",
    )
    assert response.status_code == 429


@pytest.mark.django_db
@override_settings(TRUSTED_PROXY_COUNT=0)
def test_the_audit_log_records_the_socket_address_not_the_forged_one(world, client_for):
    client = client_for(world.staff_a[Role.HQ_ADMIN])
    response = client.post(
        reverse("staff_create"),
        {
            "username": "audited.clerk",
            "display_name": "新店员",
            "role": Role.CLERK,
            "stores": [world.store_a1.pk],
            "password": "Spring-Counter-88",
        },
        REMOTE_ADDR="192.0.2.44",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    assert response.status_code == 302
    with tenant_context(world.tenant_a):
        assert AuditEvent.objects.get(action="staff.create").ip_address == "192.0.2.44"


def test_the_shipped_stack_publishes_only_the_proxy_it_trusts():
    compose = (ROOT / "docker-compose.yml").read_text()
    services = dict(re.findall(r"^  (\w+):\n(.*?)(?=^  \w+:\n|^\S|\Z)", compose, re.M | re.S))
    assert "ports" not in services["web"], "gunicorn must not be reachable past the proxy"
    assert "nginx" in services["proxy"] and "ports" in services["proxy"]
    assert "TRUSTED_PROXY_COUNT: ${TRUSTED_PROXY_COUNT:-1}" in compose
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    # Appending keeps the count meaningful; the proxy's own entry is the last one.
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx
    assert "X-Forwarded-Proto $scheme" in nginx
