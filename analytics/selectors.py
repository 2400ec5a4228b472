"""Reads behind the dashboards and exports.

Past days come only from the daily aggregate tables (one row per store per day, or per
product/staff per store per day); only "today so far" reads raw sales, bounded to today.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.models import (
    ChannelDailyStats,
    Product,
    ProductDailyStats,
    ProductMonthlyStats,
    Sale,
    SaleChannel,
    StaffDailyStats,
    StoreDailyStats,
)
from analytics.services import day_bounds, local_day
from campaigns.models import Campaign, Delivery, DeliveryStatus
from catalog.models import Product as CatalogProduct
from tenancy.context import current_tenant

ZERO = Decimal("0")
PRESETS = {
    "30d": _("Last 30 days"),
    "day": _("Yesterday"),
    "week": _("Last 7 days"),
    "month": _("Month to date"),
    "ytd": _("Year to date"),
    "12m": _("Last 12 months"),
    "custom": _("Custom range"),
}
MAX_DAYS = 3 * 366
# The dashboards open on the last 30 complete days. The period ends yesterday, never today:
# today is shown beside it as live figures (read from raw sales), and a period that ended
# today would compare a part day with full days of the previous period and of last year.
DEFAULT_PRESET = "30d"
DEFAULT_DAYS = 30


def shift_year(day: datetime.date, years: int = -1) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # Feb 29 -> Feb 28 in a common year
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True)
class Period:
    start: datetime.date
    end: datetime.date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        end = self.start - datetime.timedelta(days=1)
        return Period(end - datetime.timedelta(days=self.days - 1), end)

    def last_year(self) -> Period:
        return Period(shift_year(self.start), shift_year(self.end))

    def dates(self) -> list[datetime.date]:
        return [self.start + datetime.timedelta(days=n) for n in range(self.days)]


def today_local() -> datetime.date:
    return local_day(timezone.now(), current_tenant())


def period_for(
    preset: str, start: datetime.date | None = None, end: datetime.date | None = None
) -> Period:
    """A preset or custom range of past days; today belongs to the live figures instead."""
    yesterday = today_local() - datetime.timedelta(days=1)
    if preset == "custom" and start and end:
        end = min(end, yesterday)
        start = min(start, end)
        start = max(start, end - datetime.timedelta(days=MAX_DAYS - 1))
        return Period(start, end)
    if preset == "30d":
        return Period(yesterday - datetime.timedelta(days=DEFAULT_DAYS - 1), yesterday)
    if preset == "week":
        return Period(yesterday - datetime.timedelta(days=6), yesterday)
    if preset == "month":
        return Period(yesterday.replace(day=1), yesterday)
    if preset == "ytd":
        return Period(yesterday.replace(month=1, day=1), yesterday)
    if preset == "12m":
        return Period(yesterday - datetime.timedelta(days=364), yesterday)
    return Period(yesterday, yesterday)


def _ratio(part, whole) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def _kpi(revenue, transactions, items, member_revenue, new_members) -> dict:
    revenue = revenue or ZERO
    transactions = transactions or 0
    return {
        "revenue": revenue,
        "transactions": transactions,
        "items": items or 0,
        "average_ticket": (revenue / transactions).quantize(Decimal("0.01"))
        if transactions
        else ZERO,
        "member_share": _ratio(member_revenue or 0, revenue),
        "new_members": new_members or 0,
    }


def _sums(prefix: str, q: Q) -> dict:
    return {
        f"{prefix}revenue": Sum("revenue", filter=q),
        f"{prefix}transactions": Sum("transactions", filter=q),
        f"{prefix}items": Sum("items", filter=q),
        f"{prefix}member_revenue": Sum("member_revenue", filter=q),
        f"{prefix}new_members": Sum("new_members", filter=q),
    }


def _unpack(row: dict, prefix: str) -> dict:
    return _kpi(
        row[f"{prefix}revenue"],
        row[f"{prefix}transactions"],
        row[f"{prefix}items"],
        row[f"{prefix}member_revenue"],
        row[f"{prefix}new_members"],
    )


def change(current, previous) -> Decimal | None:
    if previous in (None, 0) or current is None:
        return None
    return ((Decimal(current) - Decimal(previous)) / abs(Decimal(previous))).quantize(
        Decimal("0.0001")
    )


def compare_kpis(store_ids: list[int] | None, period: Period) -> dict:
    """KPIs of the period, the previous period and the same period last year: one query."""
    ranges = {"cur_": period, "prev_": period.previous(), "ly_": period.last_year()}
    rows = StoreDailyStats.objects.all()
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    span = Q()
    for p in ranges.values():
        span |= Q(day__range=(p.start, p.end))
    aggregates = {}
    for prefix, p in ranges.items():
        aggregates.update(_sums(prefix, Q(day__range=(p.start, p.end))))
    row = rows.filter(span).aggregate(**aggregates)
    result = {name.rstrip("_"): _unpack(row, name) for name in ranges}
    for key in ("revenue", "transactions", "average_ticket", "member_share"):
        result.setdefault("change_prev", {})[key] = change(result["cur"][key], result["prev"][key])
        result.setdefault("change_ly", {})[key] = change(result["cur"][key], result["ly"][key])
    return result


def standard_periods(store_ids: list[int] | None) -> list[dict]:
    """Yesterday, last 7 days, month to date and year to date, from one query."""
    presets = ["day", "week", "month", "ytd"]
    periods = {p: period_for(p) for p in presets}
    earliest = min(p.start for p in periods.values())
    rows = StoreDailyStats.objects.filter(day__gte=earliest, day__lte=periods["day"].end)
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    aggregates = {}
    for name, p in periods.items():
        aggregates.update(_sums(f"{name}_", Q(day__range=(p.start, p.end))))
    row = rows.aggregate(**aggregates)
    return [
        {"key": name, "label": PRESETS[name], "period": periods[name], **_unpack(row, f"{name}_")}
        for name in presets
    ]


def today_live(store_ids: list[int] | None) -> dict:
    """Today so far, straight from the sales of today only."""
    tenant = current_tenant()
    start, end = day_bounds(today_local(), tenant)
    sales = Sale.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if store_ids is not None:
        sales = sales.filter(store_id__in=store_ids)
    row = sales.aggregate(
        revenue=Sum("total"),
        transactions=Count("pk", filter=Q(refund_of__isnull=True)),
        items=Sum("item_count"),
        member_revenue=Sum("total", filter=Q(member__isnull=False)),
    )
    return _kpi(row["revenue"], row["transactions"], row["items"], row["member_revenue"], 0)


def daily_series(store_ids: list[int] | None, period: Period) -> list[tuple]:
    """(day, revenue) for every day of the period, zero where there is no row."""
    rows = StoreDailyStats.objects.filter(day__range=(period.start, period.end))
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    by_day = dict(rows.values("day").annotate(total=Sum("revenue")).values_list("day", "total"))
    return [(day, by_day.get(day) or ZERO) for day in period.dates()]


def channel_breakdown(store_ids: list[int] | None, period: Period) -> list[dict]:
    """Each sales channel's revenue, transactions, share of the period's revenue and change
    against the previous period, from the daily channel aggregates: one query.

    Every known channel is listed (a channel with no sales reads zero, not missing); a
    channel found in the data but no longer among the choices is listed under its code.
    """
    prev = period.previous()
    current = Q(day__range=(period.start, period.end))
    before = Q(day__range=(prev.start, prev.end))
    rows = ChannelDailyStats.objects.filter(current | before)
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    totals = {
        row["channel"]: row
        for row in rows.values("channel")
        .annotate(
            cur_revenue=Coalesce(Sum("revenue", filter=current), ZERO),
            cur_transactions=Coalesce(Sum("transactions", filter=current), 0),
            prev_revenue=Coalesce(Sum("revenue", filter=before), ZERO),
        )
        .order_by()
    }
    labels = dict(SaleChannel.choices)
    channels = list(labels) + sorted(set(totals) - set(labels))
    whole = sum((totals[c]["cur_revenue"] for c in totals), ZERO)
    result = []
    for channel in channels:
        row = totals.get(channel, {})
        revenue = row.get("cur_revenue", ZERO)
        prev_revenue = row.get("prev_revenue", ZERO)
        result.append(
            {
                "channel": channel,
                "label": labels.get(channel, channel),
                "revenue": revenue,
                "transactions": row.get("cur_transactions", 0),
                "share": _ratio(revenue, whole) if whole > 0 else None,
                "prev_revenue": prev_revenue,
                "change": change(revenue, prev_revenue),
                # No revenue before: a rate against zero means nothing, the page says "new".
                "is_new": prev_revenue == 0 and revenue > 0,
            }
        )
    result.sort(key=lambda r: (-r["revenue"], channels.index(r["channel"])))
    return result


def product_ranking(store_ids: list[int] | None, period: Period, *, slowest=False, limit=10):
    rows = ProductDailyStats.objects.filter(day__range=(period.start, period.end))
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    rows = rows.values("product_id", "product__sku", "product__name", "product__category").annotate(
        quantity=Sum("quantity"), revenue=Sum("revenue")
    )
    order = ["quantity", "revenue", "product__sku"] if slowest else ["-revenue", "-quantity"]
    return list(rows.order_by(*order)[:limit]) if limit else list(rows.order_by(*order))


def month_split(period: Period) -> tuple[list[tuple[datetime.date, datetime.date]], tuple]:
    """The period as (day ranges outside whole months, (first, last) whole month or None).

    A period of 2026-01-15..2026-04-10 is the days 01-15..01-31 and 04-01..04-10 plus the
    whole months February and March; one without a whole month is all days.
    """
    first_whole = period.start if period.start.day == 1 else _next_month(period.start)
    after_whole = (period.end + datetime.timedelta(days=1)).replace(day=1)
    if first_whole >= after_whole:
        return [(period.start, period.end)], None
    days = []
    if period.start < first_whole:
        days.append((period.start, first_whole - datetime.timedelta(days=1)))
    if after_whole <= period.end:
        days.append((after_whole, period.end))
    last_whole = (after_whole - datetime.timedelta(days=1)).replace(day=1)
    return days, (first_whole, last_whole)


def _next_month(day: datetime.date) -> datetime.date:
    return (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def product_totals(store_ids: list[int] | None, period: Period) -> list[dict]:
    """Quantity and revenue of every product sold in the period: {product_id, quantity,
    revenue}, as sums of the daily product rows, in one query.

    Whole months are read from the monthly rollup (ProductMonthlyStats, kept equal to the sum
    of their daily rows by the nightly job), only the days of partial months at the ends from
    the daily rows: a year is about 12 rows per product and store instead of 365. A product
    with daily rows in the period is listed even when they sum to zero (sold and refunded).
    """
    day_ranges, months = month_split(period)
    parts = []
    in_days = Q()
    for first, last in day_ranges:
        in_days |= Q(day__range=(first, last))
    if day_ranges:
        parts.append(ProductDailyStats.objects.filter(in_days))
    if months:
        parts.append(ProductMonthlyStats.objects.filter(month__range=months, days__gt=0))
    if store_ids is not None:
        parts = [rows.filter(store_id__in=store_ids) for rows in parts]
    parts = [
        rows.values("product_id").annotate(quantity=Sum("quantity"), revenue=Sum("revenue"))
        for rows in parts
    ]
    combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    totals: dict[int, dict] = {}
    for row in combined.order_by():
        total = totals.setdefault(
            row["product_id"], {"product_id": row["product_id"], "quantity": 0, "revenue": ZERO}
        )
        total["quantity"] += row["quantity"]
        total["revenue"] += row["revenue"]
    return list(totals.values())


def product_rankings(
    store_ids: list[int] | None, period: Period, *, limit: int = 10
) -> tuple[list[dict], list[dict]]:
    """(top sellers, slowest sellers) of the period, as product_ranking() shapes them.

    One read of the period's totals by product id (product_totals: monthly rollups for whole
    months) serves both lists; names are read afterwards for the few shown.
    """
    totals = product_totals(store_ids, period)
    top = sorted(totals, key=lambda r: (-r["revenue"], -r["quantity"], r["product_id"]))[:limit]
    ascending = sorted(totals, key=lambda r: (r["quantity"], r["revenue"]))
    # Ties at the tenth place are broken by SKU, so every tied row stays a candidate.
    if len(ascending) > limit:
        edge = (ascending[limit - 1]["quantity"], ascending[limit - 1]["revenue"])
        ascending = [r for r in ascending if (r["quantity"], r["revenue"]) <= edge]
    details = {
        row["pk"]: row
        for row in Product.objects.filter(
            pk__in={r["product_id"] for r in top} | {r["product_id"] for r in ascending}
        ).values("pk", "sku", "name", "category")
    }
    for row in (*top, *ascending):
        product = details[row["product_id"]]
        row["product__sku"] = product["sku"]
        row["product__name"] = product["name"]
        row["product__category"] = product["category"]
    slow = sorted(ascending, key=lambda r: (r["quantity"], r["revenue"], r["product__sku"]))
    sold = Product.objects.filter(pk__in=[r["product_id"] for r in totals])
    return top, (never_sold_products(sold, limit=limit) + slow)[:limit]


def never_sold_products(sold_products, *, limit: int) -> list[dict]:
    """Active catalogue products not among `sold_products` (the period's sold analytics
    products, by SKU), shaped like product_rankings() rows with zero quantity: the slowest
    movers of all."""
    sold_skus = sold_products.values("sku")
    return [
        {
            "product_id": None,
            "product__sku": product.sku,
            "product__name": product.name,
            "product__category": product.category,
            "quantity": 0,
            "revenue": ZERO,
        }
        for product in CatalogProduct.objects.active()
        .exclude(sku__in=sold_skus)
        .order_by("sku")[:limit]
    ]


def staff_leaderboard(store_ids: list[int] | None, period: Period, *, limit=10):
    rows = StaffDailyStats.objects.filter(day__range=(period.start, period.end))
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    rows = (
        rows.values("staff_id", "staff__display_name")
        .annotate(revenue=Sum("revenue"), transactions=Sum("transactions"))
        .order_by("-revenue", "staff__display_name")
    )
    result = list(rows[:limit]) if limit else list(rows)
    for row in result:
        row["average_ticket"] = (
            (row["revenue"] / row["transactions"]).quantize(Decimal("0.01"))
            if row["transactions"]
            else ZERO
        )
    return result


# group -> (key, code, name, extra fields)
GROUPINGS = {
    "store": (
        "store_id",
        "store__code",
        "store__name",
        ("store__region__name", "store__store_type__name"),
    ),
    "region": ("store__region_id", "store__region__code", "store__region__name", ()),
    "type": ("store__store_type_id", "store__store_type__code", "store__store_type__name", ()),
}


def store_ranking(period: Period, group: str = "store") -> list[dict]:
    """Every store (or region, or store type) ranked by revenue, with the previous period."""
    key, code, name, extra = GROUPINGS.get(group, GROUPINGS["store"])
    prev = period.previous()
    current = Q(day__range=(period.start, period.end))
    before = Q(day__range=(prev.start, prev.end))
    rows = (
        StoreDailyStats.objects.filter(current | before)
        .values(key, code, name, *extra)
        .annotate(
            **_sums("cur_", current),
            prev_revenue=Coalesce(Sum("revenue", filter=before), ZERO),
        )
        .order_by(F("cur_revenue").desc(nulls_last=True), code)
    )
    ranked = []
    for index, row in enumerate(rows, start=1):
        kpi = _unpack(row, "cur_")
        ranked.append(
            {
                "rank": index,
                "key": row[key],
                "code": row[code],
                "name": row[name],
                "region": row.get("store__region__name", ""),
                "store_type": row.get("store__store_type__name", ""),
                "store_id": row.get("store_id"),
                "prev_revenue": row["prev_revenue"],
                "change": change(kpi["revenue"], row["prev_revenue"]),
                **kpi,
            }
        )
    return ranked


def member_recent_purchases(*, member, staff, limit: int = 5) -> list:
    """A member's latest sales, for the member profile (store staff see their stores' only)."""
    from tenancy.access import scope_to_stores

    sales = scope_to_stores(
        Sale.objects.filter(member=member).select_related("store"), staff
    ).order_by("-occurred_at", "-id")
    return list(sales[:limit])


@dataclass(frozen=True)
class MemberTotals:
    visits: int
    spent: Decimal
    last_at: datetime.datetime | None


def member_purchase_totals(*, member) -> MemberTotals:
    """Visits and spend up to this moment, counted as the nightly RFM job counts them (a visit
    is a sale that is not a refund; spend nets refunds), so today's sales show before the job
    writes its figures onto the member row. One aggregate query on (tenant, member)."""
    row = Sale.objects.filter(member=member).aggregate(
        visits=Count("pk", filter=Q(refund_of__isnull=True)),
        spent=Coalesce(Sum("total"), Value(Decimal("0.00"))),
        last_at=Max("occurred_at", filter=Q(refund_of__isnull=True)),
    )
    return MemberTotals(row["visits"], row["spent"], row["last_at"])


# --- Campaign effect (registered with campaigns.effect in AnalyticsConfig.ready) -------------

EFFECT_GROUPS = ("targeted", "holdout")


def campaign_effect(*, campaign: Campaign) -> dict:
    """Sales of the campaign's targeted members against its holdout group, set-based.

    Groups come from the campaign's outbox rows: "holdout" is status holdout (never sent);
    "targeted" is every other row, sent or not (queued, sending, failed), because the
    campaign chose them; comparing only those it reached would flatter it.
    For each group:
    - members: distinct members with a row of the group;
    - revenue: what those members paid (Sale.total) for purchases made in
      [run.started_at, run.started_at + campaign.effect_days) of a run that put them in the
      group, net of every refund of those purchases (whenever the refund happened);
    - buyers: members whose purchases in such a window still hold at least one item after
      refunds (a member who returned everything bought nothing).
    A purchase falls in a window once per group even when windows of recurring runs
    overlap. Two queries whatever the campaign's size.
    """
    window = datetime.timedelta(days=campaign.effect_days)
    rows = Delivery.objects.filter(campaign=campaign, run__isnull=False)
    holdout = Q(status=DeliveryStatus.HOLDOUT)
    counts = rows.aggregate(
        targeted=Count("member", distinct=True, filter=~holdout),
        holdout=Count("member", distinct=True, filter=holdout),
        first=Min("run__started_at"),
        last=Max("run__started_at"),
    )
    result = {
        group: {"members": counts[group], "buyers": 0, "revenue": Decimal("0.00")}
        for group in EFFECT_GROUPS
    }
    if counts["first"] is None:
        return result

    def in_window(group: Q) -> Exists:
        # A row of the group for the buyer whose run's window holds the purchase time.
        return Exists(
            rows.filter(group, member=OuterRef("member_id"))
            .annotate(
                ends=ExpressionWrapper(F("run__started_at") + window, output_field=DateTimeField())
            )
            .filter(run__started_at__lte=OuterRef("bought_at"), ends__gt=OuterRef("bought_at"))
        )

    sales = (
        Sale.objects.filter(member__in=rows.values("member"))
        # A refund counts at the time of the purchase it refunds.
        .annotate(bought_at=Coalesce(F("refund_of__occurred_at"), F("occurred_at")))
        .filter(bought_at__gte=counts["first"], bought_at__lt=counts["last"] + window)
        .annotate(t=in_window(~holdout), h=in_window(holdout))
        .filter(Q(t=True) | Q(h=True))
    )
    per_member = sales.values("member_id").annotate(
        t_paid=Sum("total", filter=Q(t=True)),
        t_items=Sum("item_count", filter=Q(t=True)),
        h_paid=Sum("total", filter=Q(h=True)),
        h_items=Sum("item_count", filter=Q(h=True)),
    )
    totals = per_member.aggregate(
        t_revenue=Sum("t_paid"),
        t_buyers=Count("member_id", filter=Q(t_items__gt=0)),
        h_revenue=Sum("h_paid"),
        h_buyers=Count("member_id", filter=Q(h_items__gt=0)),
    )
    for group, prefix in (("targeted", "t"), ("holdout", "h")):
        result[group]["buyers"] = totals[f"{prefix}_buyers"] or 0
        revenue = totals[f"{prefix}_revenue"] or Decimal("0")
        result[group]["revenue"] = revenue.quantize(Decimal("0.01"))
    return result
