"""The one-pass nightly statement (PostgreSQL) and the monthly product rollup.

The one-pass statement must leave exactly the rows the per-table statements leave (the path
SQLite still takes), on generated data with refunds, sales a second either side of local
midnight, late sales, and sales moved to another store (stale rows); and the monthly rollup
must stay the sum of its daily rows through all of that. The store dashboard's product lists
read whole months from the rollup: over periods with partial months at both ends they must
give the daily rows' answers.
"""

from __future__ import annotations

import datetime
import io
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from analytics.aggregation import (
    aggregates_refresh_dirty,
    daily_stats_compute,
    day_compute_one_pass,
    day_compute_per_table,
    day_params,
    product_rollups_rebuild,
)
from analytics.models import (
    ChannelDailyStats,
    ProductDailyStats,
    ProductMonthlyStats,
    Sale,
    StaffDailyStats,
    StoreDailyStats,
)
from analytics.selectors import (
    Period,
    month_split,
    product_ranking,
    product_rankings,
    product_totals,
)
from analytics.services import LineInput, local_day
from stores.models import Store
from tenancy.context import tenant_context
from tenancy.models import StaffMember
from tests.analytics.factories import line, record_sale
from tests.analytics.test_aggregation import DAYS, random_sales
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def snapshot() -> dict:
    """Every aggregate row of the current tenant, without computed_at."""

    def rows(model, *fields):
        return sorted(model.objects.values_list(*fields))

    return {
        "store": rows(
            StoreDailyStats,
            "store_id",
            "day",
            "revenue",
            "transactions",
            "refunds",
            "items",
            "average_ticket",
            "member_revenue",
            "member_share",
            "new_members",
            "points_earned",
            "points_redeemed",
        ),  # fmt: skip
        "product": rows(ProductDailyStats, "store_id", "day", "product_id", "quantity", "revenue"),
        "staff": rows(StaffDailyStats, "store_id", "day", "staff_id", "revenue", "transactions"),
        "channel": rows(ChannelDailyStats, "store_id", "day", "channel", "revenue", "transactions"),
        "month": rollup_rows(),
    }


def rollup_rows() -> list[tuple]:
    """The rollup as it reads: rows whose days fell to zero are absent."""
    return sorted(
        ProductMonthlyStats.objects.filter(days__gt=0).values_list(
            "store_id", "month", "product_id", "quantity", "revenue", "days"
        )
    )


def rollup_from_daily_rows() -> list[tuple]:
    sums = defaultdict(lambda: [0, Decimal("0"), 0])
    for row in ProductDailyStats.objects.all():
        total = sums[(row.store_id, row.day.replace(day=1), row.product_id)]
        total[0] += row.quantity
        total[1] += row.revenue
        total[2] += 1
    return sorted((*key, *value) for key, value in sums.items())


def build(days, path) -> None:
    now = timezone.now()
    for day in days:
        params = day_params(day, now)
        if path == "one pass":
            day_compute_one_pass(params)
        else:
            day_compute_per_table(params, day)


def clear_aggregates() -> None:
    for model in (
        StoreDailyStats,
        ProductDailyStats,
        ProductMonthlyStats,
        StaffDailyStats,
        ChannelDailyStats,
    ):
        model.objects.all().delete()


@pytest.mark.postgres
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_one_pass_leaves_the_rows_of_the_per_table_statements(world, zone):
    assert connection.vendor == "postgresql"
    rng = random.Random(zone)
    tenant = world.tenant_a
    tenant.time_zone = zone
    tenant.save()
    with tenant_context(tenant):
        stores = list(Store.objects.all())
        staff = list(StaffMember.objects.all())
        members = [CustomerFactory(home_store=rng.choice(stores)) for _ in range(6)]
        today = local_day(timezone.now(), tenant)
        sales = random_sales(rng, tenant, stores, staff, members, 80, today)
        assert Sale.objects.filter(refund_of__isnull=False).exists()
        # A sale a second before and one at local midnight: the day that straddles two UTC
        # dates (in Shanghai local midnight is 16:00 UTC the day before).
        edge = today - datetime.timedelta(days=4)
        midnight = datetime.datetime.combine(edge, datetime.time(0), tenant.zone)
        record_sale(stores[0], midnight - datetime.timedelta(seconds=1), lines=[line("EDGE")])
        record_sale(stores[0], midnight, lines=[line("EDGE", quantity=2)])
        days = [today - datetime.timedelta(days=n) for n in range(1, DAYS + 2)]

        build(days, "per table")
        per_table = snapshot()
        clear_aggregates()
        build(days, "one pass")
        one_pass = snapshot()
        assert one_pass == per_table
        assert one_pass["product"] and one_pass["staff"] and one_pass["channel"]
        assert one_pass["month"] == rollup_from_daily_rows()

        # A re-run changes nothing and writes only the store rows (the "built" marker).
        params = day_params(days[3], timezone.now())
        counts = day_compute_one_pass(params)
        assert counts["store_rows"] == len(stores)
        assert counts["product_rows"] == counts["month_rows"] == counts["staff_rows"] == 0
        assert snapshot() == one_pass

        # Late sales, a refund, and sales moved to another store (their old rows go stale).
        record_sale(
            stores[1],
            datetime.datetime.combine(days[2], datetime.time(12), tenant.zone),
            lines=[line("LATE", quantity=3, price="7.70")],
        )
        moved = [s for s in sales if s.refund_of_id is None and s.store_id == stores[0].pk][:3]
        Sale.objects.filter(pk__in=[s.pk for s in moved]).update(store=stores[1])
        build(days, "one pass")
        one_pass = snapshot()
        assert one_pass["month"] == rollup_from_daily_rows()
        build(days, "per table")
        assert snapshot() == one_pass


