"""Two years of sales at chain scale (400 days with --quick), generated in PostgreSQL, aggregated.

`generate()` is a benchmarks.generate extension. Sales and their lines are produced by
INSERT ... SELECT over generate_series (no Python per row), as the loader role: store sizes
skewed (a few flagships, a long tail), weekend and year-end seasonality, opening hours in
Beijing time, about half the sales to members with repeat buyers favoured, 1-3 lines each.
The history is then aggregated by the real nightly code, one local day at a time, and the
members' RFM written, exactly as the beat job would have done over two years.
"""

from __future__ import annotations

import datetime
import random
import time

from benchmarks.copy import copy_rows, reset_sequence

SALE_COLUMNS = [
    "id", "tenant_id", "store_id", "member_id", "staff_id", "occurred_at", "channel",
    "external_id", "request_hash", "refund_of_id", "subtotal", "discount_total",
    "points_redeemed", "points_discount", "total", "item_count", "points_earned", "created_at",
]  # fmt: skip
LINE_COLUMNS = [
    "tenant_id", "sale_id", "line_no", "product_id", "quantity", "unit_price", "discount",
    "line_total",
]  # fmt: skip

DAYS = 730
# --quick keeps a little over the 12 months the dashboards read: CI stays inside 2 minutes.
QUICK_DAYS = 400
BATCH = 1_000_000
CATEGORIES = ["服装", "鞋履", "箱包", "配饰", "美妆", "个护", "食品", "饮料", "家居", "数码"]


def log(message: str) -> None:
    print(f"[sales {time.strftime('%H:%M:%S')}] {message}", flush=True)


def history_days(args) -> int:
    return QUICK_DAYS if getattr(args, "quick", False) else DAYS


def _day_pool(rng: random.Random, today: datetime.date, history: int) -> list[int]:
    """Day offsets (1 = yesterday) repeated by how busy the day is."""
    pool = []
    for offset in range(1, history + 1):
        day = today - datetime.timedelta(days=offset)
        weight = 10
        if day.weekday() >= 5:
            weight += 5  # weekends
        if day.month in (11, 12) or (day.month == 1 and day.day > 15):
            weight += 4  # singles' day, year end, before the spring festival
        if day.month in (2, 7):
            weight -= 3
        weight = max(1, int(weight * rng.uniform(0.85, 1.15)))
        pool.extend([offset] * weight)
    return pool


def _defaults(model, columns: list[str]) -> tuple[str, str, dict]:
    """Columns the INSERT does not name, with the model's defaults as named parameters.

    Other apps keep adding NOT NULL columns (a sale's coupon discount, ...); naming them with
    their defaults keeps the set-based INSERT working without editing it each time.
    """
    from benchmarks.generate import fill_columns

    extra_columns, extra_values = fill_columns(model, dict.fromkeys(columns))
    names = "".join(f", {column}" for column in extra_columns)
    values = "".join(f", %(d_{column})s" for column in extra_columns)
    return names, values, {f"d_{c}": v for c, v in zip(extra_columns, extra_values, strict=True)}


def _drop_foreign_keys(cursor, tables: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Drop the foreign keys of `tables`; returns (table, name, definition) to add back."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s) "
        "ORDER BY conrelid::regclass::text, conname",
        [list(tables)],
    )
    foreign_keys = cursor.fetchall()
    # Checks still pending from earlier loads (members, points) would block the ALTER.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    for table, name, _definition in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    return foreign_keys


