"""Log lines an operator can search: with LOG_FORMAT=json every record is one JSON object
per line carrying the request id, tenant, user id and Celery task id of the work that logged it.

Mainland mobile numbers in a message are masked (138****5678) as on every page: logs are
read by people who may not see members' phones.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from celery import current_task

from tenancy.context import current_tenant_or_none

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_user_id: ContextVar[int | None] = ContextVar("log_user_id", default=None)
# An id a proxy sent is kept if it looks like one (no spaces, quotes or control characters).
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def logging_user(user_id: int) -> Iterator[None]:
    """Log lines inside the block name the signed-in user (by id, never by name)."""
    token = _user_id.set(user_id)
    try:
        yield
    finally:
        _user_id.reset(token)


def mask_phones(text: str) -> str:
    return _PHONE.sub(r"\1****\2", text)


class RequestIdMiddleware:
    """Gives every request an id (the proxy's X-Request-ID, else a new one), for the logs and
    the response header, so a person's report can be matched to log lines."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if _GOOD_ID.fullmatch(given) else uuid.uuid4().hex
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


def _task_id() -> str | None:
    if current_task and current_task.request and not current_task.request.called_directly:
        return current_task.request.id
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, and the
    request id, tenant id and task id when there are any; the traceback as `exc_info`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_phones(record.getMessage()),
        }
        tenant = current_tenant_or_none()
        context = {
            "request_id": current_request_id(),
            "tenant_id": tenant.pk if tenant is not None else None,
            "user_id": _user_id.get(),
            "task_id": _task_id(),
        }
        entry.update({key: value for key, value in context.items() if value is not None})
        if record.exc_info:
            entry["exc_info"] = mask_phones(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
