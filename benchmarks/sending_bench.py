"""Sending the outbox to a provider that takes 100 ms a call and batches of up to 100 numbers.

The provider is benchmarks.fake_sms_gateway in its own process on loopback. Two measurements:

- per worker (benchmarks/run, --quick at 20,000 messages): the dispatcher service as one
  Celery `campaigns.dispatch_batch` task runs it (ids of up to 1,000 due messages, rounds of
  claim, send, record), inline in this process; messages/s beside the provider's own limit
  for one worker: batch size / latency x calls in flight (CAMPAIGN_SEND_CONCURRENCY);
- the chain-wide campaign (run by hand, about 15 minutes):

    DATABASE_URL=<the bench database> REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python -m benchmarks.sending_bench --messages 1000000 --workers 2

  N messages queued, then 2 real `celery worker` processes (solo pool) and this process
  playing beat: `campaigns.dispatch` every minute, as production runs it, until every message
  is recorded. Each message must end "sent" and the gateway must have been handed exactly N
  numbers (no message twice; `GET /stats` on the gateway).

Messages go to the bench tenant's members (several messages per member when there are fewer
members than messages); they are deleted before each measurement.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager

LATENCY = 0.1  # seconds per provider call
MAX_BATCH = 100
KEY_PREFIX = "bench-send:"
TEXT = "【压测】会员日全场九折，回复TD退订"


def log(message: str) -> None:
    print(f"[sending bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def gateway_process():
    """The fake gateway in its own process (its threads must not share our interpreter)."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "benchmarks.fake_sms_gateway", "--latency", str(LATENCY),
         "--max-batch", str(MAX_BATCH)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the fake gateway did not start: {url!r}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def gateway_stats(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url + "/stats", timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read().decode())


def sender_env(url: str, concurrency: int) -> dict[str, str]:
    return {
        "CAMPAIGN_SMS_BACKEND": "campaigns.senders.SmsSender",
        "CAMPAIGN_SMS_URL": url + "/sms/send",
        "CAMPAIGN_SMS_BATCH_URL": url + "/sms/batch",
        "CAMPAIGN_SMS_BATCH_SIZE": str(MAX_BATCH),
        "CAMPAIGN_SEND_CONCURRENCY": str(concurrency),
        "CAMPAIGN_SMS_API_KEY": "bench",
        "CAMPAIGN_SMS_SIGN": "【压测】",
    }


@contextmanager
def sender_settings(url: str, concurrency: int):
    from django.conf import settings

    env = sender_env(url, concurrency)
    saved = {name: getattr(settings, name, None) for name in env if name != "CAMPAIGN_SMS_BACKEND"}
    saved_senders = settings.CAMPAIGN_SENDERS
    for name, value in env.items():
        if name != "CAMPAIGN_SMS_BACKEND":
            setattr(settings, name, int(value) if value.isdigit() else value)
    settings.CAMPAIGN_SENDERS = {**saved_senders, "sms": env["CAMPAIGN_SMS_BACKEND"]}
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        settings.CAMPAIGN_SENDERS = saved_senders


def no_quiet_hours(tenant) -> None:
    """The figures must not depend on the hour the benchmark runs at."""
    import datetime

    from campaigns.services import campaign_settings
    from tenancy.context import tenant_context

    with tenant_context(tenant):
        rules = campaign_settings()
        rules.quiet_start = rules.quiet_end = datetime.time(0, 0)
        rules.save()


