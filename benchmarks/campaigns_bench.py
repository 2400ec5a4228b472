"""Campaigns at chain scale: the birthday fan-out over every member, and a campaign run.

`measure()` gives the report's figures and EXPLAIN plans (benchmarks/run calls it). Alone:

    DATABASE_URL=postgres://crm_owner@127.0.0.1:5432/crm_bench \\
        .venv/bin/python -m benchmarks.campaigns_bench [--quick] [--run-only region|chain]

Birthday fan-out, for the tenant's today, each figure from a clean state (the day's claims,
birthday messages and birthday coupons deleted before every repetition, committed work
timed, as in production):
- finding today's birthdays: the query behind `birthday_due_ids`, whose plan must use
  `customer_birthday_idx` (an index or bitmap scan, never a sequential scan of the members);
  the run stops with the plan if it does not;
- the real path: the task `campaigns.birthday_fan_out` with Celery eager (tasks run in this
  process, so the figure is our code, not Redis), every `campaigns.birthday_batch` it queues,
  the claims, birthday coupons, outbox rows and the sends through the default OutboxSender;
- beside it the same services called inline without Celery (`birthday_batches`, then
  `birthday_send_batch` per batch): the floor issue 7 asks for, which isolates what Celery
  adds; and under it the database floor, one set-based statement writing the same claims,
  coupons and sent outbox rows, which shows what the per-message sender loop costs.

The bench tenant's messaging rules are set so the figures do not depend on the hour the
benchmark runs at: greetings from 00:00, no quiet hours, SMS, a birthday coupon, no points.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
import time
from contextlib import contextmanager
from decimal import Decimal

MIDNIGHT = datetime.time(0, 0)
OFFER_NAME = "压测生日券"
CAMPAIGN_NAME = "压测区域会员日"
FLOOR_KEY = "bench-floor"


def generate(cursor, tenant_id: int, slug: str, args=None, rng=None) -> None:
    """Birthday claims as the year so far left them (a benchmarks.generate extension).

    Every consenting member has last year's claim, and this year's if their birthday is
    already past in the tenant's time zone: finding today's birthdays must skip a year of
    claims, as it does in production in December. Set-based, as the loader role.
    """
    from zoneinfo import ZoneInfo

    cursor.execute("SELECT time_zone FROM tenancy_tenant WHERE id = %s", [tenant_id])
    today = datetime.datetime.now(ZoneInfo(cursor.fetchone()[0])).date()
    members = (
        "FROM customers_customer WHERE tenant_id = %(tenant)s AND marketing_consent "
        "AND NOT is_erased AND merged_into_id IS NULL"
    )
    past = " AND (birth_month, birth_day) < (%(month)s, %(day)s)"
    wanted = {"tenant": tenant_id, "month": today.month, "day": today.day}
    started = time.perf_counter()
    for year, where in ((today.year - 1, members), (today.year, members + past)):
        params = {**wanted, "year": year}
        cursor.execute(f"SELECT count(*) {where}", params)  # noqa: S608
        expected = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM campaigns_birthdaygreeting WHERE tenant_id = %(tenant)s "
            "AND year = %(year)s",
            params,
        )
        if cursor.fetchone()[0] == expected:
            continue
        cursor.execute(
            "DELETE FROM campaigns_birthdaygreeting WHERE tenant_id = %(tenant)s "
            "AND year = %(year)s",
            params,
        )
        cursor.execute(
            "INSERT INTO campaigns_birthdaygreeting (tenant_id, member_id, year, created_at) "
            f"SELECT tenant_id, id, %(year)s, now() {where}",  # noqa: S608
            params,
        )
        log(f"{slug}: {expected} birthday claims of {year}")
    cursor.execute("ANALYZE campaigns_birthdaygreeting")
    log(f"{slug}: birthday claims ready in {time.perf_counter() - started:.1f}s")


def log(message: str) -> None:
    print(f"[campaigns bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _ms(func) -> tuple[float, object]:
    started = time.perf_counter()
    result = func()
    return (time.perf_counter() - started) * 1000, result


@contextmanager
def celery_eager():
    """Run queued tasks in this process (benchmarks/run sets REDIS_URL, so not by default)."""
    from crm_site.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    try:
        yield app
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@contextmanager
def tasks_counted():
    """Count the tasks run by name (task_prerun fires for eager tasks too)."""
    from celery.signals import task_prerun

    counts: dict[str, int] = {}

    def count(sender=None, **kwargs):
        counts[sender.name] = counts.get(sender.name, 0) + 1

    task_prerun.connect(count, weak=False)
    try:
        yield counts
    finally:
        task_prerun.disconnect(count)


def bench_rules(tenant):
    """The bench tenant's rules: greet from midnight, no quiet hours, SMS with a coupon."""
    from django.db import transaction
    from django.utils import timezone

    from campaigns.models import Channel, CouponOffer, DiscountKind
    from campaigns.services import campaign_settings
    from tenancy.context import tenant_context

    now = timezone.now()
    with tenant_context(tenant), transaction.atomic():
        offer = CouponOffer.objects.filter(name=OFFER_NAME).first() or CouponOffer(
            name=OFFER_NAME, kind=DiscountKind.FIXED, value=Decimal("20.00")
        )
        offer.min_spend = Decimal("100.00")
        offer.valid_from = now - datetime.timedelta(days=1)
        offer.valid_until = now + datetime.timedelta(days=365)
        offer.valid_days = 30
        offer.is_active = True
        offer.save()
        rules = campaign_settings()
        rules.birthday_enabled = True
        rules.birthday_send_time = MIDNIGHT
        rules.quiet_start = rules.quiet_end = MIDNIGHT  # equal: no quiet hours
        rules.birthday_channel = Channel.SMS
        rules.birthday_offer = offer
        rules.birthday_points = 0
        rules.save()
        return rules, offer


