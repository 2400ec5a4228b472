"""A real Celery worker process is SIGKILLed in the middle of a member import, and in the
middle of sending a batch of messages.

The import must not stay stuck: once its lease passes the sweeper hands it on and it ends
done, each row imported once, and the uploaded file is gone. The messages must not be sent
twice: the round the worker had claimed (the gateway has it, the worker never heard back)
and the one it claimed next end "unknown", the rest of the queue is sent once.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from benchmarks.fake_sms_gateway import FakeSmsGateway
from campaigns import services as campaign_services
from campaigns import tasks as campaign_tasks
from campaigns.models import Channel, Delivery, DeliveryKind, DeliveryStatus
from crm_site.celery import app
from customers import importing
from customers.models import Customer, ImportJob, ImportStatus
from tenancy.context import tenant_context
from tenancy.models import Role
from tests.customers.test_import_export import csv_bytes
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROWS = 20000


def _fresh_broker_connections() -> None:
    # The app keeps a connection pool and a producer pool for the broker it first used: an
    # earlier test that queued through another broker would send this job there, and the
    # private worker would never see it.
    app._pool = None
    app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)


def _worker(redis_url: str, media, **extra_env: str) -> subprocess.Popen:
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
        **extra_env,
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


MESSAGES = 50


def _statuses() -> dict[str, int]:
    found: dict[str, int] = {}
    for status in Delivery.objects.values_list("status", flat=True):
        found[status] = found.get(status, 0) + 1
    return found


def test_a_worker_killed_inside_a_batch_send_never_sends_a_message_twice(
    world, private_redis, settings, tmp_path
):
    # Batches of 10, 2 calls at once: the worker claims a round of 20 in one statement.
    gateway = FakeSmsGateway(latency=0, max_batch=10).start()
    gateway.answering.clear()  # it takes the batches and does not answer while the worker lives
    sms = {
        "CAMPAIGN_SMS_URL": gateway.single_url,
        "CAMPAIGN_SMS_BATCH_URL": gateway.batch_url,
        "CAMPAIGN_SMS_BATCH_SIZE": "10",
        "CAMPAIGN_SEND_CONCURRENCY": "2",
        "CAMPAIGN_SMS_API_KEY": "key",
        "CAMPAIGN_SMS_SIGN": "【甲连锁】",
    }
    with tenant_context(world.tenant_a):
        rules = campaign_services.campaign_settings()
        rules.quiet_start = rules.quiet_end = datetime.time(0, 0)  # sends whatever the hour
        rules.save()
        member = CustomerFactory(home_store=world.store_a1, phone="13900000000")
        due = timezone.now() - datetime.timedelta(minutes=1)
        Delivery.objects.bulk_create(
            Delivery(key=f"survey:{n}", kind=DeliveryKind.SURVEY, member=member,
                     channel=Channel.SMS, address=f"139{n:08d}", text="请评价本次服务",
                     is_marketing=False, next_attempt_at=due)
            for n in range(MESSAGES)
        )  # fmt: skip
        ids = list(Delivery.objects.order_by("pk").values_list("pk", flat=True))
    saved = {key: app.conf[key] for key in ("task_always_eager", "broker_url")}
    app.conf.task_always_eager = False
    app.conf.broker_url = private_redis.url
    _fresh_broker_connections()
    worker = _worker(
        private_redis.url, tmp_path, CAMPAIGN_SMS_BACKEND="campaigns.senders.SmsSender", **sms
    )
    try:
        campaign_tasks.dispatch_batch.apply_async((world.tenant_a.pk, ids))

        def claimed() -> int:
            with tenant_context(world.tenant_a):
                return _statuses().get(DeliveryStatus.SENDING, 0)

        # The first round is at the gateway, which does not answer; meanwhile the worker
        # claims the next round (pipelining), which waits for the first to come back.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (gateway.total_received() < 20 or claimed() < 40):
            time.sleep(0.02)
        os.kill(worker.pid, signal.SIGKILL)  # between the claims and the gateway's answer
        worker.wait(timeout=10)
        assert gateway.total_received() == 20
        with tenant_context(world.tenant_a):
            assert _statuses() == {DeliveryStatus.SENDING: 40, DeliveryStatus.QUEUED: 10}
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        app.conf.update(saved)
        _fresh_broker_connections()
        gateway.answering.set()

    # The next dispatcher (here, in this process) after STUCK_AFTER: both claimed rounds are
    # "unknown" and left alone (the first reached the gateway, the second did not, and no one
    # can tell from the rows), the rest goes out, each number reached once.
    settings.CAMPAIGN_SENDERS = {"sms": "campaigns.senders.SmsSender"}
    for name, value in sms.items():
        setattr(settings, name, int(value) if value.isdigit() else value)
    later = timezone.now() + campaign_services.STUCK_AFTER + datetime.timedelta(minutes=1)
    try:
        with tenant_context(world.tenant_a):
            result = campaign_services.deliveries_dispatch(now=later, limit=1000)
            assert (result["unknown"], result["sent"], result["failed"]) == (40, 10, 0)
            assert _statuses() == {DeliveryStatus.UNKNOWN: 40, DeliveryStatus.SENT: 10}
            assert campaign_services.deliveries_dispatch(now=later, limit=1000)["sent"] == 0
        assert len(gateway.received) == 30  # the first round and the 10 never claimed
        assert set(gateway.received.values()) == {1}
    finally:
        gateway.close()
