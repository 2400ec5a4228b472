"""Analytics at chain scale: sales by COPY, aggregates built, dashboard and nightly timed.

    DATABASE_URL=postgres://crm_owner@127.0.0.1:5432/crm_x \
        .venv/bin/python -m benchmarks.generate --members 100000 --stores 500 --sales 0
    DATABASE_URL=... .venv/bin/python manage.py bench_analytics --sales 2000000 --days 730

Runs on the `bench` tenant made by benchmarks.generate. Every figure is printed beside a
floor measured in the same run (benchmarks/harness.py): the 12-month store dashboard beside
an indexed member lookup by phone, one day's nightly aggregation beside a plain
SELECT ... GROUP BY of that day; then EXPLAIN ANALYZE of the dashboard's daily-series read.
"""

from __future__ import annotations

# ruff: noqa: S311 - benchmark data, not secrets
import datetime
import os
import random
import time
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Sum
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from analytics.aggregation import daily_stats_compute
from analytics.models import Product, Sale, SaleLine, StoreDailyStats
from analytics.services import day_bounds, local_day
from tenancy.context import tenant_context
from tenancy.models import Role, StaffMember, Tenant


def _log(message: str) -> None:
    print(f"[bench-analytics {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Command(BaseCommand):
    help = "Generate sales at scale for the bench tenant and time the analytics paths."

    def add_arguments(self, parser):
        parser.add_argument("--sales", type=int, default=2_000_000)
        parser.add_argument("--days", type=int, default=730)
        parser.add_argument("--repeat", type=int, default=30)
        parser.add_argument("--skip-generate", action="store_true")

    def handle(self, *args, sales, days, repeat, skip_generate, **options):
        if connection.vendor != "postgresql":
            raise CommandError("needs PostgreSQL")
        tenant = Tenant.objects.filter(slug="bench").first()
        if tenant is None:
            raise CommandError("run `python -m benchmarks.generate --sales 0` first")
        if not skip_generate:
            self.generate(tenant, sales, days)
            self.build(tenant, days)
        self.report(tenant, repeat)

    # -- data --------------------------------------------------------------------------------
    def generate(self, tenant: Tenant, sales: int, days: int) -> None:
        from benchmarks.copy import copy_rows, loader_connection, reset_sequence

        rng = random.Random(11)
        loader = loader_connection(os.environ["DATABASE_URL"])
        loader.autocommit = False
        started = time.perf_counter()
        with loader, loader.cursor() as cursor:
            t = tenant.pk
            for model in (StoreDailyStats, SaleLine, Sale, Product):
                cursor.execute(
                    f'DELETE FROM "{model._meta.db_table}" WHERE tenant_id = %s',  # noqa: S608
                    [t],
                )
            for table in ("analytics_productdailystats", "analytics_staffdailystats",
                          "analytics_dirtyday"):  # fmt: skip
                cursor.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [t])  # noqa: S608
            cursor.execute(
                "SELECT s.id, a.staff_id FROM stores_store s LEFT JOIN stores_storeassignment a "
                "ON a.store_id = s.id WHERE s.tenant_id = %s ORDER BY s.id",
                [t],
            )
            stores = cursor.fetchall()
            weights = [rng.paretovariate(1.5) for _ in stores]
            cursor.execute(
                "SELECT id FROM customers_customer WHERE tenant_id = %s ORDER BY id", [t]
            )
            members = [row[0] for row in cursor.fetchall()]
            now = timezone.now().isoformat()
            copy_rows(
                cursor,
                "analytics_product",
                ["tenant_id", "sku", "name", "category", "created_at"],
                ([t, f"P{n:05d}", f"商品{n}", f"品类{n % 40}", now] for n in range(2000)),
            )
            cursor.execute("SELECT id FROM analytics_product WHERE tenant_id = %s ORDER BY id", [t])
            products = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM analytics_sale")
            first_id = cursor.fetchone()[0] + 1
            end = timezone.now().replace(microsecond=0) - datetime.timedelta(days=1)
            span = days * 86400
            lines: list[list] = []
            picks = rng.choices(stores, weights=weights, k=sales)

            def sale_rows():
                for index in range(sales):
                    store_id, staff_id = picks[index]
                    sale_id = first_id + index
                    when = end - datetime.timedelta(seconds=rng.randrange(span))
                    member = rng.choice(members) if members and rng.random() < 0.5 else None
                    total = Decimal(0)
                    items = 0
                    for line_no in range(1, rng.randint(1, 3) + 1):
                        quantity = rng.randint(1, 3)
                        price = Decimal(rng.randint(200, 20000)) / 100
                        amount = price * quantity
                        total += amount
                        items += quantity
                        lines.append(
                            [t, sale_id, line_no, rng.choice(products), quantity, price, 0,
                             amount]
                        )  # fmt: skip
                    yield [
                        sale_id, t, store_id, member, staff_id, when.isoformat(), "pos",
                        f"B{sale_id}", "", None, total, 0, 0, 0, total, items, 0, now,
                    ]  # fmt: skip
                    if len(lines) >= 200_000:
                        flush_lines()

            def flush_lines():
                copy_rows(
                    cursor,
                    "analytics_saleline",
                    ["tenant_id", "sale_id", "line_no", "product_id", "quantity",
                     "unit_price", "discount", "line_total"],
                    lines,
                )  # fmt: skip
                lines.clear()

            # Lines reference sales: load the sales first, buffering their lines.
            sale_columns = [
                "id", "tenant_id", "store_id", "member_id", "staff_id", "occurred_at",
                "channel", "external_id", "request_hash", "refund_of_id", "subtotal",
                "discount_total", "points_redeemed", "points_discount", "total", "item_count",
                "points_earned", "created_at",
            ]  # fmt: skip
            pending: list[list] = []
            for row in sale_rows():
                pending.append(row)
                if len(pending) >= 100_000:
                    copy_rows(cursor, "analytics_sale", sale_columns, pending)
                    pending.clear()
                    flush_lines()
            copy_rows(cursor, "analytics_sale", sale_columns, pending)
            flush_lines()
            reset_sequence(cursor, "analytics_sale")
            reset_sequence(cursor, "analytics_saleline")
            cursor.execute("ANALYZE analytics_sale; ANALYZE analytics_saleline")
        _log(f"{sales} sales loaded in {time.perf_counter() - started:.1f}s")

    def build(self, tenant: Tenant, days: int) -> None:
        started = time.perf_counter()
        with tenant_context(tenant):
            today = local_day(timezone.now(), tenant)
            for offset in range(days + 1, 0, -1):
                daily_stats_compute(day=today - datetime.timedelta(days=offset))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE analytics_storedailystats")
        _log(f"{days} days aggregated in {time.perf_counter() - started:.1f}s")

    # -- figures -----------------------------------------------------------------------------
    def report(self, tenant: Tenant, repeat: int) -> None:
        from benchmarks.harness import Figure, render, time_each_ms

        rng = random.Random(5)
        figures = []
        with tenant_context(tenant):
            admin = StaffMember.objects.select_related("user").get(role=Role.HQ_ADMIN)
            store_ids = list(StoreDailyStats.objects.values_list("store_id", flat=True).distinct())
            sales_count = Sale.objects.count()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT phone FROM customers_customer WHERE tenant_id = %s "
                    "ORDER BY random() LIMIT %s",
                    [tenant.pk, repeat],
                )
                phones = [row[0] for row in cursor.fetchall()]
        client = Client()
        client.force_login(admin.user)
        # Pages render without collectstatic, as in the test suite.
        static = override_settings(
            STORAGES={
                **settings.STORAGES,
                "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            }
        )
        static.enable()
        picks = [rng.choice(store_ids) for _ in range(repeat)]
        dashboard = time_each_ms(
            lambda store_id: client.get(
                reverse("analytics:store_dashboard", kwargs={"store_id": store_id}),
                {"preset": "12m"},
            ),
            picks,
        )
        with tenant_context(tenant), connection.cursor() as cursor:

            def lookup(phone):
                cursor.execute(
                    "SELECT id, name, phone, home_store_id FROM customers_customer "
                    "WHERE tenant_id = %s AND phone = %s",
                    [tenant.pk, phone],
                )
                cursor.fetchall()

            floor = time_each_ms(lookup, phones)
        figures.append(
            Figure(
                "store dashboard, 12 months (request)",
                dashboard,
                "member lookup by phone (SQL)",
                floor,
                note=f"{sales_count} sales, {len(store_ids)} stores",
            )
        )

        with tenant_context(tenant):
            today = local_day(timezone.now(), tenant)
            days = [today - datetime.timedelta(days=n) for n in range(2, 2 + min(repeat, 10))]
            nightly = time_each_ms(lambda d: daily_stats_compute(day=d), days, warmup=1)
            with connection.cursor() as cursor:

                def plain(d):
                    start, end = day_bounds(d, tenant)
                    cursor.execute(
                        "SELECT store_id, SUM(total), COUNT(*), SUM(item_count) "
                        "FROM analytics_sale WHERE tenant_id = %s AND occurred_at >= %s "
                        "AND occurred_at < %s GROUP BY store_id",
                        [tenant.pk, start, end],
                    )
                    cursor.fetchall()

                plain_ms = time_each_ms(plain, days, warmup=1)
            figures.append(
                Figure(
                    "nightly aggregation of one day",
                    nightly,
                    "plain SELECT ... GROUP BY of that day",
                    plain_ms,
                    note="store + product + staff upserts and stale-row cleanup",
                )
            )
            yesterday = today - datetime.timedelta(days=1)
            plan = (
                StoreDailyStats.objects.filter(
                    store_id=picks[0],
                    day__range=(yesterday - datetime.timedelta(days=364), yesterday),
                )
                .values("day")
                .annotate(total=Sum("revenue"))
                .explain(analyze=True)
            )
        static.disable()
        print(render(figures))
        print("\nEXPLAIN ANALYZE dashboard daily series (one store, 365 days):\n" + plan)
