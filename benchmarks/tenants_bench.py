"""1,000 tenants on one database (issue 17): the large tenant's pages and the nightly fan-out.

The report's `tenants` step, on whatever chain benchmarks.generate left (the `bench` tenant is
the large one):

1. the large tenant's counter lookups and store dashboard, each beside its SQL floor, and the
   nightly jobs' fan-out over the tenants there are (beat -> `tenancy.fan_out` -> one task per
   active tenant), run in this process as one worker would run them;
2. 1,000 small tenants are added (2 stores, an HQ admin, 100 members with points, 20
   products and 120 sales over the last 60 days each, one store due for its re-review);
3. the same figures again: a lookup or dashboard that grew with the tenant count would show
   here, and each job's fan-out over all tenants is printed beside its fan-out before (its
   floor) and against its window (how often beat queues it);
4. the small tenants are deleted, so the database is again as generated (`--keep` keeps
   them), and the lookups and dashboard are measured a third time: on a shared machine the
   load drifts more than 1,000 tenants change anything, and the third phase shows by how much.

Each fan-out runs inside a transaction that is rolled back, so every run finds the same work.

    BENCH_DATABASE_URL=postgres://crm_owner@127.0.0.1:5432/crm_bench_scale \
        benchmarks/run --only tenants [--quick]
    DATABASE_URL=... python -m benchmarks.tenants_bench [--tenants 1000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import random
import statistics
import sys
import time
from decimal import Decimal

SLUG_PREFIX = "bench-t"
STORES_EACH = 2
MEMBERS_EACH = 100
PRODUCTS_EACH = 20
SALES_EACH = 120
SALE_DAYS = 60

# The jobs beat runs for every tenant through `tenancy.fan_out` (crm_site/settings.py), each
# with the time one fan-out may take: the interval to its next run, or for the once-a-night
# tier review the night until 08:00 in Beijing, before the stores open.
JOBS = [
    ("analytics.nightly_aggregates", "yesterday's aggregates + RFM", 60, "hourly"),
    ("loyalty.expire_points", "points expiry", 60, "hourly"),
    ("loyalty.release_pending", "pending points release", 60, "hourly"),
    ("loyalty.evaluate_tiers", "tier re-evaluation", 400, "01:20-08:00 Beijing"),
    ("campaigns.birthday_fan_out", "birthday greetings", 15, "every 15 min"),
    ("stores.reviews_mark_due", "store re-review reminders", 360, "every 6 h"),
]
# Beat also fans out every minute; with 1,000 tenants that is 1,000 tasks a minute per job,
# each mostly finding nothing to do, so their per-tenant overhead is what counts.
EVERY_MINUTE = [
    ("campaigns.run_due", "due campaigns", 1, "every minute"),
    ("campaigns.dispatch", "outbox dispatch", 1, "every minute"),
    ("customers.sweep_import_jobs", "member import sweeper", 1, "every minute"),
    ("analytics.sweep_sale_imports", "sale import sweeper", 1, "every minute"),
]
# The night the jobs above share: midnight to 08:00 in Beijing.
NIGHT_MINUTES = 8 * 60


def log(message: str) -> None:
    print(f"[tenants bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the small tenants, set-based as the loader role ------------------------------------------
def small_tenant_ids(cursor) -> list[int]:
    cursor.execute(
        "SELECT id FROM tenancy_tenant WHERE slug LIKE %s ORDER BY id", [SLUG_PREFIX + "%"]
    )
    return [row[0] for row in cursor.fetchall()]


def small_tenants_delete(cursor) -> int:
    """Every row of the small tenants (as the loader role, a superuser).

    Foreign-key triggers are off for it (`session_replication_role = replica`, as a restore
    with --disable-triggers does): every row of these tenants goes and no other tenant's row
    points at them, while checking each deleted row against its referencing tables took most
    of the time (23 s for 100 small tenants beside 20,000 members).
    """
    from benchmarks.generate import dependent_models
    from tenancy.models import StaffMember

    ids = small_tenant_ids(cursor)
    if not ids:
        return 0
    cursor.execute("SET LOCAL session_replication_role = replica")
    cursor.execute("SELECT user_id FROM tenancy_staffmember WHERE tenant_id = ANY(%s)", [ids])
    user_ids = [row[0] for row in cursor.fetchall()]
    for model in [*reversed(dependent_models()), StaffMember]:
        cursor.execute(
            f'DELETE FROM "{model._meta.db_table}" WHERE tenant_id = ANY(%s)',  # noqa: S608
            [ids],
        )
    cursor.execute("DELETE FROM auth_user WHERE id = ANY(%s)", [user_ids])
    cursor.execute("DELETE FROM tenancy_tenant WHERE id = ANY(%s)", [ids])
    return len(ids)


def small_tenants_create(cursor, count: int) -> list[int]:
    """`count` small chains; returns their tenant ids."""
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from analytics.models import Product, Sale, SaleLine
    from benchmarks.copy import copy_rows, reset_sequence
    from benchmarks.generate import (
        BENCH_PASSWORD,
        MEMBER_COLUMNS,
        copy_model,
        fill_columns,
        member_rows,
    )
    from campaigns.models import CampaignSettings
    from customers.models import Customer
    from stores.models import Region, Store, StoreAssignment, StoreType
    from tenancy.models import StaffMember, Tenant

    rng = random.Random(f"tenants-{count}")
    now = timezone.now()
    today = now.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    slugs = [f"{SLUG_PREFIX}{n:04d}" for n in range(1, count + 1)]
    copy_model(cursor, Tenant, [
        {"name": f"压测小连锁{n}", "slug": slug, "time_zone": "Asia/Shanghai", "currency": "CNY"}
        for n, slug in enumerate(slugs, start=1)
    ])  # fmt: skip
    ids = small_tenant_ids(cursor)
    copy_model(cursor, Region, [
        {"tenant_id": t, "code": "BJ", "name": "北京", "is_active": True} for t in ids
    ])  # fmt: skip
    copy_model(cursor, StoreType, [
        {"tenant_id": t, "code": "ZY", "name": "直营", "is_active": True, "ownership": "direct"}
        for t in ids
    ])  # fmt: skip
    cursor.execute("SELECT tenant_id, id FROM stores_region WHERE tenant_id = ANY(%s)", [ids])
    region = dict(cursor.fetchall())
    cursor.execute("SELECT tenant_id, id FROM stores_storetype WHERE tenant_id = ANY(%s)", [ids])
    store_type = dict(cursor.fetchall())
    copy_model(cursor, Store, [
        {"tenant_id": t, "code": f"BJ-ZY-{n:03d}", "name": f"北京{n}号店",
         "region_id": region[t], "store_type_id": store_type[t], "status": "open",
         "opened_on": dt.date(2022, 1, 1),
         # The first store of each chain is due for its periodic re-review today.
         "next_review_on": today if n == 1 else today + dt.timedelta(days=90)}
        for t in ids for n in range(1, STORES_EACH + 1)
    ])  # fmt: skip
    cursor.execute(
        "SELECT tenant_id, array_agg(id ORDER BY id) FROM stores_store "
        "WHERE tenant_id = ANY(%s) GROUP BY tenant_id",
        [ids],
    )
    stores = dict(cursor.fetchall())
    # One password hash for all: hashing it 1,000 times would be most of the setup.
    password = make_password(BENCH_PASSWORD)
    usernames = {t: f"{slug}-admin" for t, slug in zip(ids, slugs, strict=True)}
    copy_rows(
        cursor,
        "auth_user",
        ["password", "is_superuser", "username", "first_name", "last_name", "email",
         "is_staff", "is_active", "date_joined"],
        ([password, False, name, "", "", "", False, True, now.isoformat()]
         for name in usernames.values()),
    )  # fmt: skip
    reset_sequence(cursor, "auth_user")
    cursor.execute(
        "SELECT username, id FROM auth_user WHERE username = ANY(%s)", [list(usernames.values())]
    )
    user_ids = dict(cursor.fetchall())
    copy_model(cursor, StaffMember, [
        {"tenant_id": t, "user_id": user_ids[usernames[t]], "role": "hq_admin",
         "display_name": "压测管理员", "phone": "", "is_active": True}
        for t in ids
    ])  # fmt: skip
    cursor.execute("SELECT tenant_id, id FROM tenancy_staffmember WHERE tenant_id = ANY(%s)", [ids])
    admin = dict(cursor.fetchall())
    copy_model(cursor, StoreAssignment, [
        {"tenant_id": t, "staff_id": admin[t], "store_id": s} for t in ids for s in stores[t]
    ])  # fmt: skip

    extra_columns, extra_values = fill_columns(Customer, dict.fromkeys(MEMBER_COLUMNS))
    copy_rows(
        cursor,
        Customer._meta.db_table,
        MEMBER_COLUMNS + extra_columns,
        (
            list(row) + extra_values
            for t in ids
            for row in member_rows(t, MEMBERS_EACH, stores[t], [1.0] * STORES_EACH, rng, 3)
        ),
    )
    reset_sequence(cursor, Customer._meta.db_table)
    cursor.execute(
        "SELECT tenant_id, array_agg(id ORDER BY id) FROM customers_customer "
        "WHERE tenant_id = ANY(%s) GROUP BY tenant_id",
        [ids],
    )
    members = dict(cursor.fetchall())

    copy_model(cursor, Product, [
        {"tenant_id": t, "sku": f"SKU{n:05d}", "name": f"商品{n}", "category": "服装",
         "created_at": now.isoformat()}
        for t in ids for n in range(PRODUCTS_EACH)
    ])  # fmt: skip
    cursor.execute(
        "SELECT tenant_id, array_agg(id ORDER BY id) FROM analytics_product "
        "WHERE tenant_id = ANY(%s) GROUP BY tenant_id",
        [ids],
    )
    products = dict(cursor.fetchall())
    cursor.execute("SELECT COALESCE(max(id), 0) FROM analytics_sale")
    sale_id = cursor.fetchone()[0]
    sale_rows, line_rows = [], []
    for t in ids:
        for _ in range(SALES_EACH):
            sale_id += 1
            day = today - dt.timedelta(days=rng.randint(1, SALE_DAYS))
            # Opening hours in Beijing (UTC+8), 09:00 to 22:00.
            seconds = rng.randint(0, 13 * 3600)
            occurred = dt.datetime.combine(day, dt.time(1), tzinfo=dt.UTC) + dt.timedelta(
                seconds=seconds
            )
            lines = [
                (rng.choice(products[t]), rng.randint(1, 3), Decimal(rng.randint(200, 19999)) / 100)
                for _ in range(rng.randint(1, 2))
            ]
            total = sum(q * p for _p, q, p in lines)
            sale_rows.append({
                "id": sale_id, "tenant_id": t, "store_id": rng.choice(stores[t]),
                "member_id": rng.choice(members[t]) if rng.random() < 0.55 else None,
                "staff_id": admin[t], "occurred_at": occurred.isoformat(), "channel": "pos",
                "external_id": f"T{sale_id}", "subtotal": total, "total": total,
                "item_count": sum(q for _p, q, _price in lines), "created_at": now.isoformat(),
            })  # fmt: skip
            line_rows += [
                {"tenant_id": t, "sale_id": sale_id, "line_no": n, "product_id": product,
                 "quantity": quantity, "unit_price": price, "discount": Decimal("0.00"),
                 "line_total": quantity * price}
                for n, (product, quantity, price) in enumerate(lines, start=1)
            ]  # fmt: skip
    copy_model(cursor, Sale, sale_rows)
    copy_model(cursor, SaleLine, line_rows)
    # Birthday greetings from midnight, no quiet hours (as the large tenant's, set by
    # benchmarks/campaigns_bench.py): whenever the benchmark runs, today's birthdays are due.
    copy_model(cursor, CampaignSettings, [
        {"tenant_id": t, "birthday_send_time": "00:00", "quiet_start": "00:00",
         "quiet_end": "00:00"}
        for t in ids
    ])  # fmt: skip
    _loyalty(cursor, ids)
    for table in ("customers_customer", "analytics_sale", "analytics_saleline",
                  "loyalty_pointsaccount", "loyalty_pointslot", "stores_store"):  # fmt: skip
        cursor.execute(f"ANALYZE {table}")
    return ids


def _loyalty(cursor, ids: list[int]) -> None:
    """Tiers, the points rule, and an account, earn entry and lot per member, as
    benchmarks/loyalty_jobs.py gives the large tenant (one lot in twelve due to expire,
    one account in twelve due for its tier review), for all small tenants at once."""
    from benchmarks.loyalty_jobs import TIERS

    for order, code, name, spend in TIERS:
        cursor.execute(
            'INSERT INTO loyalty_tier (tenant_id, "order", code, name, min_spend, '
            "min_purchases, min_referrals, window_months, multiplier, benefits, review_months, "
            "max_downgrade_steps, retention_months, upgrade_points) "
            "SELECT t, %s, %s, %s, %s, 0, 0, 12, 1, '', 12, 1, 0, 0 FROM unnest(%s::bigint[]) t",
            [order, code, name, spend, ids],
        )
    cursor.execute(
        "INSERT INTO loyalty_pointsrule (tenant_id, points_per_yuan, excluded_categories, "
        "expiry_months, redeem_points_per_yuan, redeem_minimum, expiry_notice_days, "
        "adjust_limit_store_manager, adjust_limit_hq, adjust_budget_store_manager, "
        "adjust_budget_hq, referral_points, behaviour_points, pending_days, "
        "issuance_cap_mode, tier_purchase, tier_purchase_period_months, updated_at) "
        "SELECT t, 1, '[]'::jsonb, 12, 100, 100, 30, 500, 50000, 2000, 500000, 0, 0, 7, "
        "'refuse', false, 12, now() FROM unnest(%s::bigint[]) t",
        [ids],
    )
    cursor.execute(
        "INSERT INTO loyalty_pointsaccount (tenant_id, customer_id, balance, debt, tier_id, "
        "tier_changed_at, tier_review_at, created_at) "
        "SELECT c.tenant_id, c.id, 100 + c.id %% 400, 0, tier.id, now() - interval '11 months', "
        "CASE WHEN (c.id / 4) %% 12 = 0 THEN now() - interval '1 hour' "
        "ELSE now() + (1 + c.id %% 300) * interval '1 day' END, now() "
        "FROM customers_customer c JOIN loyalty_tier tier "
        'ON tier.tenant_id = c.tenant_id AND tier."order" = c.id %% 4 '
        "WHERE c.tenant_id = ANY(%s)",
        [ids],
    )
    cursor.execute(
        "INSERT INTO loyalty_pointsentry (tenant_id, account_id, kind, points, balance_after, "
        "source_key, amount, unreversed_points, reason, occurred_at, created_at) "
        "SELECT tenant_id, id, 'earn', balance, balance, 'bench-sale:' || id, balance, 0, '', "
        "now() - (id %% 330) * interval '1 day', now() "
        "FROM loyalty_pointsaccount WHERE tenant_id = ANY(%s)",
        [ids],
    )
    # One lot in twelve past its expiry, one in forty-eight pending past its return window.
    cursor.execute(
        "INSERT INTO loyalty_pointslot (tenant_id, account_id, entry_id, points, remaining, "
        "earned_at, expires_at, expires_on, pending_until) "
        "SELECT tenant_id, account_id, id, points, points, occurred_at, x.at, "
        "((x.at AT TIME ZONE 'Asia/Shanghai') - interval '1 day')::date, "
        "CASE WHEN account_id %% 48 = 1 THEN now() - interval '1 hour' END "
        "FROM loyalty_pointsentry, LATERAL (SELECT CASE WHEN account_id %% 12 = 0 "
        "THEN now() - interval '1 hour' "
        "ELSE now() + (1 + account_id %% 300) * interval '1 day' END AS at) x "
        "WHERE tenant_id = ANY(%s)",
        [ids],
    )


# -- measuring ---------------------------------------------------------------------------------
def _buffers(bench, sql: str, params_list: list) -> int:
    """Median buffers (8 kB pages, cached or read) the floor's plan touches: unlike a time,
    the load on the machine does not move it, and more tenants would show as more pages."""
    import json

    from django.db import connection, transaction

    touched = []
    with transaction.atomic(), connection.cursor() as cursor:
        # EXPLAIN is not a row statement, so the tenant does not travel with it: set it for
        # this transaction, or row-level security hides every row.
        cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(bench.tenant.pk)])
        for params in params_list[:9]:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
            touched.append(top["Shared Hit Blocks"] + top["Shared Read Blocks"])
    return int(statistics.median(touched))


def _phase_pages(bench, label: str, keys: dict, stores: list[int]) -> tuple[list, list[int]]:
    """Lookups (phone, card, last 4) and the 12-month store dashboard of the large tenant,
    with the buffers each floor touches."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from analytics.services import local_day
    from benchmarks.harness import Figure, time_each_ms
    from benchmarks.report import FETCH
    from tenancy.encryption import phone_index

    figures, buffers = [], []
    client = bench.client(bench.clerk)
    url = reverse("customers:lookup")
    floors = {
        # phones are sealed: the lookup goes through the blind index, so does the floor
        "phone": "SELECT id, name, phone, tier_name, home_store_id FROM customers_customer "
        "WHERE tenant_id = %s AND phone_hash = %s AND NOT is_erased",
        "card": "SELECT id, name, phone, tier_name, home_store_id FROM customers_customer "
        "WHERE tenant_id = %s AND card_number = %s AND NOT is_erased",
        "last4": "SELECT id, name, phone, tier_name, home_store_id FROM customers_customer "
        "WHERE tenant_id = %s AND phone_last4 = %s AND NOT is_erased ORDER BY id LIMIT 20",
    }
    for kind, values in keys.items():
        samples = time_each_ms(lambda q: client.get(url, {"q": q}, **FETCH), values)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, {"q": values[0]}, **FETCH).status_code == 200
        floor_keys = [phone_index(v) for v in values] if kind == "phone" else values
        floor_params = [[bench.tenant.pk, v] for v in floor_keys]
        floor = bench.sql_ms(floors[kind], floor_params)
        buffers.append(_buffers(bench, floors[kind], floor_params))
        figures.append(
            Figure(f"lookup request: {kind}, {label}", samples, "SQL index lookup",
                   floor, queries=len(queries.captured_queries))
        )  # fmt: skip
    admin = bench.client(bench.admin)
    today = local_day(timezone.now(), bench.tenant)
    year_ago = today - dt.timedelta(days=365)

    def dashboard(store_id):
        path = reverse("analytics:store_dashboard", kwargs={"store_id": store_id})
        return admin.get(path, {"preset": "12m"})

    samples = time_each_ms(dashboard, stores)
    with CaptureQueriesContext(connection) as queries:
        assert dashboard(stores[0]).status_code == 200
    floor_sql = (
        "SELECT day, revenue, transactions, items, member_revenue FROM "
        "analytics_storedailystats WHERE tenant_id = %s AND store_id = %s "
        "AND day >= %s AND day < %s ORDER BY day"
    )
    floor_params = [[bench.tenant.pk, store, year_ago, today] for store in stores]
    floor = bench.sql_ms(floor_sql, floor_params)
    buffers.append(_buffers(bench, floor_sql, floor_params))
    figures.append(
        Figure(f"store dashboard, 12 months, {label}", samples,
               "SQL read of its 365 aggregate rows", floor,
               queries=len(queries.captured_queries))
    )  # fmt: skip
    return figures, buffers