def generate(cursor, tenant_id: int, slug: str, args, rng: random.Random) -> None:
    target = args.sales if slug == "bench" else min(args.sales, 5_000)
    cursor.execute("SELECT count(*) FROM analytics_sale WHERE tenant_id = %s", [tenant_id])
    if cursor.fetchone()[0] == target:
        log(f"{slug}: {target} sales exist, reused")
        return
    started = time.perf_counter()
    history = history_days(args)
    log(f"{slug}: creating {target} sales over {history} days")
    for table in ("analytics_storedailystats", "analytics_productdailystats",
                  "analytics_productmonthlystats",
                  "analytics_staffdailystats", "analytics_channeldailystats",
                  "analytics_dirtyday", "analytics_saleline", "analytics_sale",
                  "analytics_product"):  # fmt: skip
        cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
    now = datetime.datetime.now(datetime.UTC).isoformat()
    copy_rows(
        cursor,
        "analytics_product",
        ["tenant_id", "sku", "name", "category", "created_at"],
        (
            [tenant_id, f"SKU{n:05d}", f"{CATEGORIES[n % 10]}商品{n}", CATEGORIES[n % 10], now]
            for n in range(2_000)
        ),
    )
    reset_sequence(cursor, "analytics_product")
    cursor.execute(
        "SELECT min(id), max(id), count(*) FROM analytics_product WHERE tenant_id = %s",
        [tenant_id],
    )
    product_min, _product_max, products = cursor.fetchone()
    cursor.execute(
        "SELECT s.id, a.staff_id FROM stores_store s JOIN stores_storeassignment a "
        "ON a.store_id = s.id WHERE s.tenant_id = %s ORDER BY s.id",
        [tenant_id],
    )
    stores = cursor.fetchall()
    store_pool, staff_pool = [], []
    for store_id, staff_id in stores:
        weight = max(1, int(rng.paretovariate(1.3) * 4))
        store_pool += [store_id] * weight
        staff_pool += [staff_id] * weight
    cursor.execute(
        "SELECT min(id), max(id), count(*) FROM customers_customer WHERE tenant_id = %s",
        [tenant_id],
    )
    member_min, member_max, members = cursor.fetchone()
    if members and member_max - member_min + 1 != members:
        raise SystemExit("member ids are not contiguous; regenerate the members")
    today = datetime.datetime.now(datetime.UTC).date()
    days = _day_pool(rng, today, history)
    cursor.execute("SELECT COALESCE(max(id), 0) FROM analytics_sale")
    base = cursor.fetchone()[0]
    params = {
        "tenant": tenant_id,
        "base": base,
        "stores": store_pool,
        "staff": staff_pool,
        "nstores": len(store_pool),
        "days": days,
        "ndays": len(days),
        "today": today,
        "mmin": member_min,
        "mcount": members,
        "pmin": product_min,
        "nproducts": products,
        "now": now,
    }
    from analytics.models import Sale, SaleLine

    sale_names, sale_values, sale_params = _defaults(Sale, SALE_COLUMNS)
    line_names, line_values, line_params = _defaults(SaleLine, LINE_COLUMNS)
    params.update(sale_params)
    params.update(line_params)
    # Their foreign keys are deferred checks: kept during the load, every sale and line
    # queues one check per key for the commit, which at 10M sales took a quarter of the
    # whole generation. Dropped here and added back below, each key is checked once, by a
    # single join over the table, in this same transaction.
    # (Re-adding checks the whole tables, other tenants' rows too: not worth it for a few.)
    foreign_keys = (
        _drop_foreign_keys(cursor, ("analytics_sale", "analytics_saleline"))
        if target >= 50_000
        else []
    )
    for first in range(1, target + 1, BATCH):
        last = min(target, first + BATCH - 1)
        # Line k of sale g: quantity 1-3 and a price from 2.00 to 199.99 derived from (g, k),
        # so the sale's totals and its lines agree without a second pass.
        cursor.execute(
            f"""
            INSERT INTO analytics_sale ({", ".join(SALE_COLUMNS)}{sale_names})
            SELECT %(base)s + g, %(tenant)s, (%(stores)s::bigint[])[pick.s],
                CASE WHEN random() < 0.55 AND %(mcount)s > 0
                     THEN %(mmin)s + floor(%(mcount)s * power(random(), 2))::bigint END,
                (%(staff)s::bigint[])[pick.s],
                ((%(today)s::date - (%(days)s::int[])[pick.d]) + time '09:00'
                  + random() * interval '13 hours') AT TIME ZONE 'Asia/Shanghai',
                'pos', 'B' || (%(base)s + g), '', NULL, t.total, 0, 0, 0, t.total, t.items, 0,
                %(now)s{sale_values}
            FROM generate_series(%(first)s, %(last)s) AS g
            CROSS JOIN LATERAL (
                SELECT 1 + floor(random() * %(nstores)s)::int AS s,
                       1 + floor(random() * %(ndays)s)::int AS d, g AS anchor
            ) AS pick
            CROSS JOIN LATERAL (
                SELECT sum((1 + (g * 7 + k * 3) %% 3) * (200 + (g * 31 + k * 977) %% 19800))
                         / 100.0 AS total,
                       sum(1 + (g * 7 + k * 3) %% 3) AS items
                FROM generate_series(1, 1 + g %% 3) AS k
            ) AS t
            """,
            {**params, "first": first, "last": last},
        )
        cursor.execute(
            f"""
            INSERT INTO analytics_saleline ({", ".join(LINE_COLUMNS)}{line_names})
            SELECT %(tenant)s, %(base)s + g, k,
                %(pmin)s + floor(%(nproducts)s * power(random(), 3))::bigint,
                1 + (g * 7 + k * 3) %% 3, (200 + (g * 31 + k * 977) %% 19800) / 100.0, 0,
                (1 + (g * 7 + k * 3) %% 3) * (200 + (g * 31 + k * 977) %% 19800) / 100.0
                {line_values}
            FROM generate_series(%(first)s, %(last)s) AS g,
                 generate_series(1, 1 + g %% 3) AS k
            """,
            {**params, "first": first, "last": last},
        )
        log(f"{slug}: {last} sales")
    checked = time.perf_counter()
    for table, name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    if foreign_keys:
        elapsed = time.perf_counter() - checked
        log(f"{slug}: {len(foreign_keys)} foreign keys checked in {elapsed:.1f}s")
    reset_sequence(cursor, "analytics_sale")
    reset_sequence(cursor, "analytics_saleline")
    cursor.execute("ANALYZE analytics_sale; ANALYZE analytics_saleline")
    log(f"{slug}: sales loaded in {time.perf_counter() - started:.1f}s")


def aggregate_history(tenant_slug: str, history: int = DAYS) -> None:
    """Build the aggregates of every day without them, with the nightly job's own code."""
    from django.db import transaction
    from django.utils import timezone

    from analytics.aggregation import daily_stats_compute, member_rfm_refresh
    from analytics.models import ChannelDailyStats, StoreDailyStats
    from analytics.services import local_day
    from tenancy.context import tenant_context
    from tenancy.models import Tenant

    tenant = Tenant.objects.get(slug=tenant_slug)
    started = time.perf_counter()
    with tenant_context(tenant):
        today = local_day(timezone.now(), tenant)
        # A day counts as built once it has its channel rows too (added after the others).
        built = set(StoreDailyStats.objects.values_list("day", flat=True).distinct()) & set(
            ChannelDailyStats.objects.values_list("day", flat=True).distinct()
        )
        missing = [
            today - datetime.timedelta(days=offset)
            for offset in range(history + 1, 0, -1)
            if today - datetime.timedelta(days=offset) not in built
        ]
        if not missing:
            log(f"{tenant_slug}: aggregates exist, reused")
            return
        for day in missing:
            with transaction.atomic():
                daily_stats_compute(day=day)
        with transaction.atomic():
            member_rfm_refresh(as_of=timezone.now())
    log(
        f"{tenant_slug}: {len(missing)} days aggregated and RFM written in "
        f"{time.perf_counter() - started:.1f}s"
    )