def birthday_reset(tenant, offer, today: datetime.date) -> None:
    """A clean day: today's members have no claim, and no birthday message or coupon exists
    (the generated history has claims only; messages and coupons come from these runs)."""
    from django.db import connection, transaction

    from campaigns.services import birthday_days
    from tenancy.context import tenant_context

    year = today.year

    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM campaigns_delivery WHERE tenant_id = %s AND kind = 'birthday' "
            "AND key LIKE %s",
            [tenant.pk, f"birthday:{year}:%"],
        )
        cursor.execute(
            "DELETE FROM campaigns_coupon WHERE tenant_id = %s AND offer_id = %s",
            [tenant.pk, offer.pk],
        )
        # Only today's members: the claims of the days before stay, as in production.
        days = birthday_days(today)
        cursor.execute(
            "DELETE FROM campaigns_birthdaygreeting g USING customers_customer c "
            "WHERE g.tenant_id = %s AND g.year = %s AND c.id = g.member_id AND ("
            + " OR ".join(["(c.birth_month = %s AND c.birth_day = %s)"] * len(days))
            + ")",
            [tenant.pk, today.year, *[v for day in days for v in day]],
        )
        cursor.execute(
            "UPDATE campaigns_couponoffer SET issued_count = 0 WHERE id = %s", [offer.pk]
        )


def birthday_outcome(tenant, today: datetime.date) -> tuple[int, int, int]:
    """(claims, messages sent, coupons) for today's members: the check that work was done."""
    from django.db.models import Q

    from campaigns.models import BirthdayGreeting, Coupon, Delivery
    from campaigns.services import birthday_days
    from tenancy.context import tenant_context

    match = Q()
    for month, day in birthday_days(today):
        match |= Q(member__birth_month=month, member__birth_day=day)
    with tenant_context(tenant):
        return (
            BirthdayGreeting.objects.filter(match, year=today.year).count(),
            Delivery.objects.filter(
                kind="birthday", key__startswith=f"birthday:{today.year}:", status="sent"
            ).count(),
            Coupon.objects.filter(offer__name=OFFER_NAME).count(),
        )


def yearly_batches(tenant) -> int:
    """birthday_batch tasks a whole year queues: ceil(members due / 1000) summed over days."""
    from django.db import connection

    from campaigns.services import BATCH
    from tenancy.context import tenant_context

    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(ceil(n / %s::numeric)), 0) FROM (SELECT count(*) AS n "
            "FROM customers_customer WHERE tenant_id = %s AND marketing_consent "
            "AND NOT is_erased AND merged_into_id IS NULL AND birth_month IS NOT NULL "
            "GROUP BY birth_month, birth_day) AS d",
            [BATCH, tenant.pk],
        )
        return int(cursor.fetchone()[0])


