"""A real Celery worker process is SIGKILLed in the middle of a member import.

The job must not stay stuck: once its lease passes the sweeper hands it on and it ends done,
each row imported once, and the uploaded file is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from crm_site.celery import app
from customers import importing
from customers.models import Customer, ImportJob, ImportStatus
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.customers.test_import_export import csv_bytes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROWS = 20000


def _fresh_broker_connections() -> None:
    # The app keeps a connection pool and a producer pool for the broker it first used: an
    # earlier test that queued through another broker would send this job there, and the
    # private worker would never see it.
    app._pool = None
    app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)


def _worker(redis_url: str, media) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MEDIA_ROOT": str(media),
        "IMPORT_LEASE_SECONDS": "2",
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    return subprocess.Popen(  # noqa: S603 - our own interpreter and app
        [sys.executable, "-m", "celery", "-A", "crm_site", "worker", "-P", "solo", "-l", "WARNING"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_import_leaves_a_job_that_ends_done_once(
    world, private_redis, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    rows = [[f"13{n:09d}", f"会员{n}", "", "", "", "", "BJ-ZY-001", "", ""] for n in range(ROWS)]
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    app.conf.broker_url = private_redis.url
    _fresh_broker_connections()
    worker = _worker(private_redis.url, tmp_path)
    try:
        with tenant_context(world.tenant_a):
            job = importing.import_job_create(
                staff=world.staff_a[Role.HQ_ADMIN],
                upload=SimpleUploadedFile("big.csv", csv_bytes(rows)),
            )
        deadline = time.monotonic() + 60
        status = ImportStatus.PENDING
        while time.monotonic() < deadline and status == ImportStatus.PENDING:
            with tenant_context(world.tenant_a):
                status = ImportJob.objects.get(pk=job.pk).status
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)  # mid-import: claimed, not finished
        worker.wait(timeout=10)
        assert status in (ImportStatus.VALIDATING, ImportStatus.WRITING)
        with tenant_context(world.tenant_a):
            job.refresh_from_db()
            assert job.is_running  # what used to stay forever
            assert Customer.objects.count() == 0  # all or nothing
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        app.conf.update(saved)
        _fresh_broker_connections()

    # The sweeper (eager here) takes the job over once its lease has passed.
    time.sleep(2.1)  # the worker's lease is 2 s (IMPORT_LEASE_SECONDS) and is not renewed
    with tenant_context(world.tenant_a):
        assert importing.import_jobs_sweep() == 1
        job.refresh_from_db()
        assert job.status == ImportStatus.DONE, job.errors
        assert job.attempts == 2
        assert Customer.objects.count() == ROWS
        assert importing.import_jobs_sweep() == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
