"""The nightly aggregation: daily store, product and staff rows, and members' RFM.

Set-based. On PostgreSQL one statement rebuilds a day (DAY_IN_ONE_STATEMENT_SQL): the day's
sales are read once into a CTE that feeds every table, each table is written by a
data-modifying CTE, rows whose values did not change are left alone, and rows a re-run no
longer produces are found by comparing the day's old rows with the new ones. It also adds
the day's change to the monthly product rollup (ProductMonthlyStats), which the store
dashboard reads for whole months.
Elsewhere (SQLite, for trying the project out) each table is one
INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE (3.24+ has the upsert), stale rows are
deleted by their computed_at, and the day's month of the rollup is recomputed from the daily
rows; tests/analytics/test_aggregation_one_pass.py proves both give the same rows.
"Which day" is the tenant's local day: its UTC bounds are computed in Python and passed as
parameters, so no database time-zone function is involved. Re-running a day rewrites the
same values; rows that no longer have sales are deleted.
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from analytics.models import (
    ChannelDailyStats,
    DirtyDay,
    ProductDailyStats,
    ProductMonthlyStats,
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


# PostgreSQL: the whole day in one statement. `day_sales` is read once (MATERIALIZED: every
# table's CTE would otherwise re-scan the sales) and feeds every table. Each table's `_new`
# CTE is the day's answer; `_old` the rows the table holds for the day (all sub-statements see
# the snapshot from before the statement, so `_old` is the state being replaced).
# - Upserts skip rows whose values are unchanged (the WHERE of DO UPDATE): a re-run of a
#   built day writes only the store rows, whose computed_at says when the day was last built
#   (aggregates_run_nightly and the forecasts read it).
# - Stale rows (their sales moved away: a member merge, a store correction) are the `_old`
#   keys missing from `_new`, deleted by key: nothing to scan when there are none. Upserts and
#   deletes touch disjoint keys, as a statement's sub-statements must.
# - The monthly rollup receives new minus old for every (store, product) whose day changed,
#   and `days` counts the daily rows it sums (+1 for a new row, -1 for a deleted one).
DAY_IN_ONE_STATEMENT_SQL = """
WITH day_sales AS MATERIALIZED (
    SELECT id, store_id, staff_id, channel, member_id, total, item_count, refund_of_id,
           points_earned, points_redeemed
    FROM {sale}
    WHERE tenant_id = %(tenant)s AND occurred_at >= %(start)s AND occurred_at < %(end)s
), store_new AS (
    SELECT store_id,
           SUM(total) AS revenue,
           SUM(CASE WHEN refund_of_id IS NULL THEN 1 ELSE 0 END) AS transactions,
           SUM(CASE WHEN refund_of_id IS NULL THEN 0 ELSE 1 END) AS refunds,
           SUM(item_count) AS items,
           SUM(CASE WHEN member_id IS NULL THEN 0 ELSE total END) AS member_revenue,
           SUM(points_earned) AS points_earned,
           SUM(points_redeemed) AS points_redeemed
    FROM day_sales
    GROUP BY store_id
), members_new AS (
    SELECT home_store_id, COUNT(*) AS new_members
    FROM {customer}
    WHERE tenant_id = %(tenant)s AND created_at >= %(start)s AND created_at < %(end)s
    GROUP BY home_store_id
), store_rows AS (
    INSERT INTO {store_stats} (tenant_id, store_id, day, revenue, transactions, refunds, items,
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
    LEFT JOIN store_new s ON s.store_id = st.id
    LEFT JOIN members_new m ON m.home_store_id = st.id
    WHERE st.tenant_id = %(tenant)s
    ON CONFLICT (tenant_id, store_id, day) DO UPDATE SET
        revenue = excluded.revenue, transactions = excluded.transactions,
        refunds = excluded.refunds, items = excluded.items,
        average_ticket = excluded.average_ticket, member_revenue = excluded.member_revenue,
        member_share = excluded.member_share, new_members = excluded.new_members,
        points_earned = excluded.points_earned, points_redeemed = excluded.points_redeemed,
        computed_at = excluded.computed_at
    RETURNING 1
), product_new AS MATERIALIZED (
    SELECT d.store_id, l.product_id, SUM(l.quantity) AS quantity, SUM(l.line_total) AS revenue
    FROM day_sales d JOIN {line} l ON l.sale_id = d.id
    WHERE l.tenant_id = %(tenant)s
    GROUP BY d.store_id, l.product_id
), product_old AS MATERIALIZED (
    SELECT store_id, product_id, quantity, revenue
    FROM {product_stats}
    WHERE tenant_id = %(tenant)s AND day = %(day)s
), product_change AS MATERIALIZED (
    SELECT COALESCE(n.store_id, o.store_id) AS store_id,
           COALESCE(n.product_id, o.product_id) AS product_id,
           n.store_id IS NOT NULL AS present,
           COALESCE(n.quantity, 0) AS quantity, COALESCE(n.revenue, 0) AS revenue,
           COALESCE(n.quantity, 0) - COALESCE(o.quantity, 0) AS quantity_change,
           COALESCE(n.revenue, 0) - COALESCE(o.revenue, 0) AS revenue_change,
           CASE WHEN o.store_id IS NULL THEN 1 WHEN n.store_id IS NULL THEN -1 ELSE 0 END
               AS days_change
    FROM product_new n
    FULL JOIN product_old o ON o.store_id = n.store_id AND o.product_id = n.product_id
    WHERE o.store_id IS NULL OR n.store_id IS NULL
       OR n.quantity <> o.quantity OR n.revenue <> o.revenue
), product_rows AS (
    INSERT INTO {product_stats} AS t (tenant_id, store_id, product_id, day, quantity, revenue,
                                      computed_at)
    SELECT %(tenant)s, store_id, product_id, %(day)s, quantity, revenue, %(now)s
    FROM product_change WHERE present
    ON CONFLICT (tenant_id, store_id, day, product_id) DO UPDATE SET
        quantity = excluded.quantity, revenue = excluded.revenue,
        computed_at = excluded.computed_at
    RETURNING 1
), product_stale AS (
    DELETE FROM {product_stats} t USING product_change c
    WHERE NOT c.present AND t.tenant_id = %(tenant)s AND t.day = %(day)s
      AND t.store_id = c.store_id AND t.product_id = c.product_id
    RETURNING 1
), month_rows AS (
    INSERT INTO {product_month} AS t (tenant_id, store_id, product_id, month, quantity, revenue,
                                      days)
    SELECT %(tenant)s, store_id, product_id, %(month)s, quantity_change, revenue_change,
           days_change
    FROM product_change
    ON CONFLICT (tenant_id, store_id, month, product_id) DO UPDATE SET
        quantity = t.quantity + excluded.quantity, revenue = t.revenue + excluded.revenue,
        days = t.days + excluded.days
    RETURNING 1
), staff_new AS (
    SELECT store_id, staff_id, SUM(total) AS revenue,
           SUM(CASE WHEN refund_of_id IS NULL THEN 1 ELSE 0 END) AS transactions
    FROM day_sales
    WHERE staff_id IS NOT NULL
    GROUP BY store_id, staff_id
), staff_rows AS (
    INSERT INTO {staff_stats} AS t (tenant_id, store_id, staff_id, day, revenue, transactions,
                                    computed_at)
    SELECT %(tenant)s, store_id, staff_id, %(day)s, revenue, transactions, %(now)s
    FROM staff_new
    ON CONFLICT (tenant_id, store_id, day, staff_id) DO UPDATE SET
        revenue = excluded.revenue, transactions = excluded.transactions,
        computed_at = excluded.computed_at
    WHERE (t.revenue, t.transactions) IS DISTINCT FROM (excluded.revenue, excluded.transactions)
    RETURNING 1
), staff_stale AS (
    DELETE FROM {staff_stats} t
    WHERE t.tenant_id = %(tenant)s AND t.day = %(day)s
      AND NOT EXISTS (SELECT 1 FROM staff_new n
                      WHERE n.store_id = t.store_id AND n.staff_id = t.staff_id)
    RETURNING 1
), channel_new AS (
    SELECT store_id, channel, SUM(total) AS revenue,
           SUM(CASE WHEN refund_of_id IS NULL THEN 1 ELSE 0 END) AS transactions
    FROM day_sales
    GROUP BY store_id, channel
), channel_rows AS (
    INSERT INTO {channel_stats} AS t (tenant_id, store_id, day, channel, revenue, transactions,
                                      computed_at)
    SELECT %(tenant)s, store_id, %(day)s, channel, revenue, transactions, %(now)s
    FROM channel_new
    ON CONFLICT (tenant_id, store_id, day, channel) DO UPDATE SET
        revenue = excluded.revenue, transactions = excluded.transactions,
        computed_at = excluded.computed_at
    WHERE (t.revenue, t.transactions) IS DISTINCT FROM (excluded.revenue, excluded.transactions)
    RETURNING 1
), channel_stale AS (
    DELETE FROM {channel_stats} t
    WHERE t.tenant_id = %(tenant)s AND t.day = %(day)s
      AND NOT EXISTS (SELECT 1 FROM channel_new n
                      WHERE n.store_id = t.store_id AND n.channel = t.channel)
    RETURNING 1
)
SELECT (SELECT count(*) FROM store_rows), (SELECT count(*) FROM product_rows),
       (SELECT count(*) FROM product_stale), (SELECT count(*) FROM month_rows),
       (SELECT count(*) FROM staff_rows), (SELECT count(*) FROM staff_stale),
       (SELECT count(*) FROM channel_rows), (SELECT count(*) FROM channel_stale)
"""

DAY_STATEMENT_COUNTS = (
    "store_rows",
    "product_rows",
    "product_stale",
    "month_rows",
    "staff_rows",
    "staff_stale",
    "channel_rows",
    "channel_stale",
)


def _month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def _next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def _lock_tenant_aggregates(cursor, tenant_id: int) -> None:
    """One aggregation (or rollup rebuild) of a tenant at a time, until commit.

    The monthly rollup is kept by adding each rebuilt day's change: two runs of one day at
    once (the hourly beat and a re-aggregation after an import) would both add the same
    change. Other tenants, and every reader, go on unhindered.
    """
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('analytics.aggregates', %s))",
            [tenant_id],
        )


def day_params(day: datetime.date, now: datetime.datetime) -> dict:
    """The parameters of one day's statements, for the current tenant."""
    tenant = current_tenant()
    start, end = day_bounds(day, tenant)
    return {
        "tenant": tenant.pk,
        "day": _d(day),
        "month": _d(_month_start(day)),
        "start": _dt(start),
        "end": _dt(end),
        "now": _dt(now),
    }


TABLES = {
    "sale": Sale,
    "line": SaleLine,
    "store": Store,
    "customer": Customer,
    "store_stats": StoreDailyStats,
    "product_stats": ProductDailyStats,
    "product_month": ProductMonthlyStats,
    "staff_stats": StaffDailyStats,
    "channel_stats": ChannelDailyStats,
}


def _tables() -> dict:
    return {name: _t(model) for name, model in TABLES.items()}


def day_compute_one_pass(params: dict) -> dict:
    """PostgreSQL: rebuild a day in one statement; returns the rows each part wrote."""
    with connection.cursor() as cursor:
        cursor.execute(DAY_IN_ONE_STATEMENT_SQL.format(**_tables()), params)
        return dict(zip(DAY_STATEMENT_COUNTS, cursor.fetchone(), strict=True))


def day_compute_per_table(params: dict, day: datetime.date) -> None:
    """Any database: one upsert per table, stale rows by computed_at, the month recomputed."""
    tables = _tables()
    with connection.cursor() as cursor:
        cursor.execute(STORE_SQL.format(stats=tables["store_stats"], **tables), params)
        for model, sql in (
            (ProductDailyStats, PRODUCT_SQL),
            (StaffDailyStats, STAFF_SQL),
            (ChannelDailyStats, CHANNEL_SQL),
        ):
            cursor.execute(sql.format(stats=_t(model), **tables), params)
            cursor.execute(STALE_SQL.format(stats=_t(model)), params)
    _rollup_months(params["tenant"], _month_start(day), _month_start(day))


@transaction.atomic
def daily_stats_compute(*, day: datetime.date) -> None:
    """(Re)build every aggregate row of one local day of the current tenant."""
    now = timezone.now()
    params = day_params(day, now)
    with connection.cursor() as cursor:
        _lock_tenant_aggregates(cursor, params["tenant"])
    if connection.vendor == "postgresql":
        day_compute_one_pass(params)
    else:
        day_compute_per_table(params, day)
    # A sale marked after `now` keeps its day dirty for the next run.
    DirtyDay.objects.filter(day=day, cleaned_at__isnull=True, marked_at__lte=now).update(
        cleaned_at=now
    )


ROLLUP_DELETE_SQL = """
DELETE FROM {product_month}
WHERE tenant_id = %(tenant)s AND month >= %(first)s AND month < %(after)s
"""

ROLLUP_INSERT_SQL = """
INSERT INTO {product_month} (tenant_id, store_id, product_id, month, quantity, revenue, days)
SELECT tenant_id, store_id, product_id, {month_of_day}, SUM(quantity), SUM(revenue), COUNT(*)
FROM {product_stats}
WHERE tenant_id = %(tenant)s AND day >= %(first)s AND day < %(after)s
GROUP BY tenant_id, store_id, product_id, {month_of_day}
"""


def _rollup_months(tenant_id: int, first: datetime.date, last: datetime.date) -> int:
    """Recompute the monthly product rollup of months first..last from the daily rows."""
    month_of_day = (
        "CAST(date_trunc('month', day) AS date)"
        if connection.vendor == "postgresql"
        else "date(day, 'start of month')"
    )
    params = {"tenant": tenant_id, "first": _d(first), "after": _d(_next_month(last))}
    tables = _tables()
    with connection.cursor() as cursor:
        cursor.execute(ROLLUP_DELETE_SQL.format(**tables), params)
        cursor.execute(ROLLUP_INSERT_SQL.format(month_of_day=month_of_day, **tables), params)
        return cursor.rowcount


@transaction.atomic
def product_rollups_rebuild(
    *, first: datetime.date | None = None, last: datetime.date | None = None
) -> int:
    """Recompute the current tenant's monthly product rollup from its daily rows.

    The nightly job keeps the rollup by adding each day's change; this rebuilds it outright
    (the migration that added it, `manage.py analytics_rollups_rebuild`, or after rows were
    changed by hand). Months first..last, default all. Returns the rows written.
    """
    tenant = current_tenant()
    with connection.cursor() as cursor:
        _lock_tenant_aggregates(cursor, tenant.pk)
    if first is None or last is None:
        days = ProductDailyStats.objects.aggregate(first=Min("day"), last=Max("day"))
        if days["first"] is None:
            ProductMonthlyStats.objects.all().delete()
            return 0
        first = first or days["first"]
        last = last or days["last"]
    return _rollup_months(tenant.pk, _month_start(first), _month_start(last))


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
