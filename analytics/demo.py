"""Demo products and a few months of sales, then the aggregation, so dashboards show data.

History is inserted in bulk (priced by the same rules as sale_record) because thousands of
single service calls would make `make run` slow; the last days go through sale_record,
the POS token through its service, and the aggregation through the nightly code.
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from django.utils import timezone

from analytics.aggregation import daily_stats_compute, member_rfm_refresh
from analytics.models import (
    Product,
    Sale,
    SaleChannel,
    SaleImport,
    SaleImportStatus,
    SaleLine,
    StoreApiToken,
)
from analytics.services import LineInput, api_token_create, local_day, sale_record
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


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
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
    if Sale.objects.exists():
        return

    rng = random.Random(f"{tenant.slug}-sales")
    members = list(Customer.objects.order_by("pk")[: 10 if quick else 200])
    sellers = {
        store.pk: [s for s in StaffMember.objects.filter(store_assignments__store=store)]
        for store in stores
    }
    today = local_day(timezone.now(), tenant)
    days = 3 if quick else 120
    per_day = (1, 2) if quick else (6, 20)
    catalogue = list(products.values())
    sales, lines = [], []
    for offset in range(days, 1, -1):
        day = today - datetime.timedelta(days=offset)
        for store in stores[: 2 if quick else None]:
            for _ in range(rng.randint(*per_day)):
                moment = datetime.datetime.combine(
                    day, datetime.time(rng.randint(9, 21), rng.randint(0, 59)), tenant.zone
                )
                priced = [_line(rng, *rng.choice(catalogue)) for _ in range(rng.randint(1, 4))]
                subtotal = sum(p["unit_price"] * p["quantity"] for p in priced)
                discount = sum(p["discount"] for p in priced)
                sale = Sale(
                    store=store,
                    member=rng.choice(members) if members and rng.random() < 0.55 else None,
                    staff=rng.choice(sellers[store.pk]) if sellers[store.pk] else None,
                    occurred_at=moment,
                    channel=SaleChannel.POS,
                    external_id=f"DEMO-{store.code}-{day:%Y%m%d}-{len(sales):06d}",
                    subtotal=subtotal,
                    discount_total=discount,
                    total=subtotal - discount,
                    item_count=sum(p["quantity"] for p in priced),
                )
                sales.append(sale)
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

    # Yesterday through the real service: marks the day late (dirty) like a real import.
    yesterday = today - datetime.timedelta(days=1)
    clerk_store = stores[0]
    clerk = (sellers[clerk_store.pk] or [None])[0]
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
            sales_created=len(sales),
            finished_at=timezone.now(),
        )
    for offset in range(days, 0, -1):
        daily_stats_compute(day=today - datetime.timedelta(days=offset))
    member_rfm_refresh(as_of=timezone.now())
    if stdout is not None:
        stdout.write(f"analytics: {len(sales) + 4} demo sales for {tenant.name}")
