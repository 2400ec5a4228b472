"""The nightly aggregation: daily store, product and staff rows, and members' RFM.

Set-based: each table is one INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE per
day, the same SQL on PostgreSQL and SQLite (3.24+ has the upsert, 3.33+ UPDATE ... FROM).
"Which day" is the tenant's local day: its UTC bounds are computed in Python and passed as
parameters, so no database time-zone function is involved. Re-running a day rewrites the
same values (only computed_at moves); rows that no longer have sales are deleted.
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.utils import timezone

from analytics.models import (
    ChannelDailyStats,
    DirtyDay,
    ProductDailyStats,
    Sale,
    SaleLine,
    StaffDailyStats,
    StoreDailyStats,
)
from analytics.services import day_bounds, local_day
from customers.models import Customer, RfmSegment
from stores.models import Store
from tenancy.context import current_tenant

# The segment is stored on the member as a key (campaigns and saved segments filter by it)
# and named in the reader's language on the page (customers.models.RfmSegment).
# Key: (recent, frequent, big spender).
RFM_SEGMENTS = {
    (True, True, True): RfmSegment.IMPORTANT_VALUE,
    (False, True, True): RfmSegment.IMPORTANT_KEEP,
    (True, False, True): RfmSegment.IMPORTANT_DEVELOP,
    (False, False, True): RfmSegment.IMPORTANT_WIN_BACK,
    (True, True, False): RfmSegment.GENERAL_VALUE,
    (False, True, False): RfmSegment.GENERAL_KEEP,
    (True, False, False): RfmSegment.GENERAL_DEVELOP,
    (False, False, False): RfmSegment.DORMANT,
}


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _dt(value: datetime.datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _d(value: datetime.date):
    return connection.ops.adapt_datefield_value(value)


STORE_SQL = """
INSERT INTO {stats} (tenant_id, store_id, day, revenue, transactions, refunds, items,
                     average_ticket, member_revenue, member_share, new_members,
                     points_earned, points_redeemed, computed_at)
SELECT st.tenant_id, st.id, %(day)s,
       COALESCE(s.revenue, 0), COALESCE(s.transactions, 0), COALESCE(s.refunds, 0),
       COALESCE(s.items, 0),
       CASE WHEN COALESCE(s.transactions, 0) > 0
            THEN ROUND(s.revenue * 1.0 / s.transactions, 2) ELSE 0 END,
       COALESCE(s.member_revenue, 0),
       CASE WHEN COALESCE(s.revenue, 0) > 0
            THEN ROUND(s.member_revenue * 1.0 / s.revenue, 4) ELSE 0 END,
       COALESCE(m.new_members, 0), COALESCE(s.points_earned, 0),
       COALESCE(s.points_redeemed, 0), %(now)s
FROM {store} st
LEFT JOIN (
    SELECT store_id,
           SUM(total) AS revenue,
           SUM(CASE WHEN refund_of_id IS NULL THEN 1 ELSE 0 END) AS transactions,
           SUM(CASE WHEN refund_of_id IS NULL THEN 0 ELSE 1 END) AS refunds,
           SUM(item_count) AS items,
           SUM(CASE WHEN member_id IS NULL THEN 0 ELSE total END) AS member_revenue,
           SUM(points_earned) AS points_earned,
           SUM(points_redeemed) AS points_redeemed
    FROM {sale}
    WHERE tenant_id = %(tenant)s AND occurred_at >= %(start)s AND occurred_at < %(end)s
    GROUP BY store_id
) s ON s.store_id = st.id
LEFT JOIN (
    SELECT home_store_id, COUNT(*) AS new_members
    FROM {customer}
    WHERE tenant_id = %(tenant)s AND created_at >= %(start)s AND created_at < %(end)s
    GROUP BY home_store_id
) m ON m.home_store_id = st.id
WHERE st.tenant_id = %(tenant)s
ON CONFLICT (tenant_id, store_id, day) DO UPDATE SET
    revenue = excluded.revenue, transactions = excluded.transactions,
    refunds = excluded.refunds, items = excluded.items,
    average_ticket = excluded.average_ticket, member_revenue = excluded.member_revenue,
    member_share = excluded.member_share, new_members = excluded.new_members,
    points_earned = excluded.points_earned, points_redeemed = excluded.points_redeemed,
    computed_at = excluded.computed_at
