"""Demo products and a few months of sales, then the aggregation, so dashboards show data.

History is inserted in bulk (priced by the same rules as sale_record) because thousands of
single service calls would make `make run` slow; the last days go through sale_record,
the POS token through its service, and the aggregation through the nightly code. A few
sales of today go through sale_record too, so the live figures have something to show.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.db import connection
from django.db.models import Max
from django.utils import timezone

from analytics.aggregation import daily_stats_compute, member_rfm_refresh
from analytics.forecasting import product_forecasts_compute, store_forecast_compute
from analytics.models import (
    IncentiveKind,
    Product,
    Sale,
    SaleChannel,
    SaleImport,
    SaleImportStatus,
    SaleLine,
    StoreApiToken,
)
from analytics.performance import month_start
from analytics.recommendations import product_pairs_rebuild
from analytics.services import (
    LineInput,
    api_token_create,
    day_bounds,
    incentive_rule_create,
    incentive_statements_compute,
    local_day,
    sale_record,
    staff_target_set,
)
from catalog.demo import PRODUCTS as CATALOGUE
from customers.models import Customer
from stores.models import Store
from tenancy.models import Role, StaffMember, Tenant

# The catalogue's products (catalog.demo), so the demo sales' SKUs are scannable.
PRODUCTS = CATALOGUE


def _line(rng: random.Random, product: Product, price: Decimal) -> dict:
    quantity = rng.choice([1, 1, 1, 2, 3])
    gross = price * quantity
    discount = Decimal("5.00") if gross > 100 and rng.random() < 0.3 else Decimal("0.00")
    return {
        "product": product,
        "quantity": quantity,
        "unit_price": price,
        "discount": discount,
        "line_total": gross - discount,
    }


CHANNEL_WEIGHTS = ((SaleChannel.POS, 6), (SaleChannel.COUNTER, 3), (SaleChannel.IMPORT, 1))
TODAY_KEY = "DEMO-TODAY-"
TODAY_HOURS_AGO = (3, 2, 1)  # today's demo sales: this many hours before now (not before 00:00)


def _bulk_days(
    rng: random.Random,
    days: list[datetime.date],
    *,
    tenant: Tenant,
    stores: list[Store],
    members: list[Customer],
    sellers: dict,
    catalogue: list,
    per_day: tuple[int, int],
) -> int:
    """Insert the demo sales of whole past days in bulk; returns how many."""
    channels = [c for c, _w in CHANNEL_WEIGHTS]
    weights = [w for _c, w in CHANNEL_WEIGHTS]
    sales, lines = [], []
    for day in days:
        for store in stores:
            for _ in range(rng.randint(*per_day)):
                moment = datetime.datetime.combine(
                    day, datetime.time(rng.randint(9, 21), rng.randint(0, 59)), tenant.zone
                )
                priced = [_line(rng, *rng.choice(catalogue)) for _ in range(rng.randint(1, 4))]
                subtotal = sum(p["unit_price"] * p["quantity"] for p in priced)
                discount = sum(p["discount"] for p in priced)
                channel = rng.choices(channels, weights)[0]
                sales.append(
                    Sale(
                        store=store,
                        member=rng.choice(members) if members and rng.random() < 0.55 else None,
                        staff=rng.choice(sellers[store.pk]) if sellers[store.pk] else None,
                        occurred_at=moment,
                        channel=channel,
                        external_id=f"DEMO-{store.code}-{day:%Y%m%d}-{len(sales):06d}",
                        subtotal=subtotal,
                        discount_total=discount,
                        total=subtotal - discount,
                        item_count=sum(p["quantity"] for p in priced),
                    )
                )
                lines.append(priced)
    Sale.objects.bulk_create(sales, batch_size=1000)
    SaleLine.objects.bulk_create(
        [
            SaleLine(sale=sale, line_no=index, **line)
            for sale, priced in zip(sales, lines, strict=True)
            for index, line in enumerate(priced, start=1)
        ],
        batch_size=2000,
    )
    return len(sales)


def _today_sales(*, tenant: Tenant, stores: list, sellers: dict, members: list, products: dict):
    """A few counter sales earlier today in every store, so the live figures of whichever
    store a manager opens are not empty.

    Keyed by day and number, so running the seeder again the same day adds nothing.
    """
    now = timezone.now()
    today = local_day(now, tenant)
    midnight = datetime.datetime.combine(today, datetime.time(0), tenant.zone)
    catalogue = list(products.items())
    for store in stores:
        clerk = (sellers[store.pk] or [None])[0]
        for number, hours_ago in enumerate(TODAY_HOURS_AGO, start=1):
            sku, (product, price) = catalogue[(store.pk + number) % len(catalogue)]
            sale_record(
                store=store,
                occurred_at=max(now - datetime.timedelta(hours=hours_ago), midnight),
                lines=[LineInput(sku=sku, quantity=number, unit_price=price, name=product.name)],
                channel=SaleChannel.COUNTER,
                staff=clerk,
                member=members[number % len(members)] if members else None,
                external_id=f"{TODAY_KEY}{today:%Y%m%d}-{number}",
            )


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    """Products, a token, about four months of sales up to today, and their aggregates.

    Idempotent: a later run adds the whole days missing since the last demo day (and their
    aggregates) and today's few live sales, so a demo left for a week still opens on data.
    """
    products = {}
    for sku, name, category, price in PRODUCTS[: 5 if quick else None]:
        product, _ = Product.objects.get_or_create(
            sku=sku, defaults={"name": name, "category": category}
        )
        products[sku] = (product, Decimal(price))
    stores = list(Store.objects.order_by("code"))
    if not stores:
        return
    admin = StaffMember.objects.filter(role=Role.HQ_ADMIN).order_by("pk").first()
    if admin is not None and not StoreApiToken.objects.exists():
        api_token_create(store=stores[0], name="收银机 1 号", actor=admin)

    members = list(Customer.objects.order_by("pk")[: 10 if quick else 200])
    sellers = {
        store.pk: [s for s in StaffMember.objects.filter(store_assignments__store=store)]
        for store in stores
    }
    today = local_day(timezone.now(), tenant)
    yesterday = today - datetime.timedelta(days=1)
    clerk_store = stores[0]
    clerk = (sellers[clerk_store.pk] or [None])[0]
    bulk = {
        "tenant": tenant,
        "stores": stores[: 2 if quick else None],
        "members": members,
        "sellers": sellers,
        "catalogue": list(products.values()),
        "per_day": (1, 2) if quick else (6, 20),
    }
    if Sale.objects.exists():
        created = _top_up(today, bulk)
        _today_sales(products=products, **_today_args(bulk))
        if created:
            _insights(today, stores)
        if stdout is not None and created:
            stdout.write(f"analytics: {created} demo sales added for {tenant.name}")
        return

    days = 3 if quick else 120
    created = _bulk_days(
        random.Random(f"{tenant.slug}-sales"),
        [today - datetime.timedelta(days=offset) for offset in range(days, 0, -1)],
        **bulk,
    )

    # Yesterday also through the real service: marks the day late (dirty) like an import.
    recorded = []
    for hour in (10, 15, 19):
        sku, (product, price) = list(products.items())[hour % len(products)]
        sale, _ = sale_record(
            store=clerk_store,
            occurred_at=datetime.datetime.combine(yesterday, datetime.time(hour), tenant.zone),
            lines=[LineInput(sku=sku, quantity=2, unit_price=price, name=product.name)],
            channel=SaleChannel.COUNTER,
            staff=clerk,
            member=members[hour % len(members)] if members else None,
        )
        recorded.append(sale)
    # A basket of two products, one by the box: "bought together" pairs and a product with
    # enough units for the forecast's falling-products rule, even in the quick demo.
    (box_sku, (box, box_price)), (other_sku, (other, other_price)) = list(products.items())[:2]
    sale_record(
        store=clerk_store,
        occurred_at=datetime.datetime.combine(yesterday, datetime.time(17), tenant.zone),
        lines=[
            LineInput(sku=box_sku, quantity=12, unit_price=box_price, name=box.name),
            LineInput(sku=other_sku, quantity=1, unit_price=other_price, name=other.name),
        ],
        channel=SaleChannel.COUNTER,
        staff=clerk,
        member=members[0] if members else None,
    )
    sale_record(
        store=clerk_store,
        occurred_at=recorded[0].occurred_at + datetime.timedelta(hours=1),
        lines=[LineInput(sku=recorded[0].lines.first().product.sku, quantity=1)],
        channel=SaleChannel.COUNTER,
        staff=clerk,
        refund_of=recorded[0],
    )
    if admin is not None:
        SaleImport.objects.create(
            store=clerk_store,
            uploaded_by=admin,
            file_name="demo-pos-export.csv",
            status=SaleImportStatus.DONE,
            sales_created=created,
            finished_at=timezone.now(),
        )
    _today_sales(products=products, **_today_args(bulk))
    for offset in range(days, 0, -1):
        daily_stats_compute(day=today - datetime.timedelta(days=offset))
    member_rfm_refresh(as_of=timezone.now())
    # The incentive statements are written by PostgreSQL-only SQL (LATERAL, AT TIME ZONE):
    # the embedded SQLite demo of `make run` leaves the incentive scheme out.
    if admin is not None and connection.vendor == "postgresql":
        _incentives(admin=admin, stores=stores, sellers=sellers, today=today)
    _insights(today, stores)
    if stdout is not None:
        stdout.write(f"analytics: {created + 5} demo sales and today's for {tenant.name}")


def _insights(today: datetime.date, stores: list) -> None:
    """The nightly forecast and recommendation jobs' tables, from the demo's aggregates."""
    for store in stores:
        store_forecast_compute(store=store, made_on=today)
        product_forecasts_compute(store=store, made_on=today)
    product_pairs_rebuild()


def _incentives(*, admin: StaffMember, stores: list, sellers: dict, today: datetime.date) -> None:
    """A scheme, this month's targets and the statements of last month and this month so far,
    through the services (so the demo's statements are what the job would build)."""
    month = today.replace(day=1)
    start = month_start(month - datetime.timedelta(days=150))
    for kind, amount in (
        (IncentiveKind.SALES_PERCENT, Decimal("1.50")),
        (IncentiveKind.ENROLLED_BUYER, Decimal("10.00")),
        (IncentiveKind.LEAD_WON, Decimal("20.00")),
        (IncentiveKind.FIVE_STAR, Decimal("5.00")),
    ):
        incentive_rule_create(actor=admin, kind=kind, amount=amount, effective_from=start)
    for store in stores:
        staff_target_set(
            actor=admin,
            store=store,
            staff=None,
            month=month,
            net_sales=Decimal("60000"),
            members_enrolled=30,
        )
        for seller in sellers[store.pk]:
            staff_target_set(
                actor=admin,
                store=store,
                staff=seller,
                month=month,
                net_sales=Decimal("20000"),
                members_enrolled=10,
            )
    last_month = month_start(month - datetime.timedelta(days=1))
    for each in (last_month, month):
        incentive_statements_compute(month=each, actor=admin)


def _today_args(bulk: dict) -> dict:
    return {k: bulk[k] for k in ("tenant", "stores", "sellers", "members")}


def _top_up(today: datetime.date, bulk: dict) -> int:
    """Bulk sales for the whole days between the last day with sales and yesterday."""
    tenant = bulk["tenant"]
    start, _end = day_bounds(today, tenant)
    # A past day with only the few "today" sales of an earlier run counts as missing: it
    # gets its whole day of sales now, and its aggregates.
    last = (
        Sale.objects.filter(occurred_at__lt=start)
        .exclude(external_id__startswith=TODAY_KEY)
        .aggregate(last=Max("occurred_at"))["last"]
    )
    if last is None:
        return 0
    first_missing = local_day(last, tenant) + datetime.timedelta(days=1)
    missing = [
        first_missing + datetime.timedelta(days=n) for n in range((today - first_missing).days)
    ]
    if not missing:
        return 0
    created = _bulk_days(random.Random(f"{tenant.slug}-sales-{first_missing}"), missing, **bulk)
    for day in missing:
        daily_stats_compute(day=day)
    member_rfm_refresh(as_of=timezone.now())
    return created