def birthday_plan(tenant, today: datetime.date) -> tuple[str, str, int]:
    """The SQL `birthday_due_ids` sends (captured, not rebuilt), its plan and its row count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from campaigns import services
    from tenancy.context import tenant_context, without_tenant_settings

    with tenant_context(tenant):
        with CaptureQueriesContext(connection) as queries:
            due = services.birthday_due_ids(today=today)
        sql = next(
            without_tenant_settings(q["sql"])
            for q in queries.captured_queries
            if "customers_customer" in q["sql"]
        )
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
    return sql, plan, len(due)


def uses_birthday_index(plan: str) -> bool:
    return "customer_birthday_idx" in plan and "Seq Scan on customers_customer" not in plan


def birthday_sql_floor(tenant, offer, rules, today: datetime.date) -> None:
    """The database floor: the same claims, coupons and sent outbox rows in one statement."""
    from django.db import connection, transaction

    from campaigns.models import Coupon, Delivery
    from campaigns.services import birthday_days
    from tenancy.context import tenant_context

    days = birthday_days(today)
    match = " OR ".join(["(c.birth_month = %s AND c.birth_day = %s)"] * len(days))
    coupon_cols = ["tenant_id", "offer_id", "member_id", "code", "status", "valid_until",
                   "issued_at"]  # fmt: skip
    delivery_cols = ["tenant_id", "key", "kind", "member_id", "channel", "address", "text",
                     "coupon_id", "is_marketing", "status", "attempts", "next_attempt_at",
                     "created_at", "sent_at"]  # fmt: skip
    from benchmarks.generate import extra_defaults

    c_names, c_values, c_params = extra_defaults(Coupon, coupon_cols)
    d_names, d_values, d_params = extra_defaults(Delivery, delivery_cols)
    template = rules.birthday_template_sent()
    sql = f"""
        WITH due AS (
            SELECT c.id FROM customers_customer c
            WHERE c.tenant_id = %s AND ({match}) AND NOT c.is_erased
              AND c.merged_into_id IS NULL AND c.marketing_consent
              AND NOT EXISTS (SELECT 1 FROM campaigns_birthdaygreeting g
                              WHERE g.tenant_id = c.tenant_id AND g.member_id = c.id
                                AND g.year = %s)
        ), claimed AS (
            INSERT INTO campaigns_birthdaygreeting (tenant_id, member_id, year, created_at)
            SELECT %s, id, %s, now() FROM due
            ON CONFLICT (tenant_id, member_id, year) DO NOTHING RETURNING member_id
        ), coupons AS (
            INSERT INTO campaigns_coupon ({", ".join(coupon_cols)}{c_names})
            SELECT %s, %s, member_id, upper(substr(md5(random()::text || member_id), 1, 10)),
                   'available', now() + interval '30 days', now(){c_values}
            FROM claimed RETURNING id, member_id, code
        )
        -- Phone and name are sealed (tenancy.fields): SQL copies the ciphertext, so this floor
        -- leaves out the decrypting and re-sealing the services do (a few us per value).
        INSERT INTO campaigns_delivery ({", ".join(delivery_cols)}{d_names})
        SELECT %s, 'birthday:' || %s || ':' || m.id, 'birthday', m.id, 'sms', m.phone,
               replace(replace(replace(%s, '{{name}}', m.name), '{{store}}', s.name),
                       '{{coupon_code}}', k.code),
               k.id, false, 'sent', 1, now(), now(), now(){d_values}
        FROM coupons k JOIN customers_customer m ON m.id = k.member_id
        JOIN stores_store s ON s.id = m.home_store_id
    """  # noqa: S608 - only column names are formatted in
    params = [tenant.pk, *[v for day in days for v in day], today.year]
    params += [tenant.pk, today.year, tenant.pk, offer.pk, *c_params]
    params += [tenant.pk, today.year, template, *d_params]
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute(
            "UPDATE campaigns_couponoffer SET issued_count = issued_count + %s WHERE id = %s",
            [cursor.rowcount, offer.pk],
        )


def birthday(tenant, quick: bool) -> tuple[list, list[tuple[str, str]]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from benchmarks.harness import Figure, time_each_ms
    from campaigns import services
    from customers.models import Customer
    from tenancy.context import tenant_context

    rules, offer = bench_rules(tenant)
    today = timezone.localtime(timezone.now(), tenant.zone).date()
    with tenant_context(tenant):
        members = Customer.objects.count()
    birthday_reset(tenant, offer, today)

    # (a) Finding today's birthdays: the service's own SQL, its plan, and a raw floor.
    sql, plan, due = birthday_plan(tenant, today)
    explains = [("birthday_due_ids (today's birthdays)", plan)]
    if not uses_birthday_index(plan):
        raise SystemExit(f"birthday_due_ids does not use customer_birthday_idx:\n{sql}\n{plan}")
    days = [today + datetime.timedelta(days=n) for n in range(1, 31 if quick else 61)]

    def find(day):
        with tenant_context(tenant):
            services.birthday_due_ids(today=day)

    def raw(day):
        with tenant_context(tenant), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM customers_customer WHERE tenant_id = %s AND birth_month = %s "
                "AND birth_day = %s AND NOT is_erased AND merged_into_id IS NULL "
                "AND marketing_consent ORDER BY id",
                [tenant.pk, day.month, day.day],
            )
            cursor.fetchall()

    figures = [
        Figure("find today's birthdays (birthday_due_ids)", time_each_ms(find, days, warmup=2),
               "SQL index read of (month, day)", time_each_ms(raw, days, warmup=2),
               note=f"plan uses customer_birthday_idx: yes; {due} due today of {members} "
                    "members; one day each, next days")
    ]  # fmt: skip

    # (b) The real path through Celery (eager), (c) the same services inline, and the
    # set-based SQL floor; each repetition from a clean day.
    from crm_site.celery import app

    fan_out_task = app.tasks["campaigns.birthday_fan_out"]

    def through_celery():
        with celery_eager():
            return fan_out_task.delay(tenant.pk).get()

    def inline():
        with tenant_context(tenant):
            day, batches = services.birthday_batches()
            return sum(services.birthday_send_batch(member_ids=b, today=day) for b in batches)

    def sql_floor():
        birthday_sql_floor(tenant, offer, rules, today)

    samples: dict[str, list[float]] = {"celery": [], "inline": [], "sql": []}
    outcomes: dict[str, tuple[int, int, int]] = {}
    repeat = 3
    counts: dict[str, int] = {}
    queries = 0
    for attempt in range(repeat + 1):  # the first round warms the caches, not timed
        for name, run in (("celery", through_celery), ("inline", inline), ("sql", sql_floor)):
            birthday_reset(tenant, offer, today)
            if name == "celery" and attempt == 0:
                with tasks_counted() as counts, CaptureQueriesContext(connection) as captured:
                    run()
                queries = len(captured.captured_queries)
            else:
                elapsed, _result = _ms(run)
                if attempt:
                    samples[name].append(elapsed)
            outcomes[name] = birthday_outcome(tenant, today)
    birthday_reset(tenant, offer, today)
    log(f"birthday outcomes (claims, sent, coupons): {outcomes}")
    for name, (claims, sent, coupons) in outcomes.items():
        if not claims == sent == coupons == due:
            raise SystemExit(f"birthday {name}: {claims} claims, {sent} sent, {coupons} coupons "
                             f"for {due} members due")  # fmt: skip
    batches = counts.get("campaigns.birthday_batch", 0)
    expected = math.ceil(due / services.BATCH)
    if batches != expected:
        raise SystemExit(f"birthday fan-out queued {batches} batch tasks, expected {expected}")
    figures.append(
        Figure("birthday fan-out, Celery eager (task)", samples["celery"],
               "same services inline, no Celery", samples["inline"], queries=queries,
               note=f"{due} greeted: claim, coupon, outbox row, OutboxSender send each; "
                    f"{batches} birthday_batch tasks (ceil({due}/1000)); "
                    f"members/1000 = {members / 1000:g}")
    )  # fmt: skip
    figures.append(
        Figure("birthday greetings, services inline", samples["inline"],
               "set-based SQL: same rows, sent", samples["sql"],
               note="floor = one INSERT ... SELECT of claims, coupons and sent outbox rows; "
                    "the services claim, then send and mark each message one by one")
    )  # fmt: skip
    yearly = yearly_batches(tenant)
    figures.append(
        Figure("birthday tasks queued today", [batches], "ceil(due today / 1000)", [expected],
               unit="tasks",
               note=f"{due} due today of {members} members (70% consent); a whole year: "
                    f"{yearly} tasks (one per day at least) vs members/1000 = {members / 1000:g}")
    )  # fmt: skip
    return figures, explains


def campaign_run(tenant, quick: bool, whole_chain: bool = False) -> list:
    """A campaign to one region's members (about a tenth of the chain) vs INSERT ... SELECT;
    with `whole_chain`, to every store's members (issue 20's audience of 700,000 at 1M)."""
    from django.db import connection, transaction

    from benchmarks.generate import extra_defaults
    from benchmarks.harness import Figure
    from campaigns import services
    from campaigns.models import Audience, Campaign, Channel, Delivery, Schedule
    from stores.models import Store
    from tenancy.context import tenant_context
    from tenancy.models import StaffMember

    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.region_id, count(*) FROM customers_customer c JOIN stores_store s "
            "ON s.id = c.home_store_id WHERE c.tenant_id = %s GROUP BY s.region_id",
            [tenant.pk],
        )
        sizes = cursor.fetchall()
        total = sum(n for _r, n in sizes)
        region_id, region_members = min(sizes, key=lambda row: abs(row[1] - total / 10))
        stores = Store.objects.all() if whole_chain else Store.objects.filter(region_id=region_id)
        store_ids = list(stores.values_list("pk", flat=True))
        if whole_chain:
            region_members = total
        admin = StaffMember.objects.get(role="hq_admin")
        # A run marks a "send now" campaign sent; start each benchmark from a new draft.
        Campaign.objects.filter(name=CAMPAIGN_NAME).delete()
        campaign = Campaign(name=CAMPAIGN_NAME)
        campaign.channel = Channel.SMS
        campaign.template = "{name}您好，{store}会员日全场8折，积分{points}。回T退订"
        campaign.audience = Audience.FILTER
        campaign.criteria = {}
        campaign.schedule = Schedule.NOW
        campaign.holdout_percent = 10
        with transaction.atomic():
            services.campaign_save(campaign=campaign, store_ids=store_ids, staff=admin)
    template = campaign.template
    d_cols = ["tenant_id", "key", "kind", "campaign_id", "member_id", "channel", "address",
              "text", "is_marketing", "status", "attempts", "next_attempt_at",
              "created_at"]  # fmt: skip
    d_names, d_values, d_params = extra_defaults(Delivery, d_cols)

    def clean():
        with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM campaigns_delivery WHERE tenant_id = %s AND (campaign_id = %s "
                "OR key LIKE %s)",
                [tenant.pk, campaign.pk, f"{FLOOR_KEY}:%"],
            )
            cursor.execute(
                "DELETE FROM campaigns_campaignrun WHERE tenant_id = %s AND campaign_id = %s",
                [tenant.pk, campaign.pk],
            )

    def run_service(n):
        with tenant_context(tenant):
            return services.campaign_run(campaign=campaign, occurrence=f"bench-{n}", staff=admin)

    def run_floor(n):
        # As the birthday floor: the sealed phone and name are copied, not opened and resealed.
        sql = f"""
            INSERT INTO campaigns_delivery ({", ".join(d_cols)}{d_names})
            SELECT c.tenant_id, %s || c.id, 'campaign', %s, c.id, 'sms', c.phone,
                   replace(replace(replace(replace(%s, '{{name}}', c.name), '{{store}}', s.name),
                           '{{points}}', coalesce(a.balance, 0)::text), '{{tier}}', c.tier_name),
                   true, 'queued', 0, now(), now(){d_values}
            FROM customers_customer c JOIN stores_store s ON s.id = c.home_store_id
            LEFT JOIN loyalty_pointsaccount a ON a.customer_id = c.id
            WHERE c.tenant_id = %s AND c.home_store_id = ANY(%s) AND NOT c.is_erased
              AND c.marketing_consent AND c.merged_into_id IS NULL AND c.phone <> ''
        """  # noqa: S608 - only column names are formatted in
        with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                sql,
                [f"{FLOOR_KEY}:{n}:", campaign.pk, template, *d_params, tenant.pk, store_ids],
            )
            return cursor.rowcount

    scope = "whole chain" if whole_chain else "one region"
    log(f"campaign run over {scope} ({region_members} members)")
    service, floor = [], []
    run = rows = None
    for n in range(3 if quick else 2):
        clean()
        elapsed, run = _ms(lambda n=n: run_service(n))
        service.append(elapsed)
        clean()
        elapsed, rows = _ms(lambda n=n: run_floor(n))
        floor.append(elapsed)
    clean()
    return [
        Figure(f"campaign run, {scope} (service)", service,
               "INSERT ... SELECT of the same rows", floor,
               note=f"{run.matched} matched, {run.targeted} queued, {run.holdout} holdout, "
                    f"{run.excluded} excluded; floor wrote {rows} rows (no coupons)")
    ]  # fmt: skip


def measure(tenant, quick: bool) -> tuple[list, list[tuple[str, str]]]:
    log("birthday fan-out")
    figures, explains = birthday(tenant, quick)
    figures += campaign_run(tenant, quick)
    return figures, explains


def main(argv=None) -> None:
    import argparse

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    django.setup()
    from benchmarks.harness import render
    from tenancy.models import Tenant

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--run-only",
        choices=["region", "chain"],
        help="only the campaign run, to one region or to the whole chain (no birthdays)",
    )
    args, _unknown = parser.parse_known_args(argv)
    tenant = Tenant.objects.get(slug="bench")
    if args.run_only:
        figures, explains = campaign_run(tenant, args.quick, args.run_only == "chain"), []
    else:
        figures, explains = measure(tenant, args.quick)
    print(render(figures))
    for title, plan in explains:
        print(f"\nEXPLAIN {title}:\n{plan}")


if __name__ == "__main__":
    main(sys.argv[1:])
