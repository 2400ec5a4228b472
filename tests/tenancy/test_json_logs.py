"""LOG_FORMAT=json: every log line is one JSON object a collector can parse, carrying the
request id and tenant of the work that logged it, with members' phones masked."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from tenancy.context import tenant_context
from tenancy.logs import JsonFormatter, RequestIdMiddleware, logging_user
from tests.factories import TenantFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("crm.test.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.django_db
def test_a_request_logs_its_id_and_tenant_on_every_line(captured):
    logger, stream = captured
    tenant = TenantFactory(slug="json-logs")

    def view(request):
        with tenant_context(tenant), logging_user(42):
            logger.info("member %s looked up", "13812345678")
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed")
        return HttpResponse("ok")

    request = RequestFactory().get("/", headers={"X-Request-ID": "proxy-id-0001"})
    response = RequestIdMiddleware(view)(request)
    logger.warning("outside any request")

    first, second, outside = _lines(stream)
    assert response["X-Request-ID"] == "proxy-id-0001"
    assert first["request_id"] == second["request_id"] == "proxy-id-0001"
    assert first["tenant_id"] == second["tenant_id"] == tenant.pk
    assert first["user_id"] == second["user_id"] == 42
    assert first["level"] == "INFO" and first["logger"] == "crm.test.json"
    assert first["message"] == "member 138****5678 looked up"
    assert first["time"].endswith("+00:00")
    assert "ValueError: boom" in second["exc_info"]
    assert not {"request_id", "tenant_id", "user_id"} & outside.keys()


def test_a_forged_request_id_is_replaced():
    request = RequestFactory().get("/", headers={"X-Request-ID": 'x" injected\nline'})
    response = RequestIdMiddleware(lambda request: HttpResponse())(request)
    assert len(response["X-Request-ID"]) == 32
    assert '"' not in response["X-Request-ID"]


def test_log_format_json_configures_the_console_handler():
    """The settings wire it up: a process started with LOG_FORMAT=json writes JSON lines."""
    env = {**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "import logging; logging.getLogger('crm.ops').info('started with 13912345678')",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert {
        "logger": "crm.ops",
        "level": "INFO",
        "message": "started with 139****5678",
    }.items() <= (lines[-1].items())
