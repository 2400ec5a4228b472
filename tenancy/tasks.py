"""Celery plumbing for per-tenant jobs.

A periodic job is a `tenant_task`: it takes a tenant id, enters that tenant's context
(ContextVar and the PostgreSQL setting) and calls a service. Beat calls `fan_out`, which
queues the job once per active tenant, so one slow tenant never delays another.
"""

from __future__ import annotations

import logging
import time
from functools import wraps

from celery import current_app, shared_task
from django.core.cache import cache

from tenancy.context import tenant_context
from tenancy.models import Tenant


def tenant_task(*, name: str, **options):
    """Declare a Celery task whose first argument is the tenant id."""

    def decorator(func):
        @shared_task(name=name, **options)
        @wraps(func)
        def task(tenant_id: int, *args, **kwargs):
            tenant = Tenant.objects.get(pk=tenant_id)
            with tenant_context(tenant):
                return func(*args, **kwargs)

        return task

    return decorator


@shared_task(name="tenancy.fan_out")
def fan_out(task_name: str, **kwargs) -> int:
    """Queue `task_name` once for every active tenant; returns how many were queued."""
    task = current_app.tasks[task_name]
    tenant_ids = list(Tenant.objects.filter(is_active=True).values_list("pk", flat=True))
    for tenant_id in tenant_ids:
        task.delay(tenant_id, **kwargs)
    return len(tenant_ids)


logger = logging.getLogger(__name__)


def enqueue(task, *args, **kwargs) -> bool:
    """Queue a job whose row is already committed; False when the broker refused it.

    Never raises: the caller's work is saved, and the jobs sweeper (beat) queues every job
    still waiting from its row in PostgreSQL once the broker is back (docs/reliability.md).
    """
    from kombu.exceptions import OperationalError

    try:
        task.delay(*args, **kwargs)
    except (OperationalError, OSError) as exc:
        logger.warning("Broker refused %s%r (%s); the sweeper will queue it", task.name, args, exc)
        return False
    return True


# Written by the heartbeat task; read by `manage.py check_heartbeat` (beat's healthcheck).
HEARTBEAT_CACHE_KEY = "beat-heartbeat"


@shared_task(name="tenancy.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat queues this every BEAT_HEARTBEAT_SECONDS and a worker runs it, so a recent value
    proves the scheduler, the broker and at least one worker all work."""
    cache.set(HEARTBEAT_CACHE_KEY, time.time(), timeout=None)
