"""The demo catalogue: the products the demo sales sell (analytics.demo sells these SKUs),
two that never sold, and one store's own price. Idempotent."""

from __future__ import annotations

from decimal import Decimal

from catalog.barcodes import check_digit
from catalog.models import Product, StorePrice
from stores.models import Store
from tenancy.models import Tenant

# (SKU, name, category, list price); analytics.demo sells exactly these.
PRODUCTS = [
    ("TEA-001", "茉莉花茶 250g", "茶叶", "48.00"),
    ("TEA-002", "铁观音 礼盒", "茶叶", "268.00"),
    ("TEA-003", "普洱茶饼", "茶叶", "158.00"),
    ("DRK-001", "矿泉水 550ml", "饮料", "2.50"),
    ("DRK-002", "橙汁 1L", "饮料", "12.90"),
    ("DRK-003", "酸奶 6连杯", "饮料", "19.90"),
    ("SNK-001", "坚果礼包", "零食", "89.00"),
    ("SNK-002", "牛肉干", "零食", "35.00"),
    ("SNK-003", "薯片", "零食", "8.50"),
    ("HOM-001", "保温杯", "家居", "129.00"),
    ("HOM-002", "竹制餐具套装", "家居", "59.00"),
    ("HOM-003", "香薰蜡烛", "家居", "79.00"),
    ("CAR-001", "洗面奶", "个护", "65.00"),
    ("CAR-002", "护手霜", "个护", "29.90"),
    ("CAR-003", "面膜 10片", "个护", "99.00"),
]
# In the catalogue, never sold: the slow-movers report lists them first.
NEVER_SOLD = [
    ("HOM-004", "紫砂茶具", "家居", "399.00"),
    ("CAR-004", "防晒霜", "个护", "88.00"),
]
UNITS = {"茶叶": "盒", "饮料": "瓶", "零食": "袋", "家居": "件", "个护": "支"}


def demo_barcode(index: int) -> str:
    """A valid EAN-13 under the GS1 China prefix 690."""
    body = f"690123{index:06d}"
    return body + str(check_digit(body))


def seed(tenant: Tenant, *, stdout=None, quick: bool = False) -> None:
    rows = PRODUCTS[: 5 if quick else None] + NEVER_SOLD
    for index, (sku, name, category, price) in enumerate(rows, start=1):
        Product.objects.get_or_create(
            sku=sku,
            defaults={
                "barcode": demo_barcode(index),
                "name": name,
                "category": category,
                "unit": UNITS.get(category, ""),
                "list_price": Decimal(price),
            },
        )
    stores = list(Store.objects.order_by("code")[:2])
    if len(stores) > 1:
        # The second store sells tea cheaper: the counter there shows its own price.
        StorePrice.objects.get_or_create(
            product=Product.objects.get(sku="TEA-001"),
            store=stores[1],
            defaults={"price": Decimal("45.00")},
        )