@pytest.mark.postgres
def test_a_stale_product_row_leaves_the_monthly_rollup(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        day = local_day(timezone.now(), tenant) - datetime.timedelta(days=2)
        noon = datetime.datetime.combine(day, datetime.time(12), tenant.zone)
        sale = record_sale(world.store_a1, noon, lines=[line("GONE", quantity=2, price="5.00")])
        daily_stats_compute(day=day)
        month = ProductMonthlyStats.objects.get(product__sku="GONE")
        assert (month.quantity, month.revenue, month.days) == (2, Decimal("10.00"), 1)

        Sale.objects.filter(pk=sale.pk).update(store=world.store_a2)
        daily_stats_compute(day=day)

        assert not ProductMonthlyStats.objects.filter(
            product__sku="GONE", store=world.store_a1, days__gt=0
        ).exists()
        assert rollup_rows() == rollup_from_daily_rows()


def test_the_rollup_rebuild_command_recomputes_it_from_the_daily_rows(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        day = local_day(timezone.now(), tenant) - datetime.timedelta(days=2)
        noon = datetime.datetime.combine(day, datetime.time(12), tenant.zone)
        record_sale(world.store_a1, noon, lines=[line("CMD", quantity=2, price="5.00")])
        daily_stats_compute(day=day)
        built = rollup_rows()
        ProductMonthlyStats.objects.update(quantity=999)  # rows changed by hand

    out = io.StringIO()
    call_command("analytics_rollups_rebuild", "--tenant", tenant.slug, stdout=out)
    assert f"{tenant.slug}: {len(built)} monthly product rows" in out.getvalue()

    with tenant_context(tenant):
        assert rollup_rows() == built == rollup_from_daily_rows()
        assert product_rollups_rebuild() == len(built)


def test_month_split_keeps_partial_months_at_both_ends_as_days():
    d = datetime.date
    assert month_split(Period(d(2026, 1, 15), d(2026, 4, 10))) == (
        [(d(2026, 1, 15), d(2026, 1, 31)), (d(2026, 4, 1), d(2026, 4, 10))],
        (d(2026, 2, 1), d(2026, 3, 1)),
    )
    assert month_split(Period(d(2025, 12, 1), d(2026, 2, 28))) == (
        [],
        (d(2025, 12, 1), d(2026, 2, 1)),
    )
    assert month_split(Period(d(2028, 2, 29), d(2028, 3, 30))) == (
        [(d(2028, 2, 29), d(2028, 3, 30))],
        None,
    )
    assert month_split(Period(d(2026, 5, 3), d(2026, 5, 20))) == (
        [(d(2026, 5, 3), d(2026, 5, 20))],
        None,
    )


def test_product_lists_from_the_rollup_equal_the_daily_rows(world):
    """Sales over about four months; periods with partial months at both ends, whole months
    only, inside one month, and across a year end give the daily rows' totals."""
    rng = random.Random(20)
    tenant = world.tenant_a
    skus = [f"R{n:02d}" for n in range(12)]
    with tenant_context(tenant):
        today = local_day(timezone.now(), tenant)
        first_day = today - datetime.timedelta(days=130)
        for _ in range(160):
            day = first_day + datetime.timedelta(days=rng.randint(0, 128))
            moment = datetime.datetime.combine(day, datetime.time(rng.randint(0, 23)), tenant.zone)
            sale = record_sale(
                rng.choice([world.store_a1, world.store_a2]),
                moment,
                lines=[
                    line(rng.choice(skus), rng.randint(1, 3), f"{rng.randint(100, 9999) / 100:.2f}")
                    for _ in range(rng.randint(1, 3))
                ],
            )
            if rng.random() < 0.15:  # refunded in full the same day: sums to zero, still sold
                first = sale.lines.first()
                record_sale(
                    sale.store,
                    moment,
                    lines=[LineInput(sku=first.product.sku, quantity=first.quantity)],
                    refund_of=sale,
                )
        aggregates_refresh_dirty()
        assert rollup_rows() == rollup_from_daily_rows()

        yesterday = today - datetime.timedelta(days=1)
        periods = [
            Period(first_day + datetime.timedelta(days=9), yesterday - datetime.timedelta(days=5)),
            Period(first_day, yesterday),
            Period(yesterday.replace(day=1), yesterday),
            Period(today - datetime.timedelta(days=100), today - datetime.timedelta(days=40)),
        ]
        # Whole months only: the second month of the data through the month before the last.
        second_month = (first_day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
        periods.append(Period(second_month, yesterday.replace(day=1) - datetime.timedelta(days=1)))
        for _ in range(6):
            start = first_day + datetime.timedelta(days=rng.randint(0, 120))
            periods.append(
                Period(start, min(yesterday, start + datetime.timedelta(rng.randint(0, 90))))
            )
        assert any(month_split(p)[1] and len(month_split(p)[0]) == 2 for p in periods)

        for period in periods:
            for store_ids in ([world.store_a1.pk], None):
                expected = defaultdict(lambda: [0, Decimal("0")])
                for row in ProductDailyStats.objects.filter(
                    day__range=(period.start, period.end),
                    **({"store_id__in": store_ids} if store_ids else {}),
                ):
                    expected[row.product_id][0] += row.quantity
                    expected[row.product_id][1] += row.revenue
                got = {
                    r["product_id"]: [r["quantity"], r["revenue"]]
                    for r in product_totals(store_ids, period)
                }
                assert got == dict(expected), period
                top, slow = product_rankings(store_ids, period, limit=5)
                reference = product_ranking(store_ids, period, limit=None)
                assert [(r["quantity"], r["revenue"]) for r in top] == [
                    (r["quantity"], r["revenue"]) for r in reference[:5]
                ], period
                assert slow == product_ranking(store_ids, period, slowest=True, limit=5), period
