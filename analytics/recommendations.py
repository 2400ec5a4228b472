"""Recommendations from sale lines: "bought together" and "next product for this member".

Item-to-item co-occurrence over a rolling window (WINDOW_DAYS): two products co-occur when
they are on the same sale (a basket). Counted per basket, not per unit or line, so a basket
with three lines of one product counts once. Refunds are not baskets, and a sale that was
refunded (in whole or in part) is left out: what came back says little about what goes
together. The nightly job rebuilds the tenant's ProductPair rows with one set-based
statement, keeping the TOP_N partners of every product (ties broken by product id).

"Next product for this member": the products that most often go with what the member bought
in the window (their pair counts summed over the member's products), leaving out what they
already bought. Read from ProductPair at request time: one bounded query.

Campaigns (below us) use both through campaigns/hooks.py: the {recommended_product}
placeholder and the "likely to buy" audience (members who bought a product whose top
partners include X, and did not buy X themselves, within the window).
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.utils import timezone

from analytics.models import Product, ProductPair, Sale, SaleLine
from analytics.services import day_bounds, local_day
from tenancy.context import current_tenant

WINDOW_DAYS = 180
TOP_N = 20

PAIRS_SQL = """
INSERT INTO {pair} (tenant_id, product_id, other_id, together, rank, computed_at)
WITH baskets AS (
    SELECT DISTINCT l.sale_id, l.product_id
    FROM {line} l JOIN {sale} s ON s.id = l.sale_id
    WHERE s.tenant_id = %(tenant)s AND l.tenant_id = %(tenant)s
      AND s.occurred_at >= %(start)s AND s.occurred_at < %(end)s
      AND s.refund_of_id IS NULL AND l.quantity > 0
      AND NOT EXISTS (
          SELECT 1 FROM {sale} r WHERE r.tenant_id = %(tenant)s AND r.refund_of_id = s.id
      )
), pairs AS (
    SELECT a.product_id, b.product_id AS other_id, COUNT(*) AS together
    FROM baskets a JOIN baskets b ON b.sale_id = a.sale_id AND b.product_id <> a.product_id
    GROUP BY a.product_id, b.product_id
), ranked AS (
    SELECT product_id, other_id, together,
           ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY together DESC, other_id) AS rnk
    FROM pairs
)
SELECT %(tenant)s, product_id, other_id, together, rnk, %(now)s
FROM ranked WHERE rnk <= %(top)s
"""


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def window_start(now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(days=WINDOW_DAYS)


@transaction.atomic
def product_pairs_rebuild(*, now: datetime.datetime | None = None, top: int = TOP_N) -> int:
    """Replace the current tenant's pairs with the window ending at `now`; returns the count.

    Delete and insert in one transaction: readers see the old pairs until the commit.
    """
    tenant = current_tenant()
    now = now or timezone.now()
    params = {
        "tenant": tenant.pk,
        "start": connection.ops.adapt_datetimefield_value(window_start(now)),
        "end": connection.ops.adapt_datetimefield_value(now),
        "now": connection.ops.adapt_datetimefield_value(now),
        "top": top,
    }
    ProductPair.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            PAIRS_SQL.format(pair=_t(ProductPair), line=_t(SaleLine), sale=_t(Sale)), params
        )
        return cursor.rowcount


def recommendations_run_nightly(*, now: datetime.datetime | None = None) -> dict:
    """The beat job (hourly): rebuild once per local day, in the first run after midnight."""
    tenant = current_tenant()
    now = now or timezone.now()
    today_start, _end = day_bounds(local_day(now, tenant), tenant)
    if ProductPair.objects.filter(computed_at__gte=today_start).exists():
        return {"pairs": None}
    return {"pairs": product_pairs_rebuild(now=now)}


# --- Reads -----------------------------------------------------------------------------------


def bought_together(product: Product, *, limit: int = 5) -> list[ProductPair]:
    return list(
        ProductPair.objects.filter(product=product).select_related("other").order_by("rank")[:limit]
    )


def _member_products(member_ids, now: datetime.datetime) -> QuerySet:
    return SaleLine.objects.filter(
        sale__member_id__in=member_ids,
        sale__refund_of__isnull=True,
        sale__occurred_at__gte=window_start(now),
        quantity__gt=0,
    )


def member_next_products(
    *, member, limit: int = 5, now: datetime.datetime | None = None
) -> list[dict]:
    """[{"product": Product, "score": int}]: what goes with the member's purchases and they
    have not bought yet, best first."""
    now = now or timezone.now()
    bought = _member_products([member.pk], now).values("product_id")
    rows = list(
        ProductPair.objects.filter(product_id__in=Subquery(bought))
        .exclude(other_id__in=Subquery(bought))
        .values("other_id")
        .annotate(score=Sum("together"))
        .order_by("-score", "other_id")[:limit]
    )
    products = Product.objects.in_bulk([row["other_id"] for row in rows])
    return [{"product": products[row["other_id"]], "score": row["score"]} for row in rows]


def members_next_product(member_ids: list[int], *, now: datetime.datetime | None = None) -> dict:
    """{member id: product name} of each member's best next product (campaign placeholder):
    two queries per batch of members, the scoring in Python."""
    now = now or timezone.now()
    bought: dict[int, set[int]] = defaultdict(set)
    for member_id, product_id in (
        _member_products(member_ids, now).values_list("sale__member_id", "product_id").distinct()
    ):
        bought[member_id].add(product_id)
    partners: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for product_id, other_id, together in ProductPair.objects.filter(
        product_id__in={p for products in bought.values() for p in products}
    ).values_list("product_id", "other_id", "together"):
        partners[product_id].append((other_id, together))
    best: dict[int, int] = {}
    for member_id, products in bought.items():
        scores: dict[int, int] = defaultdict(int)
        for product_id in products:
            for other_id, together in partners[product_id]:
                if other_id not in products:
                    scores[other_id] += together
        if scores:
            best[member_id] = min(scores, key=lambda pid: (-scores[pid], pid))
    names = dict(Product.objects.filter(pk__in=set(best.values())).values_list("pk", "name"))
    return {member_id: names[product_id] for member_id, product_id in best.items()}


def likely_buyers_filter(sku: str, *, now: datetime.datetime | None = None) -> Q:
    """A Q on Customer: members likely to buy the product `sku` (see the module docstring).
    An unknown SKU matches nobody."""
    now = now or timezone.now()
    product = Product.objects.filter(sku=sku.strip()).first()
    if product is None:
        return Q(pk__in=[])
    partners = ProductPair.objects.filter(other=product).values("product_id")
    lines = SaleLine.objects.filter(
        sale__member_id=OuterRef("pk"),
        sale__refund_of__isnull=True,
        sale__occurred_at__gte=window_start(now),
        quantity__gt=0,
    )
    return Q(Exists(lines.filter(product_id__in=Subquery(partners)))) & ~Q(
        Exists(lines.filter(product=product))
    )