def queue_messages(tenant, count: int) -> None:
    """`count` due SMS in the outbox, set-based; earlier benchmark messages deleted first."""
    from django.db import connection, transaction

    from benchmarks.generate import extra_defaults
    from campaigns.models import Delivery
    from customers.models import Customer
    from tenancy.context import tenant_context

    seal_address = Delivery._meta.get_field("address").get_prep_value
    seal_text = Delivery._meta.get_field("text").get_prep_value

    columns = ["tenant_id", "key", "kind", "member_id", "channel", "address", "text",
               "is_marketing", "status", "attempts", "next_attempt_at", "last_error",
               "provider_id", "created_at"]  # fmt: skip
    names, values, params = extra_defaults(Delivery, columns)
    started = time.perf_counter()
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM campaigns_delivery WHERE tenant_id = %s AND key LIKE %s",
            [tenant.pk, KEY_PREFIX + "%"],
        )
        # Phones are sealed at rest, and the outbox seals its address and text under its
        # own columns: each member's phone is opened and sealed for the outbox once, in
        # Python (the database never sees a key), then the rows are written set-based.
        addresses = [
            (member_id, seal_address(phone))
            for member_id, phone in Customer.objects.exclude(phone=None)
            .exclude(phone="")
            .order_by("id")
            .values_list("id", "phone")
        ]
        cursor.execute(
            "CREATE TEMP TABLE bench_address (member_id bigint, address text) ON COMMIT DROP"
        )
        cursor.execute(
            "INSERT INTO bench_address SELECT * FROM unnest(%s::bigint[], %s::text[])",
            [[member for member, _a in addresses], [address for _m, address in addresses]],
        )
        rounds = -(-count // len(addresses))
        cursor.execute(
            f"INSERT INTO campaigns_delivery ({', '.join(columns)}{names}) "  # noqa: S608 - column names only
            "SELECT %s, %s || r || ':' || m.member_id, 'campaign', m.member_id, 'sms', "
            "m.address, %s, true, "
            "'queued', 0, now() - interval '1 minute', '', '', now()" + values + " "
            "FROM generate_series(1, %s) r CROSS JOIN LATERAL (SELECT member_id, address "
            "FROM bench_address ORDER BY member_id) m LIMIT %s",
            [tenant.pk, KEY_PREFIX, seal_text(TEXT), *params, rounds, count],
        )
    # The previous run's rows are dead tuples in the table and its eleven indexes: without a
    # vacuum a second run measured 4x slower than the first (docs/performance.md).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_delivery")
    log(f"{count} messages queued in {time.perf_counter() - started:.1f}s")


def outcome(tenant) -> dict[tuple[str, int], int]:
    from django.db.models import Count

    from campaigns.models import Delivery
    from tenancy.context import tenant_context

    with tenant_context(tenant):
        rows = (
            Delivery.objects.filter(key__startswith=KEY_PREFIX)
            .values_list("status", "attempts")
            .annotate(n=Count("id"))
        )
        return {(status, attempts): n for status, attempts, n in rows}


def per_worker(tenant, count: int, concurrency: int):
    """One worker: dispatch_batch's service over every due batch, inline."""
    from benchmarks.harness import Figure
    from campaigns import services
    from tenancy.context import tenant_context

    no_quiet_hours(tenant)
    queue_messages(tenant, count)
    floor = MAX_BATCH / LATENCY * concurrency
    with gateway_process() as url, sender_settings(url, concurrency), tenant_context(tenant):
        started = time.perf_counter()
        sent = 0
        while batches := services.deliveries_due_batches():
            for batch in batches:
                sent += services.deliveries_dispatch(ids=batch, limit=len(batch))["sent"]
        elapsed = time.perf_counter() - started
        handed = gateway_stats(url)
    found = outcome(tenant)
    if found != {("sent", 1): count} or sent != count or handed["received"] != count:
        raise RuntimeError(f"not every message sent once: {found}, {sent} sent, {handed}")
    rate = count / elapsed
    log(f"{count} messages in {elapsed:.1f}s: {rate:.0f}/s (provider limit {floor:.0f}/s)")
    return Figure(
        "sending: messages/s per worker (SMS batches)",
        [rate],
        f"provider: {MAX_BATCH} / {LATENCY * 1000:.0f} ms x {concurrency} calls",
        [floor],
        unit="msg/s",
        note=f"{count} messages in {elapsed:.1f} s, one worker, fake gateway on loopback; "
        f"each message claimed, sent and recorded once",
    )


def measure(tenant, quick: bool) -> list:
    from campaigns.senders import send_concurrency

    log("sending through the fake gateway")
    return [per_worker(tenant, 20_000 if quick else 200_000, send_concurrency())]


def celery_workers(count: int, env: dict[str, str]) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(  # noqa: S603 - our own interpreter and app
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "crm_site",
                "worker",
                "-P",
                "solo",
                "-l",
                "WARNING",
                "-n",
                f"bench-send-{n}@%h",
            ],
            env={**os.environ, **env, "CELERY_TASK_ALWAYS_EAGER": "0"},
        )  # fmt: skip
        for n in range(count)
    ]


def chain_wide(tenant, count: int, workers: int, concurrency: int) -> None:
    """`count` queued messages, `workers` Celery workers, beat's dispatch every minute."""
    from campaigns import tasks
    from crm_site.celery import app
    from tenancy.context import tenant_context

    no_quiet_hours(tenant)
    queue_messages(tenant, count)
    app.conf.task_always_eager = False
    with gateway_process() as url:
        processes = celery_workers(workers, sender_env(url, concurrency))
        try:
            started = time.perf_counter()
            ticks = 0
            while True:
                found = outcome(tenant)
                done = sum(n for (status, _a), n in found.items() if status != "queued")
                log(f"{time.perf_counter() - started:6.0f}s  {done} of {count} recorded")
                if done >= count and not found.get(("sending", 1)):
                    break
                # What beat does every minute (tenancy.fan_out -> campaigns.dispatch).
                if ticks * 60 <= time.perf_counter() - started:
                    with tenant_context(tenant):
                        tasks.dispatch.apply(args=(tenant.pk,))
                    ticks += 1
                time.sleep(10)  # counting a million rows is work for the database too
            elapsed = time.perf_counter() - started
            handed = gateway_stats(url)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=60)
    found = outcome(tenant)
    floor = MAX_BATCH / LATENCY * concurrency * workers
    print(
        f"{count} messages, {workers} Celery workers, {concurrency} calls in flight each, "
        f"provider {LATENCY * 1000:.0f} ms a call, batches of {MAX_BATCH}: "
        f"{elapsed:.0f} s ({elapsed / 60:.1f} min), {count / elapsed:.0f} messages/s "
        f"({count / elapsed / workers:.0f} per worker; provider limit {floor:.0f}/s); "
        f"outcome {found}; the gateway was handed {handed['received']} numbers in "
        f"{handed['calls']} calls"
    )
    # Every message sent, and the gateway handed each exactly once (a message may take a
    # second attempt only when its first call never reached the gateway).
    if sum(n for (status, _a), n in found.items() if status == "sent") != count:
        raise SystemExit("not every message was sent")
    if handed["received"] != count:
        raise SystemExit("the gateway was handed a message twice, or not at all")


def main(argv=None) -> None:
    import argparse

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    django.setup()
    from benchmarks.harness import render
    from campaigns.senders import send_concurrency
    from tenancy.models import Tenant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--messages", type=int, help="the chain-wide run with Celery workers")
    parser.add_argument("--workers", type=int, default=2)
    args, _unknown = parser.parse_known_args(argv)
    tenant = Tenant.objects.get(slug="bench")
    if args.messages:
        chain_wide(tenant, args.messages, args.workers, send_concurrency())
    else:
        print(render(measure(tenant, args.quick)))


if __name__ == "__main__":
    main(sys.argv[1:])