"""

PRODUCT_SQL = """
INSERT INTO {stats} (tenant_id, store_id, product_id, day, quantity, revenue, computed_at)
SELECT s.tenant_id, s.store_id, l.product_id, %(day)s, SUM(l.quantity), SUM(l.line_total),
       %(now)s
FROM {line} l JOIN {sale} s ON s.id = l.sale_id
WHERE s.tenant_id = %(tenant)s AND s.occurred_at >= %(start)s AND s.occurred_at < %(end)s
GROUP BY s.tenant_id, s.store_id, l.product_id
ON CONFLICT (tenant_id, store_id, day, product_id) DO UPDATE SET
    quantity = excluded.quantity, revenue = excluded.revenue,
    computed_at = excluded.computed_at
"""

STAFF_SQL = """
INSERT INTO {stats} (tenant_id, store_id, staff_id, day, revenue, transactions, computed_at)
SELECT s.tenant_id, s.store_id, s.staff_id, %(day)s, SUM(s.total),
       SUM(CASE WHEN s.refund_of_id IS NULL THEN 1 ELSE 0 END), %(now)s
FROM {sale} s
WHERE s.tenant_id = %(tenant)s AND s.occurred_at >= %(start)s AND s.occurred_at < %(end)s
      AND s.staff_id IS NOT NULL
GROUP BY s.tenant_id, s.store_id, s.staff_id
ON CONFLICT (tenant_id, store_id, day, staff_id) DO UPDATE SET
    revenue = excluded.revenue, transactions = excluded.transactions,
    computed_at = excluded.computed_at
"""

CHANNEL_SQL = """
INSERT INTO {stats} (tenant_id, store_id, day, channel, revenue, transactions, computed_at)
SELECT s.tenant_id, s.store_id, %(day)s, s.channel, SUM(s.total),
       SUM(CASE WHEN s.refund_of_id IS NULL THEN 1 ELSE 0 END), %(now)s
FROM {sale} s
WHERE s.tenant_id = %(tenant)s AND s.occurred_at >= %(start)s AND s.occurred_at < %(end)s
GROUP BY s.tenant_id, s.store_id, s.channel
ON CONFLICT (tenant_id, store_id, day, channel) DO UPDATE SET
    revenue = excluded.revenue, transactions = excluded.transactions,
    computed_at = excluded.computed_at
