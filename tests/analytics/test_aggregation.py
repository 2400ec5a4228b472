"""The nightly aggregates equal a direct recomputation from the raw sales.

Generated data: two tenants in different time zones, many days, members and walk-ins,
refunds, sales at the edges of local days, and late sales recorded after a day was built.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.aggregation import (
    aggregates_refresh_dirty,
    aggregates_run_nightly,
    daily_stats_compute,
    member_rfm_refresh,
)
from analytics.models import (
    DirtyDay,
    ProductDailyStats,
    Sale,
    SaleLine,
    StaffDailyStats,
    StoreDailyStats,
)
from analytics.services import LineInput, day_bounds, local_day, sale_record
from customers.models import Customer
from stores.models import Store
from tenancy.context import tenant_context
from tenancy.models import StaffMember
from tests.analytics.factories import line, record_sale
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

SKUS = [f"SKU{n:03d}" for n in range(8)]
DAYS = 12


def random_sales(rng: random.Random, tenant, stores, staff, members, count: int, today):
    """Sales spread over the last DAYS local days, some a second before or after midnight."""
    zone = tenant.zone
    sales = []
    for _ in range(count):
        day = today - datetime.timedelta(days=rng.randint(1, DAYS))
        if rng.random() < 0.2:
            # The edges of the local day: 00:00:00 and 23:59:59.
            moment = datetime.datetime.combine(
                day, rng.choice([datetime.time(0, 0, 0), datetime.time(23, 59, 59)]), zone
            )
        else:
            moment = datetime.datetime.combine(day, datetime.time(rng.randint(0, 23)), zone)
            moment += datetime.timedelta(seconds=rng.randint(0, 3599))
        lines = [
            LineInput(
                sku=rng.choice(SKUS),
                quantity=rng.randint(1, 4),
                unit_price=Decimal(rng.randint(500, 9999)) / 100,
                discount=Decimal(rng.choice([0, 0, 1, 2])),
                name="商品",
                category="类",
            )
            for _ in range(rng.randint(1, 3))
        ]
        store = rng.choice(stores)
        sale, _ = sale_record(
            store=store,
            occurred_at=moment,
            lines=lines,
            channel="counter",
            staff=rng.choice([s for s in staff if s.can_access_store(store.pk)])
            if rng.random() < 0.8
            else None,
            member=rng.choice(members) if rng.random() < 0.6 else None,
        )
        sales.append(sale)
    # Refund part of some sales, a little later (possibly the next local day).
    for sale in rng.sample(sales, k=len(sales) // 5):
        first = sale.lines.first()
        sale_record(
            store=sale.store,
            occurred_at=min(
                sale.occurred_at + datetime.timedelta(hours=rng.randint(0, 30)),
                timezone.now() - datetime.timedelta(days=1),
            )
            if sale.occurred_at < timezone.now() - datetime.timedelta(days=1)
            else sale.occurred_at,
            lines=[LineInput(sku=first.product.sku, quantity=rng.randint(1, first.quantity))],
            channel="counter",
            refund_of=sale,
        )
    return sales


def expected_rows(tenant):
    """Recompute every aggregate in Python straight from Sale and SaleLine."""
    stores = defaultdict(lambda: defaultdict(Decimal))
    products = defaultdict(lambda: [0, Decimal("0")])
    staff = defaultdict(lambda: [Decimal("0"), 0])
    for sale in Sale.objects.all():
        key = (sale.store_id, local_day(sale.occurred_at, tenant))
        row = stores[key]
        row["revenue"] += sale.total
        row["transactions"] += 0 if sale.refund_of_id else 1
        row["refunds"] += 1 if sale.refund_of_id else 0
        row["items"] += sale.item_count
        row["member_revenue"] += sale.total if sale.member_id else 0
        if sale.staff_id:
            staff[(*key, sale.staff_id)][0] += sale.total
            staff[(*key, sale.staff_id)][1] += 0 if sale.refund_of_id else 1
    for sale_line in SaleLine.objects.select_related("sale"):
        key = (
            sale_line.sale.store_id,
            local_day(sale_line.sale.occurred_at, tenant),
            sale_line.product_id,
        )
        products[key][0] += sale_line.quantity
        products[key][1] += sale_line.line_total
    new_members = defaultdict(int)
    for member in Customer.objects.all():
        new_members[(member.home_store_id, local_day(member.created_at, tenant))] += 1
    return stores, products, staff, new_members


def assert_aggregates_match(tenant):
    stores, products, staff, new_members = expected_rows(tenant)
    computed_days = set(StoreDailyStats.objects.values_list("day", flat=True))
    for (store_id, day), row in stores.items():
        stats = StoreDailyStats.objects.get(store_id=store_id, day=day)
        assert stats.revenue == row["revenue"], (store_id, day)
        assert stats.transactions == row["transactions"]
        assert stats.refunds == row["refunds"]
        assert stats.items == row["items"]
        assert stats.member_revenue == row["member_revenue"]
        if row["transactions"]:
            expected_ticket = (row["revenue"] / row["transactions"]).quantize(Decimal("0.01"))
            assert abs(stats.average_ticket - expected_ticket) <= Decimal("0.01")
    for stats in StoreDailyStats.objects.all():
        if (stats.store_id, stats.day) not in stores:
            assert (stats.revenue, stats.transactions, stats.items) == (0, 0, 0)
        assert stats.new_members == new_members.get((stats.store_id, stats.day), 0)
    product_rows = {
        (p.store_id, p.day, p.product_id): [p.quantity, p.revenue]
        for p in ProductDailyStats.objects.all()
    }
    assert product_rows == {k: v for k, v in products.items() if k[1] in computed_days}
    staff_rows = {
        (s.store_id, s.day, s.staff_id): [s.revenue, s.transactions]
        for s in StaffDailyStats.objects.all()
    }
    assert staff_rows == {k: v for k, v in staff.items() if k[1] in computed_days}


def snapshot():
    def rows(model, *fields):
        return sorted(model.objects.values_list(*fields))

    return (
        rows(
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
        ),
        rows(ProductDailyStats, "store_id", "day", "product_id", "quantity", "revenue"),
        rows(StaffDailyStats, "store_id", "day", "staff_id", "revenue", "transactions"),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_aggregates_equal_recomputation_from_raw_sales(world, seed):
    rng = random.Random(seed)
    world.tenant_b.time_zone = "America/New_York"  # DST and a day far from UTC+8
    world.tenant_b.save()
    for tenant in (world.tenant_a, world.tenant_b):
        with tenant_context(tenant):
            stores = list(Store.objects.all())
            staff = list(StaffMember.objects.all())
            members = [CustomerFactory(home_store=rng.choice(stores)) for _ in range(6)]
            today = local_day(timezone.now(), tenant)
            random_sales(rng, tenant, stores, staff, members, 60, today)
            # Every day so far is dirty (recorded after it ended); build them all.
            assert len(aggregates_refresh_dirty()) > 1
            assert not DirtyDay.objects.filter(cleaned_at__isnull=True).exists()
            assert_aggregates_match(tenant)

            # Late sales for days already built: the days go dirty and are rebuilt.
            late_day = today - datetime.timedelta(days=3)
            late = record_sale(
                rng.choice(stores),
                datetime.datetime.combine(late_day, datetime.time(12), tenant.zone),
                lines=[line(sku=SKUS[0], quantity=2, price="33.30")],
            )
            assert DirtyDay.objects.filter(
                store=late.store, day=late_day, cleaned_at__isnull=True
            ).exists()
            aggregates_run_nightly()
            assert_aggregates_match(tenant)


def test_rerunning_a_day_yields_identical_rows(world):
    rng = random.Random(7)
    tenant = world.tenant_a
    with tenant_context(tenant):
        stores = list(Store.objects.all())
        members = [CustomerFactory(home_store=stores[0]) for _ in range(3)]
        today = local_day(timezone.now(), tenant)
        staff = list(StaffMember.objects.all())
        random_sales(rng, tenant, stores, staff, members, 40, today)
        aggregates_refresh_dirty()
        before = snapshot()
        for offset in range(1, DAYS + 1):
            daily_stats_compute(day=today - datetime.timedelta(days=offset))
        assert snapshot() == before
        assert before[0] and before[1]


def test_a_sale_at_2359_local_belongs_to_that_day(world):
    tenant = world.tenant_a  # e.g. Asia/Shanghai, UTC+8: 23:59 local is 15:59 UTC the same day
    with tenant_context(tenant):
        day = local_day(timezone.now(), tenant) - datetime.timedelta(days=2)
        late_evening = datetime.datetime.combine(day, datetime.time(23, 59), tenant.zone)
        midnight = datetime.datetime.combine(
            day + datetime.timedelta(days=1), datetime.time(0, 0), tenant.zone
        )
        record_sale(world.store_a1, late_evening, lines=[line(price="10.00")])
        record_sale(world.store_a1, midnight, lines=[line(price="99.00")])
        daily_stats_compute(day=day)
        daily_stats_compute(day=day + datetime.timedelta(days=1))
        assert StoreDailyStats.objects.get(store=world.store_a1, day=day).revenue == Decimal(
            "10.00"
        )
        next_day = StoreDailyStats.objects.get(
            store=world.store_a1, day=day + datetime.timedelta(days=1)
        )
        assert next_day.revenue == Decimal("99.00")
        start, end = day_bounds(day, tenant)
        assert end - start == datetime.timedelta(hours=24)
        # The day starts at local midnight (16:00 UTC the evening before, in Shanghai).
        assert start == datetime.datetime.combine(day, datetime.time(0), tenant.zone)


def test_nightly_builds_yesterday_once_then_only_dirty_days(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        now = timezone.now()
        first = aggregates_run_nightly(now=now)
        assert first["days"] == [(local_day(now, tenant) - datetime.timedelta(days=1)).isoformat()]
        assert aggregates_run_nightly(now=now) == {"days": []}


def test_rfm_segments_and_purchase_fields_are_written_onto_members(world):
    tenant = world.tenant_a
    with tenant_context(tenant):
        now = timezone.now()
        loyal = CustomerFactory(home_store=world.store_a1)
        lapsed = CustomerFactory(home_store=world.store_a1)
        small = CustomerFactory(home_store=world.store_a1)
        never = CustomerFactory(home_store=world.store_a1, rfm_segment="旧值", purchase_count=3)
        for days_ago in (1, 2, 3, 4, 5):
            record_sale(
                world.store_a1,
                now - datetime.timedelta(days=days_ago),
                lines=[line(price="500.00")],
                member=loyal,
            )
        for days_ago in (200, 201, 202):
            record_sale(
                world.store_a1,
                now - datetime.timedelta(days=days_ago),
                lines=[line(price="400.00")],
                member=lapsed,
            )
        for _ in range(4):  # an ordinary middle, so quintiles mean something
            middle = CustomerFactory(home_store=world.store_a1)
            for days_ago in (30, 31):
                record_sale(
                    world.store_a1,
                    now - datetime.timedelta(days=days_ago),
                    lines=[line(price="100.00")],
                    member=middle,
                )
        refunded = record_sale(
            world.store_a1,
            now - datetime.timedelta(days=300),
            lines=[line(price="5.00", quantity=2)],
            member=small,
        )
        record_sale(
            world.store_a1,
            now - datetime.timedelta(days=299),
            lines=[LineInput(sku="SKU-TEA", quantity=1)],
            refund_of=refunded,
        )
        member_rfm_refresh(as_of=now)
        for member in (loyal, lapsed, small, never):
            member.refresh_from_db()
        assert loyal.purchase_count == 5 and loyal.total_spent == Decimal("2500.00")
        assert loyal.rfm_segment == "important_value"
        assert lapsed.rfm_segment == "important_keep"  # frequent and big, but long ago
        assert small.total_spent == Decimal("5.00")  # net of the refund
        assert small.purchase_count == 1
        assert small.rfm_segment == "dormant"
        assert loyal.last_purchase_at == max(
            s.occurred_at for s in Sale.objects.filter(member=loyal)
        )
        assert (never.purchase_count, never.rfm_segment, never.last_purchase_at) == (0, "", None)
