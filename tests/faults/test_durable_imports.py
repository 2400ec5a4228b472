"""Member imports survive a refused broker and a dead worker: done once, or failed with a
reason; never stuck, and the uploaded file is gone either way."""

from __future__ import annotations

import datetime

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from crm_site.celery import app
from customers import importing
from customers.models import Customer, ImportJob, ImportStatus
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.customers.test_import_export import csv_bytes

ROWS = [[f"1390000{n:04d}", f"会员{n}", "", "", "", "", "BJ-ZY-001", "", ""] for n in range(30)]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def _upload(staff) -> ImportJob:
    return importing.import_job_create(
        staff=staff, upload=SimpleUploadedFile("members.csv", csv_bytes(ROWS))
    )


def _files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()]


def _fresh_broker_connections() -> None:
    # The app keeps a connection pool per broker URL; the URL changes under it here.
    app._pool = None
    app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)


def _close_db_after_task(**kwargs) -> None:
    connection.close()  # the worker thread's connection, so the test database can be dropped


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_queued_while_the_broker_is_down_runs_once_after_it_returns(
    world, private_redis, media
):
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    app.conf.broker_url = private_redis.url
    _fresh_broker_connections()
    task_postrun.connect(_close_db_after_task, dispatch_uid="faults-close-db", weak=False)
    try:
        private_redis.stop()
        with tenant_context(world.tenant_a):
            job = _upload(world.staff_a[Role.HQ_ADMIN])  # the upload is answered, not a 500
            assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.PENDING

        private_redis.start()
        _fresh_broker_connections()
        with start_worker(
            app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ):
            with tenant_context(world.tenant_a):
                # Too fresh to sweep: its message may still be on the way.
                assert importing.import_jobs_sweep() == 0
                ImportJob.objects.filter(pk=job.pk).update(
                    created_at=timezone.now() - datetime.timedelta(minutes=2)
                )
                assert importing.import_jobs_sweep() == 1
                # A second sweep before the worker claims it queues it again: harmless.
                importing.import_jobs_sweep()
            deadline = timezone.now() + datetime.timedelta(seconds=60)
            while timezone.now() < deadline:
                with tenant_context(world.tenant_a):
                    if not ImportJob.objects.get(pk=job.pk).is_running:
                        break
            with tenant_context(world.tenant_a):
                job.refresh_from_db()
                assert job.status == ImportStatus.DONE, job.errors
                assert job.attempts == 1  # exactly once
                assert Customer.objects.count() == len(ROWS)
                assert importing.import_jobs_sweep() == 0
        assert _files(media) == []
    finally:
        task_postrun.disconnect(dispatch_uid="faults-close-db")
        app.conf.update(saved)
        _fresh_broker_connections()


def _as_if_its_worker_died(job: ImportJob, *, attempts: int) -> None:
    """What a SIGKILL leaves behind: claimed, half checked, the lease no longer renewed."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.VALIDATING,
        processed_rows=10,
        attempts=attempts,
        lease_expires_at=timezone.now() - datetime.timedelta(seconds=1),
    )


@pytest.mark.django_db
def test_a_job_whose_worker_died_is_taken_over_and_imports_each_row_once(world, media):
    with tenant_context(world.tenant_a):
        job = _upload(world.staff_a[Role.HQ_ADMIN])
        _as_if_its_worker_died(job, attempts=1)
        # A redelivered message while the lease still holds would do nothing:
        ImportJob.objects.filter(pk=job.pk).update(
            lease_expires_at=timezone.now() + datetime.timedelta(minutes=5)
        )
        assert importing.import_jobs_sweep() == 0
        importing.import_job_run(job_id=job.pk)
        assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.VALIDATING
        # Once the lease has passed, the sweeper hands it to a worker (eager here).
        _as_if_its_worker_died(job, attempts=1)
        assert importing.import_jobs_sweep() == 1
        job.refresh_from_db()
        assert (job.status, job.attempts, job.created_count) == (ImportStatus.DONE, 2, len(ROWS))
        assert Customer.objects.count() == len(ROWS)
    assert _files(media) == []


@pytest.mark.django_db
def test_a_job_that_keeps_losing_its_worker_fails_with_a_reason_and_can_be_retried(
    world, media, django_capture_on_commit_callbacks
):
    with tenant_context(world.tenant_a):
        staff = world.staff_a[Role.HQ_ADMIN]
        job = _upload(staff)
        _as_if_its_worker_died(job, attempts=importing.IMPORT_MAX_ATTEMPTS)
        importing.import_jobs_sweep()
        job.refresh_from_db()
        assert job.status == ImportStatus.FAILED
        assert "中断了 3 次" in job.error_rows[0]["message"]
        assert Customer.objects.count() == 0
        assert _files(media) == []
        # The user uploads the file again: each row is imported once.
        with django_capture_on_commit_callbacks(execute=True):
            retry = _upload(staff)
        retry.refresh_from_db()
        assert retry.status == ImportStatus.DONE
        assert Customer.objects.count() == len(ROWS)
    assert _files(media) == []


@pytest.mark.django_db
def test_a_sales_import_left_waiting_is_swept_and_written_once(world, monkeypatch):
    """A large file is queued; its message is lost (or its worker died mid-transaction, which
    leaves it waiting too). The sweeper queues it again; a second sweep finds nothing."""
    from analytics import services as analytics_services
    from analytics.importing import parse_rows, read_table
    from analytics.models import Sale, SaleImport
    from tests.analytics.test_import import csv_file

    monkeypatch.setattr(analytics_services, "IMPORT_SYNC_LIMIT", 0)  # every file is a job
    day = (timezone.now() - datetime.timedelta(days=2)).date()
    rows = parse_rows(read_table(csv_file(f"T1,{day} 10:00,,A,苹果,水果,2,5.00,0,\n")))
    with tenant_context(world.tenant_a):
        # Not inside django_capture_on_commit_callbacks: the queued message never runs.
        sale_import = analytics_services.sale_import_create(
            store=world.store_a1, actor=world.staff_a[Role.HQ_ADMIN], file_name="pos.csv", rows=rows
        )
        assert analytics_services.sale_imports_sweep() == 0  # too fresh
        SaleImport.objects.filter(pk=sale_import.pk).update(
            created_at=timezone.now() - datetime.timedelta(minutes=2)
        )
        assert analytics_services.sale_imports_sweep() == 1
        assert SaleImport.objects.get(pk=sale_import.pk).status == "done"
        assert analytics_services.sale_imports_sweep() == 0
        analytics_services.sale_import_run(sale_import_id=sale_import.pk)  # a redelivery
        assert Sale.objects.count() == 1