def jobs_register() -> None:
    """Import the jobs' task modules, as a worker does at start (autodiscovery)."""
    for task_name, *_rest in JOBS + EVERY_MINUTE:
        importlib.import_module(task_name.split(".")[0] + ".tasks")


def _phase_jobs() -> dict[str, tuple[float, int, dict]]:
    """Each job's fan-out over every active tenant, eager, rolled back: (ms, tenants, tasks)."""
    from django.db import transaction

    from benchmarks.campaigns_bench import celery_eager, tasks_counted
    from tenancy.tasks import fan_out

    results = {}
    jobs_register()
    for task_name, _label, _window, _when in JOBS + EVERY_MINUTE:
        with celery_eager(), tasks_counted() as counts, transaction.atomic():
            started = time.perf_counter()
            queued = fan_out.apply(args=[task_name]).get()
            elapsed = (time.perf_counter() - started) * 1000
            transaction.set_rollback(True)  # the same work is there for the next run
        counts.pop("tenancy.fan_out", None)
        results[task_name] = (elapsed, queued, dict(counts))
        log(f"{task_name}: {queued} tenants in {elapsed:.0f} ms ({counts})")
    return results


def _sample_keys(bench, count: int) -> tuple[list[dict], list[list[int]]]:
    """Three disjoint samples of members and stores, one per phase: a later phase must not
    find its rows already in the buffers an earlier one read."""
    from django.db import connection

    from analytics.models import StoreDailyStats
    from customers.models import Customer
    from tenancy.context import tenant_context

    phone_field = Customer._meta.get_field("phone")
    with tenant_context(bench.tenant), connection.cursor() as cursor:
        cursor.execute(
            "SELECT phone, card_number FROM customers_customer WHERE tenant_id = %s "
            "AND phone IS NOT NULL ORDER BY random() LIMIT %s",
            [bench.tenant.pk, 3 * count],
        )
        # phones are stored sealed; the counter is given what a clerk types
        rows = [(phone_field.from_db_value(p, None, connection), c) for p, c in cursor.fetchall()]
        store_ids = list(StoreDailyStats.objects.values_list("store_id", flat=True).distinct())
    bench.rng.shuffle(store_ids)
    keys = []
    for part in (rows[:count], rows[count : 2 * count], rows[2 * count :]):
        keys.append({
            "phone": [phone for phone, _card in part],
            "card": [card for _phone, card in part],
            "last4": [phone[-4:] for phone, _card in part],
        })  # fmt: skip
    picks = min(len(store_ids) // 3, 100) or 1
    stores = [store_ids[n * picks : (n + 1) * picks] or store_ids for n in range(3)]
    return keys, stores


def measure(bench, count: int = 1000, keep: bool = False) -> list:
    """Before, with and (unless `keep`) after removing the small tenants: the third phase
    shows how much the machine itself drifted while the small tenants were there (on a
    shared box the load moves more than 1,000 tenants do)."""
    from django.db import connection
    from django.utils import timezone

    from benchmarks.campaigns_bench import bench_rules, birthday_reset
    from benchmarks.copy import loader_connection
    from benchmarks.harness import Figure
    from tenancy.models import Tenant

    def loader(func):
        conn = loader_connection(os.environ["DATABASE_URL"])
        try:
            with conn, conn.cursor() as cursor:
                return func(cursor)
        finally:
            conn.close()

    removed = loader(small_tenants_delete)
    if removed:
        log(f"removed {removed} small tenants left by an earlier run")
    keys, stores = _sample_keys(bench, min(bench.repeat, 200))
    # The large tenant greets today's birthdays from midnight; an earlier step (campaigns)
    # may have greeted them already, so their claims go: both fan-outs find the same work.
    _rules, offer = bench_rules(bench.tenant)
    birthday_reset(
        bench.tenant, offer, timezone.localtime(timezone.now(), bench.tenant.zone).date()
    )
    before_tenants = Tenant.objects.filter(is_active=True).count()
    log(f"phase 1: {before_tenants} tenants")
    before_pages, before_buffers = _phase_pages(
        bench, f"{before_tenants} tenants", keys[0], stores[0]
    )
    before_jobs = _phase_jobs()

    started = time.perf_counter()
    loader(lambda cursor: small_tenants_create(cursor, count))
    created_s = time.perf_counter() - started
    connection.close()  # a fresh connection: no plan cached from before the new rows
    after_tenants = Tenant.objects.filter(is_active=True).count()
    log(f"phase 2: {after_tenants} tenants ({count} small ones made in {created_s:.1f} s)")
    after_pages, after_buffers = _phase_pages(bench, f"{after_tenants} tenants", keys[1], stores[1])
    after_jobs = _phase_jobs()

    again_pages, again_buffers = [], []
    if not keep:
        started = time.perf_counter()
        loader(small_tenants_delete)
        log(f"small tenants removed in {time.perf_counter() - started:.1f} s")
        connection.close()
        again = f"{before_tenants} tenants again"
        again_pages, again_buffers = _phase_pages(bench, again, keys[2], stores[2])

    figures = []
    for n, (before, after) in enumerate(zip(before_pages, after_pages, strict=True)):
        phases = [before, after] + again_pages[n : n + 1]
        pages = [before_buffers[n], after_buffers[n]] + again_buffers[n : n + 1]
        without = statistics.mean(fig.median for fig in phases if fig is not after)
        phases[-1].note = (
            " -> ".join(f"{fig.median:.2f} ms (floor {fig.floor_median:.2f})" for fig in phases)
            + f": with the small tenants {(after.median / without - 1) * 100:+.0f}%; "
            + "buffers the floor touches "
            + " -> ".join(str(p) for p in pages)
        )
        figures += phases
    for task_name, label, window_minutes, when in JOBS + EVERY_MINUTE:
        before_ms, before_count, _tasks = before_jobs[task_name]
        after_ms, after_count, tasks = after_jobs[task_name]
        used = after_ms / (window_minutes * 60_000) * 100
        runs = ", ".join(f"{n} {name.split('.')[-1]}" for name, n in sorted(tasks.items()))
        figures.append(
            Figure(
                f"fan-out over {after_count} tenants: {label}",
                [after_ms],
                f"same fan-out, {before_count} tenants",
                [before_ms],
                note=f"{task_name}, beat {when}: window {window_minutes} min, "
                f"{used:.2f}% of it used on one worker ({runs})",
            )
        )
    night = sum(after_jobs[name][0] for name, *_rest in JOBS)
    figures.append(
        Figure(
            f"nightly fan-out over {after_tenants} tenants, all jobs",
            [night],
            f"same jobs, {before_tenants} tenants",
            [sum(before_jobs[name][0] for name, *_rest in JOBS)],
            note=f"one worker, serially: {night / 60_000:.1f} min of the night's "
            f"{NIGHT_MINUTES} min (00:00-08:00 Beijing); {count} small tenants made in "
            f"{created_s:.0f} s",
        )
    )
    minute = sum(after_jobs[name][0] for name, *_rest in EVERY_MINUTE)
    figures.append(
        Figure(
            f"every-minute fan-out over {after_tenants} tenants",
            [minute],
            f"same jobs, {before_tenants} tenants",
            [sum(before_jobs[name][0] for name, *_rest in EVERY_MINUTE)],
            note=f"{len(EVERY_MINUTE)} jobs beat queues every minute: {minute / 600:.0f}% of "
            f"each minute on one worker",
        )
    )
    return figures


def main(argv=None) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm_site.settings")
    django.setup()
    from django.conf import settings

    from benchmarks.harness import render
    from benchmarks.report import Bench

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--tenants", type=int, help="small tenants to add (1000, --quick 20)")
    parser.add_argument("--keep", action="store_true", help="keep the small tenants")
    args = parser.parse_args(argv)
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("the tenants benchmark needs PostgreSQL: set DATABASE_URL")
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)  # pages render as deployed
    bench = Bench(args.quick, args.tenants, args.keep)
    print(render(measure(bench, bench.small_tenants, bench.keep_tenants)))


if __name__ == "__main__":
    main(sys.argv[1:])