"""

# Rows of this day not rewritten by this run (their sales moved away, e.g. a member merge
# or a store correction) are stale.
STALE_SQL = """
DELETE FROM {stats} WHERE tenant_id = %(tenant)s AND day = %(day)s AND computed_at < %(now)s
"""


@transaction.atomic
def daily_stats_compute(*, day: datetime.date) -> None:
    """(Re)build every aggregate row of one local day of the current tenant."""
    tenant = current_tenant()
    start, end = day_bounds(day, tenant)
    now = timezone.now()
    params = {
        "tenant": tenant.pk,
        "day": _d(day),
        "start": _dt(start),
        "end": _dt(end),
        "now": _dt(now),
    }
    tables = {
        "sale": _t(Sale),
        "line": _t(SaleLine),
        "store": _t(Store),
        "customer": _t(Customer),
    }
    with connection.cursor() as cursor:
        cursor.execute(STORE_SQL.format(stats=_t(StoreDailyStats), **tables), params)
        for model, sql in (
            (ProductDailyStats, PRODUCT_SQL),
            (StaffDailyStats, STAFF_SQL),
            (ChannelDailyStats, CHANNEL_SQL),
        ):
            cursor.execute(sql.format(stats=_t(model), **tables), params)
            cursor.execute(STALE_SQL.format(stats=_t(model)), params)
    # A sale marked after `now` keeps its day dirty for the next run.
    DirtyDay.objects.filter(day=day, cleaned_at__isnull=True, marked_at__lte=now).update(
        cleaned_at=now
    )


def aggregates_refresh_dirty() -> list[datetime.date]:
    """Recompute every day that received late sales."""
    days = sorted(
        set(DirtyDay.objects.filter(cleaned_at__isnull=True).values_list("day", flat=True))
    )
    for day in days:
        daily_stats_compute(day=day)
    return days


def aggregates_run_nightly(*, now: datetime.datetime | None = None) -> dict:
    """The beat job: yesterday (once it has ended locally), late days, then members' RFM.

    Beat runs it every hour for every tenant; yesterday is built only if no run has built it
    since it ended, so each tenant gets it in the first hour after its own midnight (or the
    first hour the workers are back).
    """
    tenant = current_tenant()
    now = now or timezone.now()
    yesterday = local_day(now, tenant) - datetime.timedelta(days=1)
    _start, end = day_bounds(yesterday, tenant)
    done = StoreDailyStats.objects.filter(day=yesterday, computed_at__gte=end).exists()
    built = []
    if not done:
        daily_stats_compute(day=yesterday)
        built.append(yesterday)
    built += aggregates_refresh_dirty()
    if built:
        member_rfm_refresh(as_of=end)
    return {"days": [d.isoformat() for d in built]}


RFM_SQL = """
WITH per_member AS (
    SELECT member_id,
           MAX(CASE WHEN refund_of_id IS NULL THEN occurred_at END) AS last_at,
           SUM(CASE WHEN refund_of_id IS NULL THEN 1 ELSE 0 END) AS frequency,
           SUM(total) AS spent
    FROM {sale}
    WHERE tenant_id = %(tenant)s AND member_id IS NOT NULL AND occurred_at < %(as_of)s
    GROUP BY member_id
), ranked AS (
    SELECT member_id, last_at, frequency, spent,
           PERCENT_RANK() OVER (ORDER BY last_at) AS r,
           PERCENT_RANK() OVER (ORDER BY frequency) AS f,
           PERCENT_RANK() OVER (ORDER BY spent) AS m
    FROM per_member
    WHERE last_at IS NOT NULL
)
UPDATE {customer} SET
    last_purchase_at = ranked.last_at,
    purchase_count = ranked.frequency,
    total_spent = ranked.spent,
    rfm_segment = CASE {cases} END
FROM ranked
WHERE {customer}.id = ranked.member_id AND {customer}.tenant_id = %(tenant)s
"""

RFM_RESET_SQL = """
UPDATE {customer} SET last_purchase_at = NULL, purchase_count = 0, total_spent = 0,
                      rfm_segment = ''
WHERE tenant_id = %(tenant)s
  AND (purchase_count <> 0 OR rfm_segment <> '' OR last_purchase_at IS NOT NULL)
  AND NOT EXISTS (
      SELECT 1 FROM {sale} s
      WHERE s.tenant_id = %(tenant)s AND s.member_id = {customer}.id
        AND s.refund_of_id IS NULL AND s.occurred_at < %(as_of)s
  )
"""

# Quintiles by percent rank (ties share a rank, so equal customers share a score);
# the upper three quintiles count as "high".
HIGH = 0.4


@transaction.atomic
def member_rfm_refresh(*, as_of: datetime.datetime) -> None:
    """Write last purchase, purchase count, total spend and RFM segment onto every member."""
    tenant = current_tenant()
    cases = []
    params = {"tenant": tenant.pk, "as_of": _dt(as_of)}
    for index, ((recent, frequent, big), name) in enumerate(RFM_SEGMENTS.items()):
        condition = " AND ".join(
            f"{column} {'>=' if high else '<'} {HIGH}"
            for column, high in (("r", recent), ("f", frequent), ("m", big))
        )
        cases.append(f"WHEN {condition} THEN %(segment{index})s")
        params[f"segment{index}"] = str(name.value)
    tables = {"sale": _t(Sale), "customer": _t(Customer)}
    with connection.cursor() as cursor:
        cursor.execute(RFM_SQL.format(cases=" ".join(cases), **tables), params)
        cursor.execute(RFM_RESET_SQL.format(**tables), params)
